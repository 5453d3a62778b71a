"""Key rotation: a new selector signs only after `dkim check` sees it published."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from signer.cli import commands
from signer.config import DkimConfig, SignerConfig
from signer.dkim import DkimSigner
from signer.dkim_rotation import KeyState, RotationState, RotationStateError
from signer.dkim_verify import AuthResult, DkimVerifier
from signer.dns import DnsResolver
from signer.errors import NoSigningKeyError
from signer.keys import Algorithm
from support.dkim import DOMAIN, MESSAGE
from support.dns import DnsServer

T0 = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
GRACE = dt.timedelta(days=7)


def _signer(config: DkimConfig, now: dt.datetime) -> DkimSigner:
    return DkimSigner.from_config(config, clock=now.timestamp)


def _selectors(signer: DkimSigner) -> list[str]:
    try:
        headers = signer.sign(MESSAGE, domain=DOMAIN)
    except NoSigningKeyError:
        return []
    return [s.decode() for s in re.findall(rb" s=(\w+);", headers)]


@pytest.fixture
def config(tmp_path: Path) -> DkimConfig:
    return DkimConfig(state_file=tmp_path / "var" / "dkim" / "rotation.json",
                      key_dir=tmp_path / "var" / "dkim" / "keys")


def test_rotation_life_cycle(config: DkimConfig) -> None:
    state = RotationState.load(config.state_file)
    first = state.rotate(DOMAIN, Algorithm.RSA_SHA256, config.key_dir, T0)
    state.save()
    assert (first.selector, first.state) == ("r20261126", KeyState.PENDING)
    assert Path(first.key_file).stat().st_mode & 0o777 == 0o600
    assert _selectors(_signer(config, T0)) == []          # pending never signs

    state.activate(DOMAIN, first.selector, T0, GRACE)
    state.save()
    assert _selectors(_signer(config, T0)) == ["r20261126"]

    later = T0 + dt.timedelta(days=90)
    second = state.rotate(DOMAIN, Algorithm.RSA_SHA256, config.key_dir, later)
    state.save()
    assert second.selector == "r20270224"
    assert _selectors(_signer(config, later)) == ["r20261126"]
    changes = state.activate(DOMAIN, second.selector, later, GRACE)
    state.save()
    assert changes == ["r20261126: retiring, signs until 2027-03-03T02:00:00+00:00",
                       "r20270224: active, signs from now on"]
    # during the grace period both keys sign
    assert sorted(_selectors(_signer(config, later))) == ["r20261126", "r20270224"]
    after = later + GRACE + dt.timedelta(seconds=1)
    assert _selectors(_signer(config, after)) == ["r20270224"]
    assert state.expire(after) == ["r20261126: retired (its record may be removed later)"]
    assert [k.state for k in state.for_domain(DOMAIN)] == [KeyState.RETIRED, KeyState.ACTIVE]


def test_the_state_is_private_whatever_the_umask_and_replaced_whole(
        config: DkimConfig) -> None:
    # it says which key signs: only the service may change it
    old = os.umask(0)
    try:
        state = RotationState.load(config.state_file)
        state.rotate(DOMAIN, Algorithm.RSA_SHA256, config.key_dir, T0)
        state.save()
    finally:
        os.umask(old)
    assert config.state_file.stat().st_mode & 0o777 == 0o600
    assert config.state_file.parent.stat().st_mode & 0o777 == 0o700
    assert config.key_dir.stat().st_mode & 0o777 == 0o700
    state.activate(DOMAIN, state.for_domain(DOMAIN)[0].selector, T0, GRACE)
    state.save()
    assert [p.name for p in config.state_file.parent.iterdir()
            if p.name.endswith(".tmp")] == []
    [key] = RotationState.load(config.state_file).for_domain(DOMAIN)
    assert key.state is KeyState.ACTIVE


def test_a_second_pending_key_is_refused(config: DkimConfig) -> None:
    state = RotationState.load(config.state_file)
    first = state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, T0)
    assert first.selector == "e20261126"
    with pytest.raises(RotationStateError, match=r"e20261126 .* is still pending"):
        state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, T0)
    # another algorithm may rotate at the same time; same-day selectors get a suffix
    assert state.rotate(DOMAIN, Algorithm.RSA_SHA256, config.key_dir, T0).selector == "r20261126"
    state.activate(DOMAIN, "e20261126", T0, GRACE)
    assert state.rotate(DOMAIN, Algorithm.ED25519_SHA256, config.key_dir, T0).selector == \
        "e20261126n2"


@pytest.mark.parametrize("content", ["{not json", '{"keys": [{"domain": "x"}]}',
                                     '{"keys": [{"domain": "x", "selector": "s", '
                                     '"algorithm": "rsa-sha256", "key_file": "k", '
                                     '"state": "bogus", "created": "t"}]}'])
def test_broken_state_file_is_a_clear_startup_error(config: DkimConfig, content: str) -> None:
    config.state_file.parent.mkdir(parents=True)
    config.state_file.write_text(content)
    with pytest.raises(RotationStateError, match=f"DKIM rotation state {config.state_file}"):
        DkimSigner.from_config(config)


# -- the commands: rotate, publish, check, reload

@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@pytest.fixture
def config_file(tmp_path: Path, dns: DnsServer) -> Path:
    path = tmp_path / "congvu.toml"
    var = tmp_path / "var"
    path.write_text(
        "[signer.dkim]\n"
        f'resolver_nameserver = "127.0.0.1"\nresolver_port = {dns.port}\n'
        f'state_file = "{var}/dkim/rotation.json"\nkey_dir = "{var}/dkim/keys"\n'
        "rotation_grace_days = 7\n")
    return path


def _load(path: Path | None) -> SignerConfig:
    assert path is not None
    return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])


@pytest.fixture
def dkim() -> click.Group:
    (group,) = [c for c in commands(_load) if c.name == "dkim"]
    assert isinstance(group, click.Group)
    return group


def test_rotate_publish_check_sign(dkim: click.Group, config_file: Path,
                                   dns: DnsServer) -> None:
    runner = CliRunner()
    rotated = runner.invoke(dkim, ["rotate", "--domain", DOMAIN, "--algorithm", "ed25519",
                                   "--config", str(config_file)])
    assert rotated.exit_code == 0, rotated.output
    selector = re.match(r"(e\d{8})\._domainkey", rotated.stdout)
    assert selector is not None
    assert "is pending" in rotated.stderr and "SIGHUP" in rotated.stderr
    config = _load(config_file).dkim
    now = dt.datetime.now(dt.UTC)

    # not yet published: check says so and the key stays pending
    check = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--config", str(config_file)])
    assert check.exit_code == 1 and "no TXT record is published" in check.stdout
    assert _selectors(_signer(config, now)) == []

    # a record for another key is not "published" either
    dns.add_txt(f"{selector.group(1)}._domainkey.{DOMAIN}",
                "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    check = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--config", str(config_file)])
    assert check.exit_code == 1 and "p= publishes another key" in check.stdout
    assert json.loads(config.state_file.read_text())["keys"][0]["state"] == "pending"

    dns.remove(f"{selector.group(1)}._domainkey.{DOMAIN}")
    dns.add_txt(f"{selector.group(1)}._domainkey.{DOMAIN}",
                "".join(re.findall(r'"([^"]*)"', rotated.stdout)))
    check = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--config", str(config_file)])
    assert check.exit_code == 0, check.output
    assert f"rotation: {selector.group(1)}: active, signs from now on" in check.stdout
    signer = _signer(config, now)
    signed = signer.sign(MESSAGE, domain=DOMAIN) + MESSAGE
    verifier = DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=2))
    assert [r.result for r in verifier.verify(signed)] == [AuthResult.PASS]

    again = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--config", str(config_file)])
    assert again.exit_code == 0 and "rotation:" not in again.stdout


def test_rotate_while_pending_exits_1(dkim: click.Group, config_file: Path) -> None:
    runner = CliRunner()
    args = ["rotate", "--domain", DOMAIN, "--config", str(config_file)]
    assert runner.invoke(dkim, args).exit_code == 0
    second = runner.invoke(dkim, args)
    assert second.exit_code == 1 and "still pending" in second.output
