"""The `[store]` table: the shared PostgreSQL store, and how each store's table overrides it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from congvu.cli import main
from congvu.config import parse_config
from milter.errors import ConfigError

URL = "postgresql://congvu@db.tinh.gov.vn:5432/congvu"


def test_the_audit_log_goes_to_the_shared_store(tmp_path: Path) -> None:
    config = parse_config({"service": {"data_dir": str(tmp_path)},
                           "store": {"url": URL, "password_file": "secrets/pg"}})
    assert config.audit.url == URL
    assert config.audit.password_file == tmp_path / "secrets" / "pg"


def test_a_table_of_its_own_overrides_the_shared_store(tmp_path: Path) -> None:
    other = "postgresql://audit@db2.tinh.gov.vn/audit"
    own_url = parse_config({"store": {"url": URL}, "audit": {"url": other}})
    assert own_url.audit.url == other
    own_file = parse_config({"service": {"data_dir": str(tmp_path)}, "store": {"url": URL},
                             "audit": {"path": "audit.sqlite3"}})
    assert own_file.audit.url is None
    assert own_file.audit.path == tmp_path / "audit.sqlite3"
    assert parse_config({}).audit.url is None  # no [store]: SQLite as before


@pytest.mark.parametrize(("data", "where", "says"), [
    ({"store": {"url": "postgresql://congvu:hunter2@db/congvu"}}, "store.url",
     "must not contain a password: put it in [store] password_file"),
    ({"audit": {"url": URL, "path": "audit.sqlite3"}}, "audit",
     "path and url name two audit stores"),
    ({"store": {"password_file": "pg"}}, "store", "password_file is set but url is not"),
    ({"store": {"url": "mysql://congvu@db/congvu"}}, "store.url", "starts with postgresql://"),
])
def test_store_settings_that_are_refused(data: dict[str, object], where: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert f"{where}:" in str(info.value) and says in str(info.value)
    assert "hunter2" not in str(info.value)


def test_config_show_never_shows_the_password(tmp_path: Path) -> None:
    secret = tmp_path / "pg-password"
    secret.write_text("mat-khau-bi-mat\n")
    secret.chmod(0o600)
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path}/var"\n'
                    f'[store]\nurl = "{URL}"\npassword_file = "{secret}"\n', encoding="utf-8")
    shown = CliRunner().invoke(main, ["config", "show", "--config", str(path)])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["store"] == {"url": URL, "password_file": str(secret)}
    assert data["audit"]["url"] == URL
    assert "mat-khau-bi-mat" not in shown.output


def test_config_check_refuses_a_password_file_others_can_read(tmp_path: Path) -> None:
    secret = tmp_path / "pg-password"
    secret.write_text("mat-khau\n")
    secret.chmod(0o644)
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path}/var"\n'
                    f'[store]\nurl = "{URL}"\npassword_file = "{secret}"\n', encoding="utf-8")
    checked = CliRunner().invoke(main, ["config", "check", str(path)])
    assert checked.exit_code == 2
    assert "audit.url:" in checked.output and "chmod 600" in checked.output
