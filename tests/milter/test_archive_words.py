"""The archive's index words from the pipeline's one reading are the rebuild's words.

The archive stage takes a message's words from the header read at the door and the
parts the pipeline walked, when the bytes it stores are those bytes under lines the
stages prepended, or those bytes signed whole by smime-sign; `congvu archive index
rebuild` reads the stored bytes with `words_of(searchable_text, ...)`. Real messages
go through the real stages (the runtime `congvu serve` builds, with a DKIM key and an
S/MIME identity for the sending unit), and the words the filter indexed must be the
words read from the stored bytes, whichever way the stage took them; each case also
says which way that is, so a reading reused where it must not be (or never reused)
is seen.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive.index import words_of
from congvu.config import load_config
from milter.context import Envelope, MessageContext
from milter.direction import direction_of
from milter.runtime import Runtime, build_runtime
from milter.stages.archive import ArchiveStage
from policies import searchable_text
from signer.keys import Algorithm
from support.documents import docx, plain_pdf
from support.unitconfig import unit_config

DOMAIN = "binhthuan.gov.vn"
UNIT = f"vanthu@{DOMAIN}"
OUTSIDER = "dan@example.org"


def _config(work: Path, extra: str = "") -> Path:
    """Every default stage but inbound verification (it asks DNS), a DKIM key and an
    S/MIME identity for the unit, and policies that tag rather than hold malformed MIME
    and strip blocked files, so such messages are archived."""
    return unit_config(work, UNIT, unit="stc,Sở Tài chính", roles=("outbound", "inbound"),
                       algorithm=Algorithm.ED25519_SHA256, extra=f"""
stages = ["units", "documents", "authentication-results", "policy", "smime-sign",
          "dkim-sign"]
{extra}

[policies.actions]
malformed-mime = "tag"
ambiguous-mime = "tag"
blocked-extension = "strip"
blocked-type = "strip"
""")


@dataclass(frozen=True)
class Case:
    raw: bytes
    #: whether the stage takes the words from the pipeline's reading
    is_reused: bool
    outbound: bool = True


def _letter(body: bytes, *, head: bytes = b"", sender: str = UNIT, to: str = OUTSIDER,
            subject: bytes = b"=?utf-8?q?C=C3=B4ng_v=C4=83n_s=E1=BB=91?= 12/STC") -> bytes:
    return (f"From: =?utf-8?b?{base64.b64encode('Văn thư'.encode()).decode()}?= <{sender}>"
            f"\r\nTo: Dan <{to}>\r\nCc: ubnd@{DOMAIN}\r\n".encode()
            + b"Subject: " + subject + b"\r\nDate: Mon, 7 Dec 2026 09:00:00 +0700\r\n"
            + b"Message-ID: <1@stc>\r\n" + head + b"\r\n" + body)


def _mixed(*parts: bytes, boundary: bytes = b"b1") -> bytes:
    """A multipart/mixed's header line and body."""
    return (b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="' + boundary
            + b'"\r\n', b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
            + b"--" + boundary + b"--\r\n")


def _attachment(name: str, data: bytes, ctype: str) -> bytes:
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (f'Content-Type: {ctype}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n'
            f'Content-Disposition: attachment; filename="{name}"\r\n\r\n').encode() + encoded


def _multipart(*parts: bytes, boundary: bytes = b"b1") -> bytes:
    head, body = _mixed(*parts, boundary=boundary)
    return _letter(body, head=head)


def _nested(depth: int, *, sender: str = UNIT, to: str = OUTSIDER) -> bytes:
    """A letter whose text lies ``depth`` multiparts down (the walk's bound is 20)."""
    body = b"Content-Type: text/plain\r\n\r\nchu o tang sau nhat\r\n"
    for level in range(depth - 1, 0, -1):
        boundary = f"n{level}".encode()
        body = (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
                + b"--" + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n")
    head, outer = _mixed(body, boundary=b"n0")
    return _letter(outer, head=head, sender=sender, to=to)


def _many(leaves: int) -> bytes:
    """A letter of ``leaves`` short text parts (the walk's bound: 1,000 entities)."""
    return _multipart(*(f"Content-Type: text/plain\r\n\r\nphan {n}".encode()
                        for n in range(leaves)))


TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\nKinh gui So Tai chinh.\r\n"
VIETNAMESE_8BIT = "Kính gửi Sở Tài chính tỉnh Bình Thuận: đề nghị thẩm định.\r\n".encode()
VIETNAMESE_QP = (b"Content-Type: text/plain; charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                 b"K=C3=ADnh g=E1=BB=ADi S=E1=BB=9F T=C3=A0i ch=C3=ADnh =C4=91=E1=BB=81 "
                 b"ngh=E1=BB=8B\r\n")
HTML = (b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{}</style>"
        b"</head><body><p>Bao cao <b>quy IV</b></p><script>x()</script></body></html>\r\n")

CASES: dict[str, Case] = {
    "plain text": Case(_letter(b"Kinh gui So Tai chinh.\r\nBao cao thang 12.\r\n"), True),
    "plain text, bare LF": Case(
        _letter(b"Kinh gui So Tai chinh.\r\n").replace(b"\r\n", b"\n"), True),
    "plain text, mixed line ends (S/MIME makes them one)": Case(
        _letter(b"dong mot\ndong hai\r\n"), False),
    "multipart with attachments": Case(_multipart(
        TEXT, HTML, _attachment("bao-cao.docx", docx(), "application/"
                                "vnd.openxmlformats-officedocument.wordprocessingml.document"),
        _attachment("Tờ trình.txt", "nội dung tờ trình".encode(), "text/plain")), True),
    "a PDF": Case(_multipart(TEXT, _attachment(
        "cong-van.pdf", plain_pdf(text="Quyet dinh phe duyet du toan"), "application/pdf")),
        True),
    "Vietnamese, quoted-printable": Case(_multipart(VIETNAMESE_QP), True),
    "Vietnamese, 8-bit (S/MIME re-encodes it)": Case(_letter(
        VIETNAMESE_8BIT, head=b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"), False),
    "Vietnamese, 8-bit, inbound": Case(_letter(
        VIETNAMESE_8BIT, head=b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n", sender=OUTSIDER, to=UNIT), True,
        outbound=False),
    "a policy strips an attachment": Case(_multipart(
        TEXT, _attachment("setup.exe", b"MZ\x90\x00 program", "application/octet-stream")),
        False),
    "malformed MIME (no close delimiter, a part without its blank line)": Case(
        _letter(b"--b1\r\nContent-Type: text/plain\r\n\r\nphan mot\r\n--b1\r\n"
                b"Content-Type: text/plain\r\nphan hai khong dong trong\r\n",
                head=b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n'),
        True),
    "ambiguous MIME (two Content-Types)": Case(_letter(
        b"<p>hai cach doc</p>\r\n", head=b"Content-Type: text/plain\r\n"
        b"Content-Type: text/html\r\n"), True),
    "a header that reads two ways, inbound": Case(_letter(
        b"Kinh gui.\r\n", sender=OUTSIDER, to=UNIT, head=b"X-Note : khoang trang\r\n"),
        False, outbound=False),
    "nested 19 deep (signed: 20, within the bound)": Case(_nested(19), True),
    "nested 20 deep (signed, the text would lie past the bound)": Case(_nested(20), False),
    "997 parts (signed: 1,000 entities, the bound)": Case(_many(997), True),
    "998 parts (signed: 1,001 entities, past the bound)": Case(_many(998), False),
    "nested 20 deep, inbound (not signed)": Case(
        _nested(20, sender=OUTSIDER, to=UNIT), True, outbound=False),
}


def _context(runtime: Runtime, raw: bytes, *, outbound: bool) -> MessageContext:
    listener = runtime.config.listeners[0 if outbound else 1]
    return MessageContext.received(
        raw, listener=listener.name, role=listener.role,
        direction=direction_of(listener.role, is_trusted_client=False),
        envelope=Envelope(mail_from=UNIT if outbound else OUTSIDER, mail_options=(),
                          recipients=(OUTSIDER if outbound else UNIT,)),
        provincial=runtime.units.provincial())


async def _through(runtime: Runtime, raw: bytes, *, outbound: bool
                   ) -> tuple[MessageContext, bool]:
    """``raw`` through every stage; whether the archive stage reused the reading."""
    ctx = _context(runtime, raw, outbound=outbound)
    archive = runtime.pipeline.stages[-1]
    assert isinstance(archive, ArchiveStage)
    for stage in runtime.pipeline.stages[:-1]:
        verdict = await stage.run(ctx)
        assert not verdict.is_final, (stage.name, verdict)
    is_reused = archive.reader_of(ctx) is not None
    assert not (await archive.run(ctx)).is_final
    assert ctx.archived_sha256 is not None
    return ctx, is_reused


def _indexed(runtime: Runtime, sha256: str) -> str:
    archive = runtime.pipeline.stages[-1]
    assert isinstance(archive, ArchiveStage)
    archive.archive.flush_index()
    with sqlite3.connect(archive.archive.root / "index.sqlite3") as conn:
        row = conn.execute("SELECT t.words FROM texts t JOIN messages m ON m.id = t.rowid "
                           "WHERE m.sha256 = ?", (sha256,)).fetchone()
    assert row is not None, "not indexed"
    return str(row[0])


@contextmanager
def _runtime(work: Path, extra: str = "") -> Iterator[Runtime]:
    runtime = build_runtime(load_config(_config(work, extra)))
    try:
        yield runtime
    finally:
        asyncio.run(runtime.close())


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with _runtime(tmp_path_factory.mktemp("words")) as made:
        yield made


def _stored_words(runtime: Runtime, sha256: str) -> str | None:
    archive = runtime.pipeline.stages[-1]
    assert isinstance(archive, ArchiveStage)
    return words_of(searchable_text, archive.archive.get(sha256))


@pytest.mark.parametrize("name", list(CASES))
def test_the_words_indexed_are_the_rebuilds(runtime: Runtime, name: str) -> None:
    case = CASES[name]
    ctx, is_reused = asyncio.run(_through(runtime, case.raw, outbound=case.outbound))
    assert ctx.archived_sha256 is not None
    assert is_reused is case.is_reused
    assert _indexed(runtime, ctx.archived_sha256) == _stored_words(runtime, ctx.archived_sha256)


def test_a_message_signed_before_it_came_is_read_as_walked(runtime: Runtime) -> None:
    """A message the sender signed already: smime-sign leaves it, the words are its
    walk's (the signature's name among them)."""
    first, _ = asyncio.run(_through(runtime, CASES["plain text"].raw, outbound=True))
    assert first.signature_name == "smime.p7s"
    signed = first.current_content
    ctx, is_reused = asyncio.run(_through(runtime, signed, outbound=True))
    assert ctx.content is None and is_reused
    assert ctx.archived_sha256 is not None
    words = _indexed(runtime, ctx.archived_sha256)
    assert words == _stored_words(runtime, ctx.archived_sha256)
    assert "smime p7s" in words


def test_a_signed_letters_words_name_its_signature(runtime: Runtime) -> None:
    """Both readings count the S/MIME signature's file name (the index keeps what the
    archived bytes hold); a reading that left it out would differ from the rebuild."""
    ctx, is_reused = asyncio.run(_through(runtime, CASES["a PDF"].raw, outbound=True))
    assert is_reused and ctx.signature_name is not None
    assert ctx.archived_sha256 is not None
    words = _indexed(runtime, ctx.archived_sha256)
    # the names, the signature's last, then the texts, the PDF's among them
    assert " cong van pdf smime p7s kinh gui so tai chinh quyet dinh phe duyet du toan " in (
        f" {words} ")


@pytest.mark.parametrize(("name", "value", "is_reused"), [
    ("Subject", "nút lọc 2", True),  # a Subject of ours in front: its words count
    ("Content-Type", "text/html", False),  # changes how the walk reads the message
])
def test_prepended_fields(tmp_path: Path, name: str, value: str, is_reused: bool) -> None:
    extra = f'add_headers = [{{ name = "{name}", value = "{value}" }}]'
    with _runtime(tmp_path, extra) as runtime:
        for case in ("plain text", "multipart with attachments"):
            ctx, reused = asyncio.run(_through(runtime, CASES[case].raw, outbound=True))
            assert ctx.archived_sha256 is not None
            assert reused is is_reused
            words = _indexed(runtime, ctx.archived_sha256)
            assert words == _stored_words(runtime, ctx.archived_sha256)
            assert ("nut loc 2" in words) is (name == "Subject")
