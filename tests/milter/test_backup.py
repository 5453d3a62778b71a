"""``congvu backup`` and ``congvu restore`` on real stores: a backup taken while a writer
is appending to the audit log restores into an empty data directory and verifies."""

from __future__ import annotations

import hashlib
import json
import shlex
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from audit import AuditLog
from directory import Directory
from milter.checks import check_locally
from milter.cli import main
from milter.config import CongvuConfig, load_config
from policies import Action, Decision, Quarantine, Violation
from policies.model import Finding
from signer.keys import Algorithm
from support.audit import T0, make_record
from support.dkim import make_key

CSV = """id,name,parent,address,senders,dkim_domain
ubnd,Ủy ban nhân dân tỉnh,,ubnd@tinh.gov.vn,ubnd@tinh.gov.vn,tinh.gov.vn
stc,Sở Tài chính,ubnd,stc@tinh.gov.vn,stc@tinh.gov.vn,tinh.gov.vn
"""
DECISION = Decision(Action.QUARANTINE, (Finding(Violation("macro", "VBA", "a.docm"),
                                                Action.QUARANTINE, None),))


@dataclass
class Site:
    path: Path
    config: CongvuConfig
    key: Path


def _site(root: Path, *, key: Path | None = None) -> Site:
    root.mkdir(parents=True, exist_ok=True)
    if key is None:
        (root / "dkim").mkdir()
        key = make_key(root / "dkim", "s1", Algorithm.ED25519_SHA256).path
    path = root / "congvu.toml"
    path.write_text(f"""
[service]
data_dir = "{root / 'var'}"

[[signer.dkim.keys]]
domain = "tinh.gov.vn"
selector = "s1"
key_file = "{key}"
algorithm = "ed25519-sha256"
""", encoding="utf-8")
    return Site(path, load_config(path), key)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A data directory with a directory, ten audit records and two held messages."""
    site = _site(tmp_path / "old")
    assert check_locally(site.config, create=True) == []
    with Directory.open(site.config.directory.path) as store:
        store.import_csv(CSV, actor="test")
    with AuditLog.open(site.config.audit) as log:
        for i in range(10):
            log.record(make_record(received_at=T0 + timedelta(minutes=i),
                                   message_id=f"<m{i}@tinh.gov.vn>"))
    users = site.config.data_dir / "web" / "users.sqlite3"
    users.parent.mkdir()
    with sqlite3.connect(users) as db:  # the web console's store, as far as backup cares
        db.execute("CREATE TABLE users (login TEXT)")
        db.execute("INSERT INTO users VALUES ('kiemtoan')")
    db.close()
    site.config.signer.dkim.state_file.parent.mkdir(parents=True)
    site.config.signer.dkim.state_file.write_text('{"keys": []}')
    with Quarantine(site.config.policies.quarantine.path) as held:
        for body in (b"one", b"two"):
            held.put(b"Subject: x\r\n\r\n" + body + b"\r\n", envelope_from="stc@tinh.gov.vn",
                     recipients=["ubnd@tinh.gov.vn"], direction="outbound", unit_id="stc",
                     decision=DECISION)
    yield site


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_backup_while_a_writer_writes_restores_and_verifies(site: Site, tmp_path: Path) -> None:
    started, stop = threading.Event(), threading.Event()
    written: list[int] = []

    def writer() -> None:
        with AuditLog.open(site.config.audit) as log:
            i = 0
            while not stop.is_set():
                log.record(make_record(message_id=f"<w{i}@tinh.gov.vn>"))
                written.append(i)
                i += 1
                if i == 20:
                    started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(30)
        result = run("backup", str(tmp_path / "bk"), "--config", str(site.path))
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "bk" / "MANIFEST.json").read_text())
    assert [s["name"] for s in manifest["stores"]] == [
        "directory", "audit", "quarantine", "web-users"]
    assert len(manifest["quarantine_objects"]) == 2
    # The copy is a consistent snapshot taken mid-write: its chain verifies on its own.
    with AuditLog.open_readonly(tmp_path / "bk" / "audit.sqlite3") as copy:
        report = copy.verify()
        assert report.is_intact, report.describe()
        assert 10 + 20 <= report.events <= 10 + len(written)

    new = _site(tmp_path / "new", key=site.key)
    result = run("restore", str(tmp_path / "bk"), "--config", str(new.path))
    assert result.exit_code == 0, result.output
    assert f"restored the audit store to {new.config.audit.path}" in result.output
    assert "restored 2 quarantined messages" in result.output
    assert "audit: intact:" in result.output
    with Directory.open(new.config.directory.path, read_only=True) as store:
        assert [unit.id for unit in store.units()] == ["ubnd", "stc"]
    with Quarantine(new.config.policies.quarantine.path) as held:
        assert sorted(held.read(e.id) for e in held.list()) == [
            b"Subject: x\r\n\r\none\r\n", b"Subject: x\r\n\r\ntwo\r\n"]
    with AuditLog.open_readonly(new.config.audit.path) as log:
        assert log.verify().is_intact
    users = sqlite3.connect(new.config.data_dir / "web" / "users.sqlite3")
    assert users.execute("SELECT login FROM users").fetchall() == [("kiemtoan",)]
    users.close()
    assert new.config.signer.dkim.state_file.read_text() == '{"keys": []}'


def test_private_keys_are_listed_not_copied_unless_asked(site: Site, tmp_path: Path) -> None:
    result = run("backup", str(tmp_path / "bk"), "--config", str(site.path))
    assert result.exit_code == 0, result.output
    assert f"key {site.key} (DKIM key s1._domainkey.tinh.gov.vn): NOT copied" in result.output
    assert not (tmp_path / "bk" / "keys").exists()
    keys = json.loads((tmp_path / "bk" / "MANIFEST.json").read_text())["keys"]
    assert {"what": "DKIM key s1._domainkey.tinh.gov.vn", "path": str(site.key),
            "exists": True} in keys
    assert site.key.read_bytes() not in b"".join(
        p.read_bytes() for p in (tmp_path / "bk").rglob("*") if p.is_file())

    result = run("backup", str(tmp_path / "bk2"), "--config", str(site.path), "--include-keys")
    assert result.exit_code == 0, result.output
    [copied] = [p for p in (tmp_path / "bk2" / "keys").iterdir() if p.name.endswith("s1.pem")]
    assert copied.read_bytes() == site.key.read_bytes()
    assert copied.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "bk2").stat().st_mode & 0o777 == 0o700
    # Restored with the keys into a new place: the checkpoint key comes back 0600.
    new = _site(tmp_path / "new", key=site.key)
    result = run("restore", str(tmp_path / "bk2"), "--config", str(new.path))
    assert result.exit_code == 0, result.output
    restored = new.config.audit.keys_dir / "audit-checkpoint.key"
    assert f"restored audit checkpoint signing key to {restored}" in result.output
    assert restored.stat().st_mode & 0o777 == 0o600


def test_restore_refuses_to_overwrite_existing_stores_without_force(
        site: Site, tmp_path: Path) -> None:
    assert run("backup", str(tmp_path / "bk"), "--config", str(site.path)).exit_code == 0
    with AuditLog.open(site.config.audit) as log:
        log.record(make_record(message_id="<after@tinh.gov.vn>"))
    result = run("restore", str(tmp_path / "bk"), "--config", str(site.path))
    assert result.exit_code == 1
    assert "these stores exist and would be overwritten:" in result.output
    assert str(site.config.audit.path) in result.output
    result = run("restore", str(tmp_path / "bk"), "--config", str(site.path), "--force")
    assert result.exit_code == 0, result.output
    with AuditLog.open_readonly(site.config.audit.path) as log:
        assert log.verify().events == 10  # the record written after the backup is gone


def test_backup_refuses_a_non_empty_directory(site: Site, tmp_path: Path) -> None:
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "other").write_text("x")
    result = run("backup", str(tmp_path / "bk"), "--config", str(site.path))
    assert result.exit_code == 1
    assert "exists and is not an empty directory" in result.output


def test_restore_of_a_damaged_backup_is_refused(site: Site, tmp_path: Path) -> None:
    assert run("backup", str(tmp_path / "bk"), "--config", str(site.path)).exit_code == 0
    with (tmp_path / "bk" / "audit.sqlite3").open("r+b") as handle:
        handle.seek(5000)
        handle.write(b"\xff" * 16)
    new = _site(tmp_path / "new", key=site.key)
    result = run("restore", str(tmp_path / "bk"), "--config", str(new.path))
    assert result.exit_code == 1
    assert "does not match its SHA-256 in MANIFEST.json; the backup is damaged" in result.output
    assert not new.config.audit.path.exists()


def test_a_tampered_chain_fails_verification_after_restore(site: Site, tmp_path: Path) -> None:
    assert run("backup", str(tmp_path / "bk"), "--config", str(site.path)).exit_code == 0
    copy = tmp_path / "bk" / "audit.sqlite3"
    db = sqlite3.connect(copy)
    db.execute("UPDATE events SET envelope_sender = 'ke-gia-mao@x.vn' WHERE seq = 3")
    db.commit()
    db.close()
    manifest_path = tmp_path / "bk" / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    for store in manifest["stores"]:
        if store["name"] == "audit":  # an attacker who also rewrites the manifest
            store["sha256"] = hashlib.sha256(copy.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    new = _site(tmp_path / "new", key=site.key)
    result = run("restore", str(tmp_path / "bk"), "--config", str(new.path))
    assert result.exit_code == 1
    assert "the restored audit chain is NOT intact" in result.output


def test_restore_from_a_directory_that_is_not_a_backup(site: Site, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run("restore", str(tmp_path / "empty"), "--config", str(site.path))
    assert result.exit_code == 1
    assert "is not a congvu backup: cannot read MANIFEST.json" in result.output


def test_a_broken_configuration_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[service\n")
    result = run("backup", str(tmp_path / "bk"), "--config", str(bad))
    assert result.exit_code == 2
    assert "not valid TOML" in result.output


SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


@pytest.mark.parametrize("unit", sorted(p.name for p in SYSTEMD.glob("*.service")))
def test_the_systemd_units_run_congvu_commands_that_exist(unit: str) -> None:
    """Every congvu command line in deploy/systemd parses (a renamed option would make
    a timer fail silently every month)."""
    text = (SYSTEMD / unit).read_text()
    calls = [line.split("/opt/congvu/venv/bin/congvu ", 1)[1]
             for line in text.splitlines() if "/opt/congvu/venv/bin/congvu " in line
             and not line.startswith("#")]
    assert calls
    for call in calls:
        # Drop the closing quote of `sh -c '...'`; systemd's $$ and %% are $ and %.
        words = shlex.split(call.rstrip("'").replace("$$", "$").replace("%%", "%"))
        command: click.Command = main
        context = click.Context(main)
        while isinstance(command, click.Group) and words and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        assert command is not main, call
        command.make_context(command.name, words, parent=context)  # raises on a bad option
    if (SYSTEMD / unit.replace(".service", ".timer")).exists() or unit == "congvu.service":
        return
    raise AssertionError(f"{unit} has no timer")
