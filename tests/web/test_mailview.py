"""The quarantine page's view of a held message: a name or subject whose encoded word
names a charset that is not ASCII is shown as written, never an error page."""

from __future__ import annotations

import base64
import io
import zipfile

from web import mailview

_BROKEN = "=?\x80tf-8?q?setup.exe?="


def test_a_subject_with_a_non_ascii_charset_name_is_shown_as_written() -> None:
    raw = (f"From: a@b.vn\r\nSubject: {_BROKEN}\r\n\r\nx\r\n").encode("latin-1")
    fields = dict(mailview.headers(raw))
    # the octet 0x80 is not UTF-8: it shows as the replacement character
    assert fields["Subject"] == _BROKEN.replace("\x80", "\ufffd")


def test_a_file_name_with_a_non_ascii_charset_name_is_shown_as_written() -> None:
    raw = ("From: a@b.vn\r\nContent-Type: application/octet-stream\r\n"
           f'Content-Disposition: attachment; filename="{_BROKEN}"\r\n\r\nx\r\n'
           ).encode("latin-1")
    [part] = mailview.parts(raw)
    assert part.filename is not None
    assert part.filename.startswith("=?") and part.filename.endswith("tf-8?q?setup.exe?=")


def test_the_page_lists_the_parts_the_policy_walk_judged() -> None:
    # a boundary with a comment: Python's compat32 finds no parts, the walk (which
    # judged the message) reads the most dangerous reading and lists the program
    raw = (b"From: a@b.vn\r\nContent-Type: multipart/mixed; boundary=aaa(bbb)\r\n\r\n"
           b"--aaa\r\nContent-Type: text/plain\r\n\r\nxin chao\r\n"
           b"--aaa\r\nContent-Type: application/octet-stream; name=setup.exe\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AAA==\r\n--aaa--\r\n")
    listed = mailview.parts(raw)
    assert ("setup.exe", "application/octet-stream") in {
        (p.filename, p.content_type) for p in listed}
    assert any(p.preview == "xin chao" for p in listed)


def test_members_of_an_archive_are_listed_under_their_part() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bao-cao.pdf", b"%PDF-1.4\n%%EOF\n")
    raw = (b"From: a@b.vn\r\nContent-Type: application/zip; name=a.zip\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(buffer.getvalue()).replace(b"\n", b"\r\n"))
    assert [(p.path, p.filename) for p in mailview.parts(raw)] == [
        ("1", "a.zip"), ("1/bao-cao.pdf", "bao-cao.pdf")]
