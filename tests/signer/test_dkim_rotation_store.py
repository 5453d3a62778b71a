"""The DKIM rotation state on both backends: the JSON file of one server, and PostgreSQL
shared by several, which then sign with the same selectors. Changes are serialised;
the signer reads the state at start and reload, and falls back on this server's copy
when the database cannot be reached then."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import threading
import time
import tomllib
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from congvu.config import parse_config
from signer import RotationStateError, copy_rotation
from signer.cli import commands
from signer.config import DkimConfig, SignerConfig
from signer.dkim import DkimSigner
from signer.dkim_rotation import KeyState, RotationState
from signer.errors import NoSigningKeyError
from signer.keys import Algorithm
from signer.rotation_store import editing_rotation, load_rotation
from support.dkim import DOMAIN, MESSAGE
from support.postfix import free_port
from support.postgres import PostgresCluster, password_file

T0 = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
GRACE = dt.timedelta(days=7)


def _shared(url: str, tmp_path: Path, server: str) -> DkimConfig:
    """One server's view of the shared state: its copy and keys under its data dir (as
    the configuration's composition resolves them)."""
    data = tmp_path / server
    return DkimConfig(url=url, password_file=password_file(tmp_path)).model_copy(update={
        "state_file": data / "dkim" / "rotation.json", "key_dir": tmp_path / "keys"})


@pytest.fixture(params=["file", pytest.param("postgresql", marks=pytest.mark.slow)])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> DkimConfig:
    if request.param == "file":
        return DkimConfig(state_file=tmp_path / "var" / "dkim" / "rotation.json",
                          key_dir=tmp_path / "keys")
    return _shared(request.getfixturevalue("postgres_url"), tmp_path, "mail1")


def _selectors(config: DkimConfig, now: dt.datetime) -> list[str]:
    signer = DkimSigner.from_config(config, clock=now.timestamp)
    try:
        headers = signer.sign(MESSAGE, domain=DOMAIN)
    except NoSigningKeyError:
        return []
    return sorted(s.decode() for s in re.findall(rb" s=(\w+);", headers))


def test_rotation_life_cycle_on_each_backend(config: DkimConfig) -> None:
    with editing_rotation(config) as state:
        first = state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, T0)
    assert _selectors(config, T0) == []  # pending never signs
    with editing_rotation(config) as state:
        state.activate(DOMAIN, first.selector, T0, GRACE)
    assert _selectors(config, T0) == ["e20261126"]
    later = T0 + dt.timedelta(days=90)
    with editing_rotation(config) as state:
        second = state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, later)
        state.activate(DOMAIN, second.selector, later, GRACE)
    assert _selectors(config, later) == ["e20261126", "e20270224"]  # the grace period
    after = later + GRACE + dt.timedelta(seconds=1)
    with editing_rotation(config) as state:
        state.expire(after)
    assert _selectors(config, after) == ["e20270224"]
    assert [(k.selector, k.state) for k in load_rotation(config).for_domain(DOMAIN)] == [
        ("e20261126", KeyState.RETIRED), ("e20270224", KeyState.ACTIVE)]


def test_a_refused_step_changes_nothing(config: DkimConfig) -> None:
    with editing_rotation(config) as state:
        state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, T0)
    with pytest.raises(RotationStateError, match="still pending"), \
            editing_rotation(config) as state:
        state.rotate("other.example.gov.vn", Algorithm.ED25519_SHA256, config.key_dir, T0)
        state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, T0)
    assert [k.domain for k in load_rotation(config).keys] == [DOMAIN]


def test_every_server_signs_with_the_shared_schedule(tmp_path: Path, postgres_url: str) -> None:
    mail1, mail2 = (_shared(postgres_url, tmp_path, name) for name in ("mail1", "mail2"))
    with editing_rotation(mail1) as state:
        key = state.rotate(DOMAIN, Algorithm.ED25519_SHA256, mail1.key_dir, T0)
    assert _selectors(mail2, T0) == []
    with editing_rotation(mail2) as state:  # `dkim check` run on the other server
        state.activate(DOMAIN, key.selector, T0, GRACE)
    assert _selectors(mail1, T0) == _selectors(mail2, T0) == ["e20261126"]
    # each server's copy is what it last read
    assert json.loads(mail1.state_file.read_text())["keys"][0]["state"] == "active"


def test_two_servers_rotating_at_once_keep_both_keys(
        tmp_path: Path, postgres_url: str, postgres_cluster: PostgresCluster) -> None:
    mail1, mail2 = (_shared(postgres_url, tmp_path, name) for name in ("mail1", "mail2"))
    inside, done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def second_server() -> None:
        inside.wait()
        try:
            with editing_rotation(mail2) as state:
                state.rotate("other.example.gov.vn", Algorithm.ED25519_SHA256,
                             mail2.key_dir, T0)
        except BaseException as exc:  # said by the assert below
            failures.append(exc)
        done.set()

    thread = threading.Thread(target=second_server)
    thread.start()
    with editing_rotation(mail1) as state:
        state.rotate(DOMAIN, Algorithm.ED25519_SHA256, mail1.key_dir, T0)
        inside.set()
        _wait_for_a_lock_waiter(postgres_cluster, postgres_url)
    thread.join()
    assert failures == [] and done.is_set()
    assert sorted(k.domain for k in load_rotation(mail1).keys) == [
        "other.example.gov.vn", DOMAIN]


def _wait_for_a_lock_waiter(cluster: PostgresCluster, url: str) -> None:
    """Until another session waits for an advisory lock in ``url``'s database."""
    name = url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    with cluster.admin() as db:
        while time.monotonic() < deadline:
            waiting = db.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = %s",
                (name,)).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the second server never waited for the rotation lock")


def test_a_database_down_at_reload_signs_with_this_servers_copy(
        tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    config = _shared(postgres_url, tmp_path, "mail1")
    with editing_rotation(config) as state:
        key = state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, T0)
        state.activate(DOMAIN, key.selector, T0, GRACE)
    assert _selectors(config, T0) == ["e20261126"]  # read, and copied
    down = config.model_copy(update={"url": f"postgresql://congvu@127.0.0.1:{free_port()}/x"})
    with caplog.at_level(logging.WARNING, logger="congvu.signer"):
        assert _selectors(down, T0) == ["e20261126"]
    assert "signing with this server's copy" in caplog.text
    nothing = down.model_copy(update={"state_file": tmp_path / "none" / "rotation.json"})
    with pytest.raises(RotationStateError, match="cannot read it: the database server "
                                                 "cannot be reached"):
        DkimSigner.from_config(nothing)


def test_a_reading_by_another_user_leaves_the_servers_copy_alone(
        tmp_path: Path, postgres_url: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("LOUD SKIP: making a directory another user's needs root")
    config = _shared(postgres_url, tmp_path, "mail1")
    with editing_rotation(config) as state:
        state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, T0)
    config.state_file.parent.mkdir(parents=True)
    os.chown(config.state_file.parent, 65534, 65534)  # the service's, read by root
    assert [k.domain for k in load_rotation(config).keys] == [DOMAIN]
    assert not config.state_file.exists()


def test_a_copy_into_the_shared_state(tmp_path: Path, postgres_url: str) -> None:
    single = DkimConfig(state_file=tmp_path / "rotation.json", key_dir=tmp_path / "keys")
    with editing_rotation(single) as state:
        state.rotate(DOMAIN, Algorithm.ED25519_SHA256, single.key_dir, T0)
        state.rotate(DOMAIN, Algorithm.RSA_SHA256, single.key_dir, T0, bits=2048)
    shared = _shared(postgres_url, tmp_path, "mail1")
    assert copy_rotation(single.state_file, shared) == 2
    assert load_rotation(shared).keys == RotationState.load(single.state_file).keys
    with pytest.raises(RotationStateError, match="already holds 2 keys"):
        copy_rotation(single.state_file, shared)


def test_state_file_and_url_together_are_a_configuration_error(postgres_url: str) -> None:
    with pytest.raises(ValidationError, match="state_file and url name two rotation states"):
        DkimConfig(state_file=Path("r.json"), url=postgres_url)


def test_the_store_table_puts_the_state_and_the_quarantine_in_postgresql(
        tmp_path: Path) -> None:
    url = "postgresql://congvu@db.example:5432/congvu"
    shared = parse_config({"store": {"url": url, "password_file": "pg.pass"}}, cwd=tmp_path)
    assert shared.signer.dkim.url == shared.policies.quarantine.url == url
    assert shared.signer.dkim.password_file == tmp_path / "var" / "pg.pass"
    assert shared.policies.quarantine.password_file == tmp_path / "var" / "pg.pass"
    assert shared.signer.dkim.state_file == tmp_path / "var" / "dkim" / "rotation.json"
    own = parse_config({"store": {"url": url},
                        "signer": {"dkim": {"state_file": "r.json"}},
                        "policies": {"quarantine": {"path": "q"}}}, cwd=tmp_path)
    assert own.signer.dkim.url is None and own.policies.quarantine.url is None
    other = "postgresql://congvu@other.example/congvu"
    override = parse_config({"store": {"url": url},
                             "signer": {"dkim": {"url": other}},
                             "policies": {"quarantine": {"url": other}}}, cwd=tmp_path)
    assert override.signer.dkim.url == override.policies.quarantine.url == other


# -- the commands on the shared state

def _dkim_group() -> click.Group:
    def load(path: Path | None) -> SignerConfig:
        assert path is not None
        return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])
    (group,) = [c for c in commands(load) if c.name == "dkim"]
    assert isinstance(group, click.Group)
    return group


def test_rotate_writes_the_shared_state_and_a_read_only_database_is_said(
        tmp_path: Path, postgres_url: str, postgres_cluster: PostgresCluster) -> None:
    path = tmp_path / "congvu.toml"
    path.write_text(f'[signer.dkim]\nurl = "{postgres_url}"\n'
                    f'password_file = "{password_file(tmp_path)}"\n'
                    f'key_dir = "{tmp_path}/keys"\n')
    runner = CliRunner()
    args = ["rotate", "--domain", DOMAIN, "--algorithm", "ed25519", "--config", str(path)]
    rotated = runner.invoke(_dkim_group(), args)
    assert rotated.exit_code == 0, rotated.output
    assert "to every server sharing the rotation state" in rotated.stderr
    with psycopg.connect(postgres_url, password=password_file(tmp_path).read_text().strip()
                         ) as db:
        assert db.execute("SELECT selector, state FROM dkim.rotated_keys").fetchall() == [
            (re.search(r"(e\d{8})\._domainkey", rotated.stdout)[1], "pending")]  # type: ignore[index]
    name = postgres_url.rsplit("/", 1)[1]
    with postgres_cluster.admin() as db:
        db.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    refused = runner.invoke(_dkim_group(), [*args[:2], "other.example.gov.vn", *args[3:]])
    assert refused.exit_code == 2
    assert "the database is read-only" in refused.output
