"""Proof bundles on real stores: `congvu archive proof` (and `get --out DIR`) writes the
message, its record in full and the other rows as hashes only, up to a checkpoint whose
link the audit key signed; `archive check-proof` checks it with the bundle alone, and so
do sha256sum and openssl following its README.txt. Tampering with any piece fails."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive import Archive
from audit import (
    Action,
    AuditConfig,
    AuditLog,
    AuditRecord,
    Completion,
    Direction,
    Fate,
    Role,
)
from audit.chain import CheckpointSigner, link_of
from congvu.cli import main

NOW = datetime.now(UTC)


class Site:
    """A data directory with an audit store and an archive, and a few records."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "var"
        self.config = root / "congvu.toml"
        self.config.write_text(f'[service]\ndata_dir = "{self.data}"\n')
        self.data.mkdir()
        self.archive = Archive.open(self.data / "archive")
        self.audit = AuditConfig(path=self.data / "audit.sqlite3", keys_dir=self.data / "keys")

    def relayed(self, subject: str, *, archived: bool = True) -> tuple[int, str]:
        data = f"Subject: {subject}\r\n\r\n{subject}\r\n".encode()
        sha = self.archive.put(data).sha256 if archived else None
        with AuditLog.open(self.audit) as log:
            rid = log.record(AuditRecord(
                received_at=NOW, decided_at=NOW, listener="f", role=Role.AUTO,
                direction=Direction.OUTBOUND, envelope_sender="x@lamdong.gov.vn", size=10,
                envelope_recipients=["vanthu@lamdong.gov.vn"], subject=subject,
                action=Action.ACCEPT, processing_ms=1.0, sender_unit="sotc",
                archived_sha256=sha))
            log.complete(Completion(record_id=rid, outcome=Fate.RELAYED,
                                    reply=f"250 2.0.0 Ok: queued as {subject[:4]}"))
        return rid, sha or ""

    def congvu(self, *args: str, config: bool = True) -> Result:
        return CliRunner().invoke(main, [*args, *(("--config", str(self.config))
                                                  if config else ())])

    @property
    def key(self) -> str:
        public = CheckpointSigner.load_or_create(self.audit.keys_dir).public_key
        return "sha256:" + hashlib.sha256(bytes.fromhex(public)).hexdigest()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


@pytest.fixture
def bundle(site: Site) -> tuple[Site, int, Path]:
    """Record 3 of 5 messages (10 events with their completions), proven."""
    records = [site.relayed(f"công văn số {n}") for n in range(5)]
    rid = records[1][0]
    out = site.root / "proof"
    result = site.congvu("archive", "proof", str(rid), "--out", str(out))
    assert result.exit_code == 0, result.output
    return site, rid, out


def check(site: Site, out: Path, *extra: str) -> Result:
    return site.congvu("archive", "check-proof", str(out), *extra, config=False)


def test_a_bundle_proves_its_message_and_shows_no_other(bundle: tuple[Site, int, Path]) -> None:
    site, rid, out = bundle
    sent = "Subject: công văn số 1\r\n\r\ncông văn số 1\r\n".encode()
    assert (out / f"{rid}.eml").read_bytes() == sent
    proof = json.loads((out / "proof.json").read_text())
    assert proof["record"]["subject"] == "công văn số 1"
    assert proof["completion"]["row"]["record_id"] == rid
    # the other four messages (and their completions) appear as their hashes only
    everything = b"".join(p.read_bytes() for p in out.iterdir())
    for n in (0, 2, 3, 4):
        assert f"công văn số {n}".encode() not in everything
    assert "queued as công".encode() in everything  # its own completion is shown
    assert proof["checkpoint"]["seq"] == 10  # none covered it: one was signed at the head
    assert len(proof["hashes"]) == 10 - proof["link_from"]
    result = check(site, out, "--key", site.key)
    assert result.exit_code == 0, result.output
    assert "proof holds" in result.output
    # the store's own verify accepts the checkpoint the proof signed, link included
    verify = site.congvu("audit", "verify")
    assert verify.exit_code == 0, verify.output


def test_a_bundle_checks_with_sha256sum_and_openssl_alone(
        bundle: tuple[Site, int, Path]) -> None:
    site, rid, out = bundle
    proof = json.loads((out / "proof.json").read_text())
    position = rid - proof["link_from"]
    script = f"""
set -eu
cd {out}
message=$(sha256sum {rid}.eml | cut -c1-64)
grep -qF "archived_sha256\\\\\\":\\\\\\"$message" record.json
record=$(sha256sum record.json | cut -c1-64)
test "$record" = "$(sed -n {position}p hashes.txt)"
x={"0" * 64}
while read h; do x=$(printf '%s%s' "$x" "$h" | sha256sum | cut -c1-64); done < hashes.txt
grep -q "\\"link\\":\\"$x\\"" checkpoint.json
grep -q "\\"hash\\":\\"$(tail -n 1 hashes.txt)\\"" checkpoint.json
openssl pkeyutl -verify -pubin -inkey audit-key.pem -rawin -in checkpoint.json \\
    -sigfile checkpoint.sig
echo "sha256:$(openssl pkey -pubin -in audit-key.pem -outform DER | tail -c 32 \\
    | sha256sum | cut -c1-64)"
"""
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Signature Verified Successfully" in done.stdout
    assert done.stdout.strip().endswith(site.key)
    # the README's own commands are the ones run here
    readme = (out / "README.txt").read_text()
    assert "openssl pkeyutl -verify -pubin -inkey audit-key.pem -rawin" in readme
    assert f"line {position} of hashes.txt" in readme
    # and openssl refuses the signature once the signed bytes change
    signed = (out / "checkpoint.json").read_bytes()
    (out / "checkpoint.json").write_bytes(signed.replace(b'"seq":10', b'"seq":11'))
    refused = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "audit-key.pem", "-rawin",
         "-in", "checkpoint.json", "-sigfile", "checkpoint.sig"],
        cwd=out, capture_output=True, text=True, check=False)
    assert refused.returncode != 0


def _edit_json(path: Path, change: object) -> None:
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


def _other_key(data: dict[str, object]) -> None:
    cp = data["checkpoint"]
    assert isinstance(cp, dict)
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    forged = signer.sign(cp["seq"], cp["hash"], cp["at"],
                         link=(cp["link_from"], cp["link"]))
    cp.update(public_key=forged.public_key, link_signature=forged.link_signature)


TAMPERING: dict[str, Callable[[Path, int], object]] = {
    "message": lambda out, rid: (out / f"{rid}.eml").write_bytes(
        (out / f"{rid}.eml").read_bytes().replace(b"1", b"7")),
    "record": lambda out, rid: _edit_json(
        out / "proof.json", lambda d: d["record"].update(subject="công văn số 7")),
    "a hash of another row": lambda out, rid: _edit_json(
        out / "proof.json", lambda d: d["hashes"].__setitem__(0, "ab" * 32)),
    "a row left out": lambda out, rid: _edit_json(
        out / "proof.json", lambda d: d["hashes"].pop(0)),
    "the completion": lambda out, rid: _edit_json(
        out / "proof.json", lambda d: d["completion"]["row"].update(outcome="rejected")),
    "the checkpoint's link": lambda out, rid: _edit_json(
        out / "proof.json", lambda d: d["checkpoint"].update(link="cd" * 32)),
    "the signature": lambda out, rid: _edit_json(
        out / "proof.json",
        lambda d: d["checkpoint"].update(link_signature="00" * 64)),
    "a hand file": lambda out, rid: (out / "hashes.txt").write_text("ab" * 32 + "\n"),
    "the key file": lambda out, rid: (out / "audit-key.pem").write_text("no key\n"),
}


@pytest.mark.parametrize("piece", sorted(TAMPERING))
def test_tampering_with_any_piece_fails(bundle: tuple[Site, int, Path], piece: str) -> None:
    site, rid, out = bundle
    TAMPERING[piece](out, rid)
    result = check(site, out)
    assert result.exit_code == 1, result.output
    assert "proof holds" not in result.output


def test_a_bundle_signed_by_another_key_holds_only_without_the_pin(
        bundle: tuple[Site, int, Path]) -> None:
    site, _, out = bundle
    _edit_json(out / "proof.json", _other_key)
    for name in ("checkpoint.sig", "audit-key.pem"):
        (out / name).unlink()
    result = check(site, out, "--key", site.key)
    assert result.exit_code == 1
    assert f"not by the key given ({site.key})" in result.output


def test_get_out_an_existing_directory_writes_the_bundle(site: Site) -> None:
    rid, _ = site.relayed("gửi sở")
    out = site.root / "got"
    out.mkdir()
    result = site.congvu("archive", "get", str(rid), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert check(site, out).exit_code == 0
    assert {p.name for p in out.iterdir()} >= {f"{rid}.eml", "proof.json", "README.txt"}
    again = site.congvu("archive", "proof", str(rid), "--out", str(out))
    assert again.exit_code == 2
    assert "holds a proof already" in again.output


def test_a_covering_checkpoint_is_used_and_none_is_signed_again(site: Site) -> None:
    first, _ = site.relayed("đầu tiên")  # the writer's first commit signs a checkpoint
    with AuditLog.open(site.audit) as log:
        covering = log.latest_checkpoint()
    assert covering is not None and covering.seq == first and covering.link_from == 0
    out = site.root / "p"
    assert site.congvu("archive", "proof", str(first), "--out", str(out)).exit_code == 0
    proof = json.loads((out / "proof.json").read_text())
    assert proof["checkpoint"]["seq"] == first
    assert proof["checkpoint"]["at"] == covering.at
    assert proof["completion"] is None  # written after the checkpoint: not shown


def test_records_under_checkpoints_without_links_are_proven_by_a_new_one(site: Site) -> None:
    rid, _ = site.relayed("trước khi nâng cấp")
    with AuditLog.open(site.audit) as log:
        log.checkpoint()
        # checkpoints signed before links existed carry none
        log.db.conn.execute("UPDATE checkpoints SET link = NULL, link_from = NULL, "
                            "link_signature = NULL")
        log.db.conn.commit()
    site.relayed("sau khi nâng cấp")
    with AuditLog.open(site.audit) as log:
        latest = log.latest_checkpoint()
        assert latest is not None and latest.link is None
    out = site.root / "p"
    assert site.congvu("archive", "proof", str(rid), "--out", str(out)).exit_code == 0
    assert check(site, out).exit_code == 0


def test_refusals(site: Site) -> None:
    rid, _ = site.relayed("từ chối", archived=False)
    out = str(site.root / "p")
    unknown = site.congvu("archive", "proof", "99", "--out", out)
    assert unknown.exit_code == 1 and "no message record 99" in unknown.output
    refused = site.congvu("archive", "proof", str(rid), "--out", out)
    assert refused.exit_code == 1 and "names no archived message" in refused.output
    assert not Path(out).exists()
    usage = site.congvu("archive", "check-proof", str(site.root), "--key", "abc",
                        config=False)
    assert usage.exit_code == 2
    empty = site.congvu("archive", "check-proof", str(site.root), config=False)
    assert empty.exit_code == 1 and "not a readable proof bundle" in empty.output


def test_a_pruned_message_is_said_to_be_pruned(site: Site) -> None:
    config = site.config.read_text() + "[archive]\nkeep_years = 1\n"
    site.config.write_text(config)
    sha = site.archive.put(b"Subject: old\r\n\r\nold\r\n").sha256
    at = NOW - timedelta(days=800)
    with AuditLog.open(site.audit) as log:
        rid = log.record(AuditRecord(
            received_at=at, decided_at=at, listener="f", role=Role.AUTO,
            direction=Direction.OUTBOUND, envelope_sender="x@lamdong.gov.vn", size=10,
            envelope_recipients=["vanthu@lamdong.gov.vn"], action=Action.ACCEPT,
            processing_ms=1.0, sender_unit="sotc", archived_sha256=sha))
    path = site.archive.path_of(sha)
    os.utime(path, (at.timestamp(), at.timestamp()))
    prune = site.congvu("archive", "prune")
    assert prune.exit_code == 0, prune.output
    result = site.congvu("archive", "proof", str(rid), "--out", str(site.root / "p"))
    assert result.exit_code == 1
    assert f"{sha} was removed by retention at" in result.output
    event = int(prune.output.split("audit event ")[-1].split()[0])
    assert f"by archive-prune event {event} (ledger " in result.output


def test_audit_verify_refuses_a_signed_link_the_rows_do_not_give(site: Site) -> None:
    site.relayed("một")
    site.relayed("hai")
    with AuditLog.open(site.audit) as log:
        cp = log.checkpoint()
        hashes = [h for (h,) in log.db.conn.execute("SELECT hash FROM events ORDER BY seq")]
        assert cp.link_from is not None
        assert cp.link == link_of(hashes[cp.link_from:cp.seq])
        # the key holder signs a link that leaves a row out
        signer = CheckpointSigner.load_or_create(site.audit.keys_dir)
        forged = signer.sign(cp.seq, cp.hash, cp.at, schedule=cp.schedule,
                             batch_from=cp.batch_from,
                             link=(cp.link_from, link_of(hashes[cp.link_from + 1:cp.seq])))
        log.db.conn.execute("UPDATE checkpoints SET link = ?, link_signature = ? "
                            "WHERE seq = ?", (forged.link, forged.link_signature, cp.seq))
        log.db.conn.commit()
    result = site.congvu("audit", "verify")
    assert result.exit_code == 1
    assert f"the checkpoint at record {cp.seq} signs a link" in result.output


def test_the_bundle_moves_with_its_files_alone(bundle: tuple[Site, int, Path]) -> None:
    site, _, out = bundle
    key = site.key
    moved = site.root / "elsewhere"
    shutil.copytree(out, moved)
    shutil.rmtree(site.data)
    assert check(site, moved, "--key", "SHA256:" + key[7:].upper()).exit_code == 0
