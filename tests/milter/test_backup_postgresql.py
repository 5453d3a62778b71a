"""``congvu backup`` and ``restore`` when the shared stores are in PostgreSQL: the backup
holds what is this server's (keys listed or copied, the stores that stay files, the
files under the data directory), names each store in PostgreSQL with its URL, says that
PostgreSQL's own tools back those up, and a restore says the same instead of failing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from archive import Archive
from audit import AuditLog, fingerprint, own_public_key
from congvu.cli import main
from congvu.config import CongvuConfig, load_config
from milter.backup import backup
from milter.checks import check_locally
from support.audit import T0, make_record
from support.postgres import password_file


def _site(root: Path, url: str, *, extra: str = "") -> tuple[Path, CongvuConfig]:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "congvu.toml"
    path.write_text(f"""
[service]
data_dir = "{root / 'var'}"

[store]
url = "{url}"
password_file = "{password_file(root)}"
{extra}
""", encoding="utf-8")
    return path, load_config(path)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_a_backup_names_the_stores_in_postgresql_and_holds_the_rest(
        postgres_url: str, tmp_path: Path) -> None:
    path, config = _site(tmp_path / "site", postgres_url)
    assert check_locally(config, create=True) == []
    with AuditLog.open(config.audit) as log:
        log.record(make_record())
    # a SQLite log left from before the move to PostgreSQL is not this server's log
    config.audit.path.parent.mkdir(parents=True, exist_ok=True)
    config.audit.path.write_bytes(b"stale")
    config.signer.dkim.state_file.parent.mkdir(parents=True, exist_ok=True)
    config.signer.dkim.state_file.write_text('{"keys": []}')
    config.web.path.parent.mkdir(parents=True, exist_ok=True)
    config.web.path.write_bytes(b"stale")
    out = tmp_path / "backup"
    result = run("backup", "--config", str(path), str(out))
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest["postgresql"] == [
        {"name": "directory", "what": "the directory (units, history, roster)",
         "url": postgres_url},
        {"name": "audit", "what": "the audit log", "url": postgres_url},
        {"name": "archive", "what": "the archive of relayed messages", "url": postgres_url},
        {"name": "quarantine", "what": "the quarantine (index and held messages)",
         "url": postgres_url},
        {"name": "dkim-rotation", "what": "the DKIM key rotation state", "url": postgres_url},
        {"name": "web-users", "what": "the console's users, grants and sessions",
         "url": postgres_url}]
    assert "audit" not in [s["name"] for s in manifest["stores"]]
    # nor the console users store: it is in PostgreSQL, whatever file lies at its old path
    assert "web-users" not in [s["name"] for s in manifest["stores"]]
    assert (f"web-users: NOT in this backup: the console's users, grants and sessions is in "
            f"PostgreSQL ({postgres_url})") in result.output.splitlines()
    assert not (out / "audit.sqlite3").exists()
    lines = result.output.splitlines()
    assert f"audit: NOT in this backup: the audit log is in PostgreSQL ({postgres_url})" in lines
    assert ("PostgreSQL: back them up with PostgreSQL's tools: pg_dump -Fc -f congvu-1.dump "
            f"'{postgres_url}' (one consistent snapshot") in result.output
    assert "pg_basebackup" in result.output
    # what the backup holds is said too: the state file under the data directory, the keys
    assert (f"dkim-rotation: {config.signer.dkim.state_file} -> "
            f"{out / 'dkim-rotation.state'}") in lines
    assert any(line.startswith("key ") and "audit checkpoint signing key" in line
               and "NOT copied" in line for line in lines)
    assert (out / "MANIFEST.sig").is_file()

    key = own_public_key(config.audit.keys_dir)
    assert key is not None
    _, fresh = _site(tmp_path / "new", postgres_url,
                     extra=f'\n[audit]\ncheckpoint_public_keys = ["{fingerprint(key)}"]\n')
    restored = run("restore", "--config", str(tmp_path / "new" / "congvu.toml"), str(out))
    assert restored.exit_code == 0, restored.output
    assert (f"not in this backup: the audit log, in PostgreSQL ({postgres_url}): restore "
            "that database with pg_restore, or from its base backup") in restored.output
    assert fresh.signer.dkim.state_file.read_text() == '{"keys": []}'


def test_archived_files_are_found_through_the_log_in_postgresql(
        postgres_url: str, tmp_path: Path) -> None:
    root = tmp_path / "site"
    _, config = _site(root, postgres_url,
                      extra=f'\n[archive]\npath = "{root / "var" / "archive"}"\n')
    assert check_locally(config, create=True) == []
    kept = Archive.open(config.archive.path).put(b"Subject: x\r\n\r\nbody\r\n")
    with AuditLog.open(config.audit) as log:
        log.record(make_record(archived_sha256=kept.sha256))
        log.record(make_record(received_at=T0 + timedelta(minutes=1)))
    manifest = backup(config, tmp_path / "backup")
    assert [s["name"] for s in manifest["postgresql"]] == [
        "directory", "audit", "quarantine", "dkim-rotation", "web-users"]
    assert manifest["archive"]["objects"] == 1
    assert (tmp_path / "backup" / "archive" / "OBJECTS").read_text() == f"{kept.sha256}\n"


def test_a_backup_of_sqlite_stores_is_not_restored_into_a_postgresql_configuration(
        postgres_url: str, tmp_path: Path) -> None:
    path = tmp_path / "old" / "congvu.toml"
    path.parent.mkdir()
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "old" / "var"}"\n', encoding="utf-8")
    old = load_config(path)
    assert check_locally(old, create=True) == []
    with AuditLog.open(old.audit) as log:
        log.record(make_record())
    backup(old, tmp_path / "backup")
    key = own_public_key(old.audit.keys_dir)
    assert key is not None
    new, _ = _site(tmp_path / "new", postgres_url,
                   extra=f'\n[audit]\ncheckpoint_public_keys = ["{fingerprint(key)}"]\n')
    result = run("restore", "--config", str(new), str(tmp_path / "backup"))
    assert result.exit_code == 1
    assert ("the backup holds the directory store as a SQLite file, and this configuration "
            f"puts it in PostgreSQL ({postgres_url})") in result.output
    assert "congvu store migrate" in result.output
