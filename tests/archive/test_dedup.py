"""Large parts stored once across messages: only runs of base64 that encode back to the
very same bytes are, every message reads back byte for byte, a damaged part is named,
prune keeps a part while a message names it, and backup carries the parts."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive import Archive, ArchiveReadError
from archive.parts import MIN_PART, encode, runs
from audit import Action, AuditLog, AuditRecord, Direction, Role, own_public_key
from congvu.cli import main

from .test_prune import NOW, Site

# One "PDF" of 300 KB, random so that zstd cannot shrink it: what dedup alone saves.
PDF = os.urandom(300_000)


def message(to: str, attachment: bytes = PDF, *, line: int = 76, eol: bytes = b"\r\n",
            body: bytes | None = None) -> bytes:
    """A message to ``to`` carrying ``attachment`` as base64 (or ``body`` as given)."""
    encoded = encode(attachment, line, eol) if body is None else body
    return (b"From: vanthu@sotc.lamdong.gov.vn\r\nTo: " + to.encode() + b"\r\n"
            b"Subject: =?utf-8?b?" + base64.b64encode(f"Công văn gửi {to}".encode()) +
            b"?=\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b-" + to.encode() + b"\"\r\n\r\n"
            b"--b-" + to.encode() + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + f"Kính gửi {to}\r\n".encode() + b"--b-" + to.encode() + b"\r\n"
            b"Content-Type: application/pdf; name=\"cv.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded +
            b"--b-" + to.encode() + b"--\r\n")


def parts_of(archive: Archive) -> list[Path]:
    return sorted(archive.parts.glob("*/*.part.zst")) if archive.parts.is_dir() else []


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.zst"))


def test_the_same_attachment_to_ten_units_is_stored_once(archive: Archive) -> None:
    sent = [message(f"unit{n}@lamdong.gov.vn") for n in range(10)]
    for data in sent:
        archive.put(data)
    assert len(parts_of(archive)) == 1
    for data in sent:
        assert archive.get(hashlib.sha256(data).hexdigest()) == data
    # 10 x 405 KB of base64 held as one 300 KB part and 10 small manifests
    assert disk_bytes(archive.root) < len(PDF) + 10 * 2_000


@pytest.mark.parametrize("body", [
    pytest.param(encode(PDF, 76, b"\r\n").replace(b"\r\n", b"\n", 3), id="mixed line ends"),
    pytest.param(encode(PDF, 76, b"\r\n")[:-2] + b"==\r\n", id="text after the padding"),
    pytest.param(encode(PDF, 76, b"\r\n").replace(b"\r\n", b"", 1), id="a longer line"),
    pytest.param(encode(PDF[:60_000], 76, b"\r\n"), id="not over 64 KiB"),
    pytest.param(encode(PDF, 72, b"\r\n")[:-8] + b"A=\r\n", id="non-canonical padding"),
])
def test_a_run_that_does_not_encode_back_exactly_is_stored_as_it_is(
        archive: Archive, body: bytes) -> None:
    data = message("a@lamdong.gov.vn", body=body)
    assert archive.put(data).sha256
    # the attachment is not a part (at most the lines before the fault that do
    # encode back exactly are), and the message reads back exactly
    found = runs(data)
    assert PDF not in [r.decoded for r in found] and len(parts_of(archive)) == len(found)
    assert all(data[r.start:r.end] == encode(r.decoded, r.line, r.eol) for r in found)
    assert archive.get(hashlib.sha256(data).hexdigest()) == data


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(MIN_PART - 10, MIN_PART + 5_000),
       line=st.sampled_from([4, 60, 64, 76, 996]), eol=st.sampled_from([b"\r\n", b"\n"]),
       cut=st.integers(0, 40), noise=st.binary(max_size=8), twice=st.booleans())
def test_every_message_reads_back_byte_for_byte(
        tmp_path: Path, size: int, line: int, eol: bytes, cut: int, noise: bytes,
        twice: bool) -> None:
    archive = Archive.open(tmp_path / f"a{time.monotonic_ns()}")
    attachment = PDF[:size]
    body = encode(attachment, line, eol)
    if cut:  # damage the run somewhere: stored as it is, and still exact
        at = len(body) * cut // 41
        body = body[:at] + noise + body[at:]
    data = message("b@lamdong.gov.vn", body=body + (body if twice else b""))
    name = archive.put(data).sha256
    assert archive.get(name) == data
    assert Archive(archive.root).get(name) == data  # a reader of its own
    if not cut and size > MIN_PART and line >= 40:
        assert [r.decoded for r in runs(data)] == [attachment] * (2 if twice else 1)
        assert len(parts_of(archive)) == 1


def test_an_encrypted_archive_seals_its_parts(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path / "archive", key=os.urandom(32))
    data = message("c@lamdong.gov.vn")
    name = archive.put(data).sha256
    [part] = parts_of(archive)
    assert part.read_bytes().startswith(b"CVAE\x02")
    assert archive.get(name) == data
    with pytest.raises(ArchiveReadError, match="no archive key"):
        Archive(archive.root).get(name)


def test_a_damaged_or_missing_part_is_named(archive: Archive) -> None:
    data = message("d@lamdong.gov.vn")
    name = archive.put(data).sha256
    [part] = parts_of(archive)
    part.write_bytes(zstandard.ZstdCompressor(write_content_size=True).compress(b"other"))
    with pytest.raises(ArchiveReadError) as damaged:
        archive.get(name)
    assert damaged.value.problem == "changed" and part.name[:64] in str(damaged.value)
    part.unlink()
    with pytest.raises(ArchiveReadError) as missing:
        archive.get(name)
    assert missing.value.problem == "missing" and missing.value.path == part
    archive.put(data)  # storing the message again mends it
    assert archive.get(name) == data


def test_prune_keeps_a_part_while_a_message_names_it(archive: Archive) -> None:
    one, two = message("e@lamdong.gov.vn"), message("f@lamdong.gov.vn")
    names = [archive.put(one).sha256, archive.put(two).sha256]
    [part] = parts_of(archive)
    old = time.time() - 3 * 86400
    for path in [*archive.parts.rglob("*.zst"), *archive.objects.rglob("*.zst")]:
        os.utime(path, (old, old))
    list(archive.remove_unused(names[:1], records_read_at=time.time()))
    assert archive.remove_unreferenced_parts(records_read_at=time.time()) == 0
    assert archive.get(names[1]) == two
    list(archive.remove_unused(names[1:], records_read_at=time.time()))
    assert archive.remove_unreferenced_parts(records_read_at=time.time()) == 1
    assert not part.exists()


def test_a_part_stored_or_touched_lately_is_left(archive: Archive) -> None:
    name = archive.put(message("g@lamdong.gov.vn")).sha256
    list(archive.remove_unused([name], records_read_at=time.time() + 2 * 86400))
    # the message is gone, but its part was written less than a day before
    assert archive.remove_unreferenced_parts(records_read_at=time.time()) == 0
    assert len(parts_of(archive)) == 1


def test_backup_carries_the_parts_and_a_restore_reads_back(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    site = Site(tmp_path / "a")
    sent = [message(f"unit{n}@lamdong.gov.vn") for n in range(2)]
    with AuditLog.open(site.audit) as log:
        for data in sent:
            log.record(AuditRecord(
                received_at=NOW, decided_at=NOW, listener="f", role=Role.AUTO,
                direction=Direction.OUTBOUND, envelope_sender="x@lamdong.gov.vn",
                size=len(data), envelope_recipients=["vanthu@lamdong.gov.vn"],
                action=Action.ACCEPT, processing_ms=1.0, sender_unit="sotc",
                archived_sha256=site.archive.put(data).sha256))
    one, two = tmp_path / "b1", tmp_path / "b2"
    assert site.congvu("backup", str(one)).exit_code == 0
    [part] = parts_of(Archive(one / "archive"))
    done = site.congvu("backup", str(two), "--previous", str(one))
    assert done.exit_code == 0, done.output
    assert "archive: 2 messages (0 copied, 2 linked from --previous)" in done.stdout
    assert (two / part.relative_to(one)).stat().st_ino == part.stat().st_ino

    restored = tmp_path / "restored"
    config = tmp_path / "restored.toml"
    config.write_text(f'[service]\ndata_dir = "{restored}"\n'
                      '[audit]\ncheckpoint_public_keys = '
                      f'["{own_public_key(site.audit.keys_dir)}"]\n')
    done = CliRunner().invoke(main, ["restore", str(two), "--config", str(config)])
    assert done.exit_code == 0, done.output
    again = Archive(restored / "archive")
    assert [again.get(hashlib.sha256(d).hexdigest()) for d in sent] == sent
    checked = CliRunner().invoke(main, ["archive", "verify", "--config", str(config)])
    assert checked.exit_code == 0, checked.output
