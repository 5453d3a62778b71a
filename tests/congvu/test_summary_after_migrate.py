"""The report's summary when a log's rows came another way: `doctor` warns, naming the
command that mends it, and `congvu store migrate` (with or without `--chain-id`) counts
what it copied before it ends, also on a run after one that stopped before counting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result

import audit
from audit import summary
from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.store import AuditLog
from congvu.cli import main
from congvu.config import CongvuConfig, load_config
from milter.doctor import check_report_summary
from milter.findings import Level
from support.audit import T0, bulk_fill, make_record
from support.postgres import password_file

FIX = "run `congvu audit summary rebuild`"


def _server(root: Path, name: str, records: int) -> Path:
    """A mail server's data directory whose log holds ``records`` relayed messages."""
    data = root / name
    with AuditLog.open(AuditConfig(path=data / "audit.sqlite3", keys_dir=data / "keys")) as log:
        for i in range(records):
            seq = log.record(make_record(received_at=T0 + timedelta(days=40 * i),
                                         subject=f"{name} {i}"))
            log.complete(Completion(record_id=seq, outcome=Fate.RELAYED, reply="250 ok"))
    path = root / f"{name}.toml"
    path.write_text(f'[service]\ndata_dir = "{data}"\n', encoding="utf-8")
    return path


def _shared(root: Path, url: str, secret: Path) -> CongvuConfig:
    path = root / "shared.toml"
    path.write_text(f'[service]\ndata_dir = "{root / "shared"}"\n[store]\nurl = "{url}"\n'
                    f'password_file = "{secret}"\n', encoding="utf-8")
    return load_config(path)


def _said(config: CongvuConfig) -> tuple[Level, str, str]:
    [finding] = check_report_summary(config)
    return finding.level, finding.message, finding.fix


def _migrate(config: Path, url: str, secret: Path, *more: str) -> Result:
    result = CliRunner().invoke(main, ["store", "migrate", "--to", url, "--password-file",
                                       str(secret), "--config", str(config), *more])
    assert result.exit_code == 0, result.output
    return result


def test_a_log_filled_another_way_is_warned_of_until_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")
    config = load_config(path)
    assert list(check_report_summary(config)) == []  # no log yet: nothing to say
    # rows written without counting them, as an older release or a bulk load does
    config.audit.path.parent.mkdir(mode=0o700)
    bulk_fill(config.audit.path, 40, units=3, months=2, keys_dir=config.audit.keys_dir,
              has_completions=True)
    AuditLog.open(config.audit).close()  # migrated, as serve does at its start
    level, message, fix = _said(config)
    assert level is Level.WARNING
    assert ("the report's summary is behind the log: it counts the live chain up to "
            "event 0, which is at 80; until it is counted again the report reads every "
            "record") in message
    assert fix.startswith(FIX)
    rebuilt = CliRunner().invoke(main, ["audit", "summary", "rebuild", "--config", str(path)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert _said(config)[:2] == (Level.OK, "the report's summary counts the whole log")
    with AuditLog.open(config.audit) as log:  # what this release appends, it counts
        log.record(make_record(subject="after the rebuild"))
    assert _said(config)[0] is Level.OK
    # as retention leaves it when it removed what decided a held message
    with AuditLog.open(config.audit) as log, log._immediate("forget the summary"):
        summary.mark_stale(log.db.conn)
    assert "behind the log: it was never built, or was left to be counted again" \
        in _said(config)[1]
    doctor = CliRunner().invoke(main, ["doctor", "--config", str(path), "--no-postfix"])
    assert ("WARNING audit report summary: the report's summary is behind the log"
            in doctor.output)


def test_store_migrate_leaves_the_summary_current(postgres_url: str, tmp_path: Path) -> None:
    secret = password_file(tmp_path)
    shared = _shared(tmp_path, postgres_url, secret)
    first = _migrate(_server(tmp_path, "lamdong", 3), postgres_url, secret)
    assert "audit log: the report summary counted again: 3 month(s), up to event 6" \
        in first.stdout
    assert _said(shared)[0] is Level.OK
    imported = _migrate(_server(tmp_path, "daknong", 2), postgres_url, secret,
                        "--chain-id", "daknong")
    assert "4 events imported as chain daknong" in imported.stdout
    assert "audit log: the report summary counted again" in imported.stdout
    assert _said(shared)[:2] == (Level.OK, "the report's summary counts the whole log")
    again = _migrate(tmp_path / "daknong.toml", postgres_url, secret, "--chain-id", "daknong")
    assert "audit log: the report summary counts the whole log" in again.stdout


def test_a_copy_left_uncounted_is_warned_of_and_counted_by_the_next_run(
        postgres_url: str, tmp_path: Path) -> None:
    secret = password_file(tmp_path)
    shared = _shared(tmp_path, postgres_url, secret)
    _migrate(_server(tmp_path, "lamdong", 1), postgres_url, secret)
    # the copy alone, as a run stopped before its last step leaves it
    daknong = AuditConfig(path=tmp_path / "daknong" / "audit.sqlite3",
                          keys_dir=tmp_path / "daknong" / "keys")
    _server(tmp_path, "daknong", 2)
    with AuditLog.open_readonly(daknong.path) as source:
        audit.copy_log(source, AuditConfig(url=postgres_url, password_file=secret,
                                           keys_dir=daknong.keys_dir),
                       trust=daknong.key_trust(), chain_id="daknong")
    level, message, fix = _said(shared)
    assert level is Level.WARNING
    assert "chains imported since are not in it (daknong)" in message
    assert fix.startswith(FIX)
    rerun = _migrate(tmp_path / "daknong.toml", postgres_url, secret, "--chain-id", "daknong")
    assert "already imported as chain daknong" in rerun.stdout
    assert "audit log: the report summary counted again" in rerun.stdout
    assert _said(shared)[0] is Level.OK
