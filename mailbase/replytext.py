"""The text of every SMTP reply congvu writes: Vietnamese without diacritics, then English.

A reply line is ASCII unless the client asked for SMTPUTF8 (RFC 5321 4.2, RFC 6531), and
the sending administrator may read either language, so each text says both, the
Vietnamese first: ``Thu bi tu choi theo chinh sach / Message refused by policy``. What
the reply quotes (a file name, a queue id, the next hop's answer) comes once, after
both, in parentheses, made ASCII. milter/replies.py and the policies' refusal build
their texts here and nowhere else.
"""

from __future__ import annotations

#: between the Vietnamese and the English of one reply text
REPLY_SEPARATOR = " / "


def ascii_line(text: str) -> str:
    """``text`` as one line of printable ASCII: an ASCII control character (a CR LF would
    end the reply and forge the next) becomes a space, any character outside ASCII (a
    letter with diacritics, a bidi control) '?'."""
    return "".join(c if " " <= c <= "~" else "?" if c > "\x7f" else " " for c in text)


def reply_text(vi: str, en: str, detail: str = "") -> str:
    """One reply's text in both languages, then ``detail`` (data, not words) once.

    :raises ValueError: ``vi`` or ``en`` is empty or not printable ASCII (a programming
        error: the texts are written in the code or validated in the configuration).
    """
    for language, text in (("Vietnamese", vi), ("English", en)):
        if not text or ascii_line(text) != text:
            raise ValueError(f"a reply's {language} text must be printable ASCII: {text!r}")
    said = f"{vi}{REPLY_SEPARATOR}{en}"
    return f"{said} ({ascii_line(detail)})" if detail else said
