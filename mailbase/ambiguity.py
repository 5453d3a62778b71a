"""Other readings of a From header, to detect ambiguity; they never name the sender.

The one reader (:mod:`mailbase.sender`) decides who a message is from. A mail client,
a lenient parser or a person reading the screen may see another address in the same
bytes: one hidden in a comment, split by folding whitespace, spelled with fullwidth
letters or an ideographic full stop that IDNA maps to ASCII, inside an RFC 2047
encoded word, or in a display name. The readings here find every address that any of
those ways of reading names, so the one reader can say "ambiguous: why" when they
disagree with it. Nothing here feeds identity, signing or the record.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from email.errors import HeaderParseError
from email.header import decode_header

import idna

from mailbase.addresses import AddressError, stdlib_addresses

# Characters that end a candidate local part or domain in free text: what separates
# words and addresses in a header, in ASCII and after NFKC.
_STOP = r"\s<>()\[\],;:\"@"
_STOP_CHARS = frozenset('<>()[],;:"@')
_RIGHT = re.compile(rf"[^{_STOP}]+")
# The standard library's parser is quadratic on long values; past this many characters
# only the linear readings run (the one reader calls such a From ambiguous anyway).
MAX_LENIENT = 2048
# Dots as a person or IDNA (UTS #46) reads them, and the at signs NFKC folds.
_DOTS = ".\u3002\uff0e\uff61"
_AROUND = re.compile(rf"\s*([@{_DOTS}])\s*")
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_FROM_LIKE = re.compile(rb"^[ \t]*from[ \t]*:", re.IGNORECASE)


def ascii_forms(domain: str) -> set[str]:
    """Every ASCII domain that IDNA (UTS #46, and the IDNA 2003 codec that Python and
    older clients use) or plain lower-casing turns ``domain`` into; empty if none."""
    domain = domain.strip().rstrip("".join(_DOTS))
    forms: set[str] = set()
    if not domain:
        return forms
    if domain.isascii():
        forms.add(domain.lower())
    for mapped in (_uts46(domain), _idna2003(domain)):
        if mapped:
            forms.add(mapped)
    return forms


def _uts46(domain: str) -> str | None:
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def _idna2003(domain: str) -> str | None:
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def _decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded wherever they stand (inside quotes too: some
    clients decode them there)."""

    def decode(match: re.Match[str]) -> str:
        try:
            [(data, charset)] = decode_header(match.group(0))
        except (ValueError, LookupError, HeaderParseError):
            return match.group(0)
        if isinstance(data, str):
            return data
        raw = bytes(data)
        try:
            return raw.decode(charset or "ascii", "replace")
        except LookupError:
            return raw.decode("utf-8", "replace")

    return _ENCODED_WORD.sub(decode, text)


def _visible(text: str) -> str:
    """NFKC, without the format characters (zero-width, bidi controls) nobody sees."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


def _uncommented(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, _COMMENT.sub(" ", text)
    return text


def _compacted(text: str) -> str:
    return _AROUND.sub(r"\1", text)


def _texts(value: str) -> list[str]:
    decoded = _decode_words(value)
    visible = _visible(decoded)
    return list(dict.fromkeys([
        value, _compacted(_uncommented(value)), decoded, visible,
        _compacted(_uncommented(visible)),
    ]))


def _lenient(value: str) -> list[tuple[str, str]]:
    """What the standard library's lenient header parser finds."""
    try:
        addresses, _ = stdlib_addresses("From", value)
    except AddressError:
        return []
    return [(a.username, a.domain) for a in addresses if a.domain]


def _around_at(text: str) -> list[tuple[str, str]]:
    """Each ``@`` with the words touching it, in linear time (a regex scanning for
    ``x*@`` from every position would be quadratic on a long value without one)."""
    found = []
    start = 0
    while (at := text.find("@", start)) >= 0:
        right = _RIGHT.match(text, at + 1)
        if right is not None:
            begin = at
            while begin > 0 and at - begin < 256 and not _stops(text[begin - 1]):
                begin -= 1
            found.append((text[begin:at], right.group(0)))
        start = at + 1
    return found


def _stops(ch: str) -> bool:
    return ch in _STOP_CHARS or ch.isspace()


@functools.lru_cache(maxsize=4096)
def addresses_read(value: str) -> frozenset[tuple[str, str]]:
    """Every (local part, ASCII domain) that some reading of one From value names.

    Local parts are case-folded and NFKC-normalised, so two spellings of one address
    compare equal; domains are in every ASCII form IDNA gives them.
    """
    found: set[tuple[str, str]] = set()
    candidates = [pair for text in _texts(value) for pair in _around_at(text)]
    if len(value) <= MAX_LENIENT:
        candidates += _lenient(value)
    for local, domain in set(candidates):
        local = _visible(local).casefold()
        found.update((local, form) for form in ascii_forms(domain))
    return frozenset(found)


def from_like_values(raw_block: bytes) -> list[str]:
    """The values of every line that a lenient reader could take for a From field
    (whitespace before the name or the colon, any case), with its continuation lines:
    what a broken header block may show a mail client."""
    values: list[str] = []
    current: list[bytes] | None = None
    for line in raw_block.replace(b"\r\n", b"\n").split(b"\n"):
        if current is not None and line[:1] in (b" ", b"\t"):
            current.append(line)
            continue
        if current is not None:
            values.append(b" ".join(current).decode("utf-8", "replace"))
            current = None
        match = _FROM_LIKE.match(line)
        if match is not None:
            current = [line[match.end():]]
    if current is not None:
        values.append(b" ".join(current).decode("utf-8", "replace"))
    return values
