"""`congvu audit checkpoint export` on a store with no event yet: the nightly checkpoint
job of a new server before its first mail succeeds and writes nothing."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.store import AuditLog
from support.audit import make_record


def _group(config: AuditConfig) -> click.Group:
    [group] = commands(lambda _path: config, descendants=lambda unit: [unit])
    assert isinstance(group, click.Group)
    return group


def test_an_empty_store_has_nothing_to_checkpoint_and_that_is_no_failure(
        audit_config: AuditConfig, tmp_path: Path) -> None:
    with AuditLog.open(audit_config):
        pass
    out = tmp_path / "checkpoint.json"
    result = CliRunner().invoke(_group(audit_config), ["checkpoint", "export", "--out", str(out)])
    assert (result.exit_code, result.output) == (
        0, f"no events to checkpoint yet: nothing written to {out}\n")
    assert not out.exists()
    # the first event makes the next night's export sign it
    with AuditLog.open(audit_config) as log:
        log.record(make_record())
    result = CliRunner().invoke(_group(audit_config), ["checkpoint", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "checkpoint of record 1 " in result.output
    assert out.is_file()
