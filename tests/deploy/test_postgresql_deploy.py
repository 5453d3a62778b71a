"""deploy/postgresql/ as written: roles.sql on a cluster of its own makes a database the
mail servers' role migrates and writes and the inspectors' role only reads, closed to
every other role; congvu-shared.toml, added to the example configuration, puts the
stores in that database with both servers' keys pinned."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from audit.config import AuditConfig
from audit.errors import AuditError
from audit.store import AuditLog
from congvu.config import load_config
from support import postgres
from support.audit import make_record

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="module")
def cluster() -> Iterator[postgres.PostgresCluster]:
    """A cluster of its own, where roles.sql runs as on a new database server."""
    reason = postgres.missing()
    if reason is not None:
        pytest.fail(f"PostgreSQL cannot run here: {reason}")
    cluster = postgres.PostgresCluster()
    cluster.start()
    with cluster.admin() as db:
        db.execute(f"DROP ROLE {postgres.ROLE}")  # the test cluster's own; roles.sql makes it
    subprocess.run([str(cluster.bin / "psql"), "-h", str(cluster.socket_dir),
                    "-p", str(cluster.port), "-U", cluster.superuser, "-d", "postgres",
                    "-v", "ON_ERROR_STOP=1", "-q", "-f", str(DEPLOY / "postgresql" / "roles.sql")],
                   check=True, capture_output=True)
    with cluster.admin() as db:  # what the page does with \password
        for role in ("congvu", "congvu_inspector", "congvu_replica", "stranger"):
            if role == "stranger":
                db.execute("CREATE ROLE stranger LOGIN")
            db.execute(f"ALTER ROLE {role} PASSWORD '{postgres.PASSWORD}'")
    yield cluster
    cluster.stop()


def _config(cluster: postgres.PostgresCluster, role: str, tmp_path: Path) -> AuditConfig:
    return AuditConfig(url=f"postgresql://{role}@127.0.0.1:{cluster.port}/congvu",
                       password_file=postgres.password_file(tmp_path),
                       keys_dir=tmp_path / "keys")


@pytest.mark.slow  # a PostgreSQL cluster of its own
def test_the_roles_write_read_and_keep_out_as_the_page_says(
        cluster: postgres.PostgresCluster, tmp_path: Path) -> None:
    servers = _config(cluster, "congvu", tmp_path)
    with AuditLog.open(servers) as log:  # congvu serve: creates and migrates the store
        assert log.record(make_record()) == 1
    inspectors = _config(cluster, "congvu_inspector", tmp_path)
    with AuditLog.open_readonly(inspectors, trust=servers.key_trust()) as log:
        report = log.verify()
    assert report.is_intact and report.events == 1, report.describe()
    with pytest.raises(AuditError, match="read-only transaction"):
        AuditLog.open(inspectors)  # it cannot migrate, nor write
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(f"postgresql://stranger@127.0.0.1:{cluster.port}/congvu",
                        password=postgres.PASSWORD).close()


def test_the_shared_lines_added_to_the_example_configuration_load(tmp_path: Path) -> None:
    path = tmp_path / "congvu.toml"
    path.write_text((DEPLOY / "congvu.toml").read_text("utf-8") + "\n"
                    + (DEPLOY / "postgresql" / "congvu-shared.toml").read_text("utf-8"),
                    encoding="utf-8")
    config = load_config(path)
    assert config.audit.url == config.store.url
    assert config.store.url is not None and "sslmode=verify-full" in config.store.url
    assert config.audit.password_file == Path("/etc/congvu/store-password")
    assert len(config.audit.checkpoint_public_keys) == 2
