"""``congvu backup`` and ``congvu restore`` on real stores: a backup taken while a writer
is appending to the audit log restores into an empty data directory and verifies."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import click
import pytest
from argon2.profiles import CHEAPEST
from click.testing import CliRunner, Result

from audit import AuditLog, fingerprint, sign_file_bytes
from audit.keys import own_public_key
from congvu.cli import main
from congvu.config import CongvuConfig, load_config
from directory import Directory
from milter.checks import check_locally
from policies import Action, Decision, Quarantine, Violation
from policies.model import Finding
from signer.keys import Algorithm
from support.audit import T0, make_record
from support.dkim import make_key
from support.forgery import rechain
from web import UserStore

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


def _site(root: Path, *, key: Path | None = None, pins: tuple[str, ...] = ()) -> Site:
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

[audit]
checkpoint_public_keys = {json.dumps(list(pins))}
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


def checkpoint_key(site: Site) -> str:
    """The fingerprint of a site's audit checkpoint key, as an administrator pins it."""
    key = own_public_key(site.config.audit.keys_dir)
    assert key is not None
    return fingerprint(key)


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
    with AuditLog.open_readonly(tmp_path / "bk" / "audit.sqlite3",
                                trust=site.config.audit.key_trust()) as copy:
        report = copy.verify()
        assert report.is_intact, report.describe()
        assert 10 + 20 <= report.events <= 10 + len(written)

    # A new machine: the administrator pinned the checkpoint key in its configuration.
    new = _site(tmp_path / "new", key=site.key, pins=(checkpoint_key(site),))
    result = run("restore", str(tmp_path / "bk"), "--config", str(new.path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"MANIFEST.sig: signed by {checkpoint_key(site)} (pinned in [audit] "
        "checkpoint_public_keys)\n")
    assert f"restored the audit store to {new.config.audit.path}" in result.output
    assert "restored 2 quarantined messages" in result.output
    assert "audit: intact:" in result.output
    with Directory.open(new.config.directory.path, read_only=True) as store:
        assert [unit.id for unit in store.units()] == ["ubnd", "stc"]
    with Quarantine(new.config.policies.quarantine.path) as held:
        assert sorted(held.read(e.id) for e in held.list()) == [
            b"Subject: x\r\n\r\none\r\n", b"Subject: x\r\n\r\ntwo\r\n"]
    with AuditLog.open_readonly(new.config.audit.path, trust=new.config.audit.key_trust()) as log:
        assert log.verify().is_intact
    users = sqlite3.connect(new.config.data_dir / "web" / "users.sqlite3")
    assert users.execute("SELECT login FROM users").fetchall() == [("kiemtoan",)]
    users.close()
    assert new.config.signer.dkim.state_file.read_text() == '{"keys": []}'


def test_the_users_store_is_copied_from_and_restored_to_where_web_path_puts_it(
        tmp_path: Path) -> None:
    def moved(site: Site) -> CongvuConfig:
        with site.path.open("a", encoding="utf-8") as toml:
            toml.write('\n[web]\npath = "console/people.sqlite3"\n')
        return load_config(site.path)

    old = _site(tmp_path / "old")
    config = moved(old)
    assert check_locally(config, create=True) == []
    with AuditLog.open(config.audit) as log:
        log.record(make_record())
    with UserStore(config.web.path, hashing=CHEAPEST) as users:
        users.add("kiemtoan", "long enough pw")
    result = run("backup", str(tmp_path / "bk"), "--config", str(old.path))
    assert result.exit_code == 0, result.output
    store = config.data_dir / "console" / "people.sqlite3"
    assert f"web-users: {store} -> {tmp_path / 'bk' / 'web-users.sqlite3'}" in result.output
    new = _site(tmp_path / "new", key=old.key, pins=(checkpoint_key(old),))
    restored_config = moved(new)
    result = run("restore", str(tmp_path / "bk"), "--config", str(new.path))
    assert result.exit_code == 0, result.output
    assert (f"restored the web-users store to {restored_config.web.path}"
            in result.output)
    with UserStore(restored_config.web.path, hashing=CHEAPEST) as users:
        assert users.authenticate("kiemtoan", "long enough pw") is not None


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
    new = _site(tmp_path / "new", key=site.key, pins=(checkpoint_key(site),))
    result = run("restore", str(tmp_path / "bk2"), "--config", str(new.path))
    assert result.exit_code == 0, result.output
    restored = new.config.audit.keys_dir / "audit-checkpoint.key"
    assert f"restored audit checkpoint signing key to {restored}" in result.output
    assert restored.stat().st_mode & 0o777 == 0o600


def test_what_a_restore_writes_is_private_whatever_the_umask(site: Site, tmp_path: Path) -> None:
    result = run("backup", str(tmp_path / "bk"), "--config", str(site.path), "--include-keys")
    assert result.exit_code == 0, result.output
    new = _site(tmp_path / "new", key=site.key, pins=(checkpoint_key(site),))
    old = os.umask(0)
    try:
        result = run("restore", str(tmp_path / "bk"), "--config", str(new.path))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert "restored 2 quarantined messages" in result.output
    held = [p for p in new.config.policies.quarantine.path.rglob("*") if p.is_file()
            and not p.name.startswith("index")]
    written = [new.config.signer.dkim.state_file,
               new.config.audit.keys_dir / "audit-checkpoint.key", *held]
    assert len(held) >= 2
    assert {str(p): p.stat().st_mode & 0o777 for p in written} == {
        str(p): 0o600 for p in written}
    made = {p.parent for p in written}
    assert {str(d): d.stat().st_mode & 0o777 for d in made} == {str(d): 0o700 for d in made}
    assert not [p for d in made for p in d.iterdir() if p.name.endswith(".tmp")]


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
    with AuditLog.open_readonly(site.config.audit.path,
                                trust=site.config.audit.key_trust()) as log:
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


def _rewrite_manifest(backup: Path) -> None:
    """What an attacker who edited the audit store does next: fix the manifest's sum."""
    copy, manifest_path = backup / "audit.sqlite3", backup / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    for store in manifest["stores"]:
        if store["name"] == "audit":
            store["sha256"] = hashlib.sha256(copy.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


def test_an_edited_backup_and_manifest_are_refused(site: Site, tmp_path: Path) -> None:
    assert run("backup", str(tmp_path / "bk"), "--config", str(site.path)).exit_code == 0
    db = sqlite3.connect(tmp_path / "bk" / "audit.sqlite3")
    db.execute("UPDATE events SET envelope_sender = 'ke-gia-mao@x.vn' WHERE seq = 3")
    db.commit()
    db.close()
    _rewrite_manifest(tmp_path / "bk")
    new = _site(tmp_path / "new", key=site.key, pins=(checkpoint_key(site),))
    result = run("restore", str(tmp_path / "bk"), "--config", str(new.path))
    assert result.exit_code == 1
    assert "MANIFEST.sig does not verify: the signature does not match the file (it was " \
           "changed). A backup someone edited would look like this." in result.output
    assert not new.config.audit.path.exists()
    # Forced through, the chain check still catches the edit.
    result = run("restore", str(tmp_path / "bk"), "--config", str(new.path),
                 "--accept-unsigned")
    assert result.exit_code == 1
    assert "restoring anyway because of --accept-unsigned" in result.output
    assert "the restored audit chain is NOT intact" in result.output


def test_a_rechained_backup_resigned_with_another_key_is_refused(site: Site,
                                                                 tmp_path: Path) -> None:
    backup = tmp_path / "bk"
    assert run("backup", str(backup), "--config", str(site.path)).exit_code == 0
    forger = tmp_path / "forger"
    rechain(backup / "audit.sqlite3", edit={3: {"subject": "đã sửa"}}, sign_with=forger)
    _rewrite_manifest(backup)
    (backup / "MANIFEST.sig").write_text(
        sign_file_bytes(forger, (backup / "MANIFEST.json").read_bytes()))
    forged = fingerprint(own_public_key(forger) or "")
    result = run("restore", str(backup), "--config", str(site.path), "--force")
    assert result.exit_code == 1
    assert f"MANIFEST.sig is signed by {forged}, which this host does not trust " \
           f"(trusted: {checkpoint_key(site)} (this server's own key" in result.output
    result = run("restore", str(backup), "--config", str(site.path), "--force",
                 "--accept-unsigned")
    assert result.exit_code == 1
    assert f"the checkpoint at record 10 is signed by key {forged}, which is not " \
           "trusted" in result.output


def test_an_unsigned_backup_needs_accept_unsigned(site: Site, tmp_path: Path) -> None:
    # A backup made before backups were signed: no MANIFEST.sig.
    backup = tmp_path / "bk"
    assert run("backup", str(backup), "--config", str(site.path)).exit_code == 0
    (backup / "MANIFEST.sig").unlink()
    new = _site(tmp_path / "new", key=site.key, pins=(checkpoint_key(site),))
    result = run("restore", str(backup), "--config", str(new.path))
    assert result.exit_code == 1
    assert "MANIFEST.sig is missing: the backup is unsigned." in result.output
    assert not new.config.audit.path.exists()
    result = run("restore", str(backup), "--config", str(new.path), "--accept-unsigned")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("MANIFEST.sig is missing: the backup is unsigned; "
                                    "restoring anyway because of --accept-unsigned\n")
    assert "audit: intact:" in result.output


def test_a_backup_signed_by_an_unknown_key_on_a_new_host(site: Site, tmp_path: Path) -> None:
    # No pins and no checkpoint key yet on the new host: nothing to check it against.
    assert run("backup", str(tmp_path / "bk"), "--config", str(site.path)).exit_code == 0
    new = _site(tmp_path / "new", key=site.key)
    result = run("restore", str(tmp_path / "bk"), "--config", str(new.path))
    assert result.exit_code == 1
    assert f"is signed by {checkpoint_key(site)}, which this host does not trust (trusted: " \
           "no key is trusted" in result.output


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
        # get_command, not .commands: the root group imports a command when it is asked
        # for it, so .commands holds only what earlier tests in this process ran
        while isinstance(command, click.Group) and words and (
                found := command.get_command(context, words[0])) is not None:
            command, _ = found, words.pop(0)
        assert command is not main, call
        command.make_context(command.name, words, parent=context)  # raises on a bad option
    # the two services that run all the time; every other one is a timer's
    if (SYSTEMD / unit.replace(".service", ".timer")).exists() or unit in (
            "congvu.service", "congvu-web.service"):
        return
    raise AssertionError(f"{unit} has no timer")
