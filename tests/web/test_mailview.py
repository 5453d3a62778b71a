"""The quarantine page's view of a held message: a name or subject whose encoded word
names a charset that is not ASCII is shown as written, never an error page."""

from __future__ import annotations

from web import mailview

_BROKEN = "=?\x80tf-8?q?setup.exe?="


def test_a_subject_with_a_non_ascii_charset_name_is_shown_as_written() -> None:
    raw = (f"From: a@b.vn\r\nSubject: {_BROKEN}\r\n\r\nx\r\n").encode("latin-1")
    fields = dict(mailview.headers(raw))
    # the octet 0x80 itself shows as the replacement character
    assert fields["Subject"] == _BROKEN.replace("\x80", "\ufffd")


def test_a_file_name_with_a_non_ascii_charset_name_is_shown_as_written() -> None:
    raw = ("From: a@b.vn\r\nContent-Type: application/octet-stream\r\n"
           f'Content-Disposition: attachment; filename="{_BROKEN}"\r\n\r\nx\r\n'
           ).encode("latin-1")
    [part] = mailview.parts(raw)
    assert part.filename == _BROKEN.replace("\x80", "\ufffd")
