"""The archive through the real service on loopback: a unit's relayed mail is kept byte
for byte as it left (DKIM signature included), its record carries the SHA-256 the chain
proves; what is refused or no unit's mail is not kept; an archive that cannot be written
is a 451 with nothing relayed; ``congvu archive get`` and ``verify`` read it back."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from archive import Archive
from audit import AuditLog, own_public_key
from audit.query import Filters
from congvu.cli import main
from directory import Directory
from milter.replies import R451_ARCHIVE
from signer.keys import Algorithm
from support.dkim import make_key
from support.rawsmtp import Raw
from support.unwritable import unwritable

OWN = "lamdong.gov.vn"
UNITS = (
    "id,name,parent,address\n"
    f"ubnd-tinh,UBND tỉnh,,ubnd@{OWN}\n"
    f"sotc,Sở Tài chính,ubnd-tinh,sotc@{OWN}\n"
    f"snv,Sở Nội vụ,ubnd-tinh,snv@{OWN}\n"
)
EXE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200


def _import_units(running: Any) -> None:
    store = Directory.open(running.server.config.directory.path)
    store.import_csv(UNITS, actor="test")
    store.close()
    running.server.runtime.units.index.refresh()


@pytest.fixture
def outbound(filter_server: Any, tmp_path: Path) -> Any:
    """The outbound filter of a province with three units, signing with DKIM."""
    (tmp_path / "dkim").mkdir()
    key = make_key(tmp_path / "dkim", "s1", Algorithm.RSA_SHA256)
    running = filter_server(signer={"dkim": {"keys": [
        {"domain": OWN, "selector": "s1", "key_file": str(key.path),
         "algorithm": "rsa-sha256"}]}})
    _import_units(running)
    return running


def message(subject: str = "Công văn số 7", attachment: bytes | None = None, *,
            filename: str = "a.exe", content_type: str = "application/octet-stream") -> bytes:
    head = (f"From: Sở Tài chính <sotc@{OWN}>\r\nTo: snv@{OWN}\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{abs(hash(subject))}@{OWN}>\r\n")
    if attachment is None:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\nNội dung.\r\n").encode()
    encoded = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    return (head + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Disposition: attachment; filename={filename}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + encoded + b"--b--\r\n"


def send(running: Any, raw_message: bytes, *, mail_from: str = f"sotc@{OWN}",
         rcpt: str = f"snv@{OWN}") -> bytes:
    raw = Raw(running.port)
    raw.command(b"EHLO postfix")
    assert raw.command(f"MAIL FROM:<{mail_from}>".encode()).startswith(b"250")
    assert raw.command(f"RCPT TO:<{rcpt}>".encode()).startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(raw_message + b".\r\n")
    return raw.reply()


def shown(running: Any) -> list[dict[str, Any]]:
    """Every message record in full, oldest first."""
    with AuditLog.open_readonly(running.server.config.audit.path) as log:
        return sorted((log.show(item.id) for item in log.query(Filters()).items),
                      key=lambda r: r["id"])


def archive_of(running: Any) -> Archive:
    return Archive(running.server.config.archive.path)


def congvu(running: Any, tmp_path: Path, *args: str) -> Result:
    """The real ``congvu`` command on the filter's data directory."""
    config = tmp_path / "congvu.toml"
    if not config.exists():
        config.write_text(f'[service]\ndata_dir = "{running.server.config.data_dir}"\n')
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def test_a_relayed_message_is_archived_as_it_left_and_its_record_proves_it(
        outbound: Any, next_hop: Any) -> None:
    assert send(outbound, message()).startswith(b"250")
    relayed = next_hop.get().content
    assert relayed.startswith(b"DKIM-Signature:")  # kept after signing: the bytes that left
    sha = hashlib.sha256(relayed).hexdigest()
    assert archive_of(outbound).get(sha) == relayed
    [record] = shown(outbound)
    assert record["archived_sha256"] == sha
    assert record["completions"][0]["outcome"] == "relayed"
    with AuditLog.open_readonly(outbound.server.config.audit.path) as log:
        assert log.verify(trust=outbound.server.config.audit.key_trust()).is_intact


def test_refused_mail_and_no_unit_s_mail_are_not_archived(
        outbound: Any, next_hop: Any) -> None:
    assert send(outbound, message("Tệp", attachment=EXE)).startswith(b"550")
    # a mailbox of no unit writing to the outside: not a unit's mail
    assert send(outbound, b"From: <x@example.org>\r\nTo: y@example.org\r\nSubject: s\r\n\r\nb\r\n",
                mail_from="x@example.org", rcpt="y@example.org").startswith(b"250")
    next_hop.get()
    assert [(r["action"], r.get("archived_sha256")) for r in shown(outbound)] == [
        ("reject", None), ("accept", None)]
    assert list(archive_of(outbound).names()) == []


def test_only_the_configured_units_and_directions_are_kept(
        filter_server: Any, next_hop: Any, tmp_path: Path) -> None:
    running = filter_server(archive={"units": ["snv"]})
    _import_units(running)
    send(running, message("to snv"))  # received by snv: kept
    send(running, message("to ubnd"), rcpt=f"ubnd@{OWN}")  # sotc to ubnd-tinh: not
    [kept, _] = [next_hop.get().content for _ in range(2)]
    assert [bool(r.get("archived_sha256")) for r in shown(running)] == [True, False]
    assert list(archive_of(running).names()) == [hashlib.sha256(kept).hexdigest()]
    inbound_only = filter_server(archive={"directions": ["inbound"]},
                                 service={"data_dir": str(tmp_path / "other")})
    _import_units(inbound_only)
    send(inbound_only, message("outbound"))
    next_hop.get()
    assert list(archive_of(inbound_only).names()) == []


def test_an_archive_that_cannot_be_written_is_a_451_and_nothing_is_relayed(
        outbound: Any, next_hop: Any) -> None:
    objects = archive_of(outbound).objects
    with unwritable(objects):
        reply = send(outbound, message())
    assert reply.decode().strip() == str(R451_ARCHIVE)
    next_hop.assert_empty()
    assert not any(p.is_file() for p in objects.rglob("*"))
    # the deferral is recorded as such, naming no archived message
    [record] = shown(outbound)
    assert (record["action"], record.get("archived_sha256")) == ("tempfail", None)
    assert record["completions"][0]["outcome"] == "tempfailed"


def test_get_by_record_id_or_sha256_and_verify_find_a_flipped_byte_and_a_missing_file(
        outbound: Any, next_hop: Any, tmp_path: Path) -> None:
    send(outbound, message("một"))
    send(outbound, message("hai"))
    first, second = next_hop.get().content, next_hop.get().content
    ids = [r["id"] for r in shown(outbound)]
    got = congvu(outbound, tmp_path, "archive", "get", str(ids[0]))
    assert (got.exit_code, got.stdout_bytes) == (0, first)
    out = tmp_path / "hai.eml"
    got = congvu(outbound, tmp_path, "archive", "get", hashlib.sha256(second).hexdigest(),
                 "--out", str(out))
    assert got.exit_code == 0 and out.read_bytes() == second
    assert out.stat().st_mode & 0o777 == 0o600
    checked = congvu(outbound, tmp_path, "archive", "verify")
    assert checked.exit_code == 0, checked.output
    assert "2 archived message(s) named by records checked" in checked.stdout

    archive = archive_of(outbound)
    one, two = (archive.path_of(hashlib.sha256(m).hexdigest()) for m in (first, second))
    data = bytearray(one.read_bytes())
    data[-5] ^= 0x01
    one.write_bytes(bytes(data))
    two.unlink()
    checked = congvu(outbound, tmp_path, "archive", "verify")
    assert checked.exit_code == 1
    lines = [line for line in checked.stdout.splitlines() if line.startswith("record")]
    assert [line.split()[:3] for line in lines] == [
        ["record", f"{ids[0]}:", lines[0].split()[2]], ["record", f"{ids[1]}:", "missing"]]
    assert lines[0].split()[2] in ("changed", "unreadable")
    got = congvu(outbound, tmp_path, "archive", "get", str(ids[1]))
    assert got.exit_code == 1 and "missing" in got.output

    # a record whose object was swapped for another archived message's bytes
    send(outbound, message("ba"))
    third = next_hop.get().content
    three = archive.path_of(hashlib.sha256(third).hexdigest())
    data[-5] ^= 0x01  # the first one repaired, and its bytes put in the third's place
    one.write_bytes(bytes(data))
    three.write_bytes(one.read_bytes())
    checked = congvu(outbound, tmp_path, "archive", "verify")
    assert checked.exit_code == 1
    third_id = shown(outbound)[-1]["id"]
    assert (f"record {third_id}: swapped {hashlib.sha256(third).hexdigest()} ({three}): it "
            f"holds archived message {hashlib.sha256(first).hexdigest()}") in checked.stdout


def test_get_of_an_unknown_or_unarchived_record_and_a_bad_name(
        outbound: Any, next_hop: Any, tmp_path: Path) -> None:
    send(outbound, message("Tệp", attachment=EXE))  # refused: recorded, not archived
    [refused] = shown(outbound)
    got = congvu(outbound, tmp_path, "archive", "get", str(refused["id"]))
    assert got.exit_code == 1 and "names no archived message" in got.output
    got = congvu(outbound, tmp_path, "archive", "get", "999")
    assert got.exit_code == 1 and "no message record 999" in got.output
    got = congvu(outbound, tmp_path, "archive", "get", "báo-cáo")
    assert got.exit_code == 2 and "neither a record id nor a SHA-256" in got.output
    got = congvu(outbound, tmp_path, "archive", "verify", "--since", "hôm qua")
    assert got.exit_code == 2 and "--since" in got.output


def test_a_held_message_is_archived_when_released_and_its_release_names_it(
        outbound: Any, next_hop: Any, tmp_path: Path) -> None:
    held = message("có macro", b"PK\x03\x04" + b"\x00" * 100, filename="a.docm",
                   content_type="application/vnd.ms-word.document.macroEnabled.12")
    reply = send(outbound, held)
    assert b"held in quarantine" in reply
    next_hop.assert_empty()
    assert list(archive_of(outbound).names()) == []  # held: not kept yet
    [qid] = re.findall(r"\b\d{8}T\d{6}-[0-9a-f]+\b", reply.decode())  # the reply names it
    config = outbound.server.config
    toml = tmp_path / "release.toml"
    key = config.signer.dkim.keys[0]
    toml.write_text(f'[service]\ndata_dir = "{config.data_dir}"\n[next_hop]\nkind = "smtp"\n'
                    f"port = {config.next_hop.port}\n[[signer.dkim.keys]]\n"
                    f'domain = "{OWN}"\nselector = "s1"\nkey_file = "{key.key_file}"\n'
                    'algorithm = "rsa-sha256"\n')
    released = CliRunner().invoke(main, ["quarantine", "release", "--config", str(toml),
                                         "--reason", "checked", qid])
    assert released.exit_code == 0, released.output
    relayed = next_hop.get().content
    sha = hashlib.sha256(relayed).hexdigest()
    assert relayed.startswith(b"DKIM-Signature:") and archive_of(outbound).get(sha) == relayed
    with AuditLog.open_readonly(config.audit.path) as log:
        [event] = log.admin_events(kind="quarantine-release")
    assert event["details"]["archived_sha256"] == sha
    got = CliRunner().invoke(main, ["archive", "get", str(event["id"]), "--config", str(toml)])
    assert (got.exit_code, got.stdout_bytes) == (0, relayed)
    checked = CliRunner().invoke(main, ["archive", "verify", "--config", str(toml)])
    assert checked.exit_code == 0 and "1 archived message(s)" in checked.stdout


def test_with_encryption_on_the_relayed_bytes_are_kept_encrypted_and_get_reads_them(
        filter_server: Any, next_hop: Any, tmp_path: Path) -> None:
    running = filter_server(archive={"encrypt": True})
    _import_units(running)
    send(running, message("mật"))
    relayed = next_hop.get().content
    sha = hashlib.sha256(relayed).hexdigest()
    assert archive_of(running).path_of(sha).read_bytes().startswith(b"CVAE\x02")
    [record] = shown(running)
    got = congvu(running, tmp_path, "archive", "get", str(record["id"]))
    assert (got.exit_code, got.stdout_bytes) == (0, relayed)


def test_a_relayed_message_s_proof_checks_with_openssl_alone(
        outbound: Any, next_hop: Any, tmp_path: Path) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 400  # a part over 64 KiB, stored once
    for subject, attachment in (("Thư trước", None), ("Công văn mật 12", pdf),
                                ("Thư sau", None)):
        assert send(outbound, message(subject, attachment, filename="cv.pdf",
                                      content_type="application/pdf")).startswith(b"250")
    relayed = [next_hop.get().content for _ in range(3)]
    record = next(r for r in shown(outbound) if r["subject"] == "Công văn mật 12")
    out = tmp_path / "proof"
    made = congvu(outbound, tmp_path, "archive", "proof", str(record["id"]), "--out", str(out))
    assert made.exit_code == 0, made.output
    assert (out / f"{record['id']}.eml").read_bytes() == relayed[1]
    everything = b"".join(p.read_bytes() for p in out.iterdir())
    assert "Thư trước".encode() not in everything and "Thư sau".encode() not in everything
    key = own_public_key(outbound.server.config.audit.keys_dir)
    checked = CliRunner().invoke(main, ["archive", "check-proof", str(out), "--key", key])
    assert checked.exit_code == 0, checked.output
    done = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "audit-key.pem", "-rawin",
         "-in", "checkpoint.json", "-sigfile", "checkpoint.sig"],
        cwd=out, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout
    record_hash = hashlib.sha256((out / "record.json").read_bytes()).hexdigest()
    assert record_hash in (out / "hashes.txt").read_text().split()
    assert list(archive_of(outbound).parts.glob("*/*.part.zst"))  # its PDF, stored once
