"""The shipped deploy/congvu.toml protects at least as much as the embedded defaults, and
`config check` and `doctor` warn when a listener takes inbound mail without the spoof guard.

An admin who follows deploy/README.md copies the example: a protective stage or setting
that the defaults have and the example lacks is a door the install guide opens.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from click.testing import CliRunner

from congvu.cli import main
from congvu.config import CongvuConfig, load_config, parse_config
from milter.checks import config_warnings, spoof_guard_warnings
from policies import SEVERITY, Action

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "congvu.toml"

#: Stronger is later in each tuple: what each protective choice ranks.
RANKS: dict[str, tuple[str, ...]] = {
    "signer.documents.revocation": ("optional", "required"),
    "signer.auth.on_own_domain_spoof": ("quarantine", "reject"),
    "signer.auth.on_dmarc_reject": ("accept", "tag", "quarantine", "reject"),
    "signer.auth.on_dmarc_quarantine": ("accept", "tag", "quarantine", "reject"),
    "signer.auth.on_dmarc_fail": ("accept", "tag", "quarantine", "reject"),
    "signer.auth.on_dmarc_temperror": ("accept", "tag", "tempfail"),
    "signer.dkim.on_unsignable": ("pass-unsigned", "refuse"),
    "signer.smime.on_missing_identity": ("send-unsigned", "quarantine", "reject"),
}
#: Switches where True protects more.
SWITCHES = ("pipeline.audit", "signer.documents.is_enabled", "signer.smime.is_crl_required",
            "signer.dkim.refuse_repeated_headers")
#: Limits where a smaller number protects more.
CEILINGS = ("limits.max_message_size", "limits.max_header_size", "limits.max_line_length",
            "limits.max_recipients", "audit.checkpoint_every_records",
            "audit.checkpoint_every_seconds", "policies.limits.max_mime_depth",
            "policies.limits.max_mime_parts", "policies.limits.max_archive_depth")
#: Networks given trust (XFORWARD, skipping the spoof guard): the example may only narrow.
TRUSTS = ("service.trusted_networks", "service.xforward_hosts")


def _get(config: CongvuConfig, path: str) -> object:
    value: object = config
    for name in path.split("."):
        value = getattr(value, name)
    return value


def weaker_than(config: CongvuConfig, defaults: CongvuConfig) -> list[str]:
    """Each protective setting where ``config`` is weaker than ``defaults``."""
    found = [f"pipeline.stages lacks {name}" for name in defaults.pipeline.stages
             if name not in config.pipeline.stages]
    for path, order in RANKS.items():
        mine, base = str(_get(config, path)), str(_get(defaults, path))
        if order.index(mine) < order.index(base):
            found.append(f"{path} = {mine} (default {base})")
    found += [f"{path} is off" for path in SWITCHES
              if _get(defaults, path) is True and _get(config, path) is not True]
    for path in CEILINGS:
        mine_limit, base_limit = _get(config, path), _get(defaults, path)
        assert isinstance(mine_limit, int | float) and isinstance(base_limit, int | float)
        if mine_limit > base_limit:
            found.append(f"{path} = {mine_limit} (default {base_limit})")
    for path in TRUSTS:
        mine_nets, base_nets = _get(config, path), _get(defaults, path)
        assert isinstance(mine_nets, list) and isinstance(base_nets, list)
        found += [f"{path} trusts {net} beyond the default" for net in mine_nets
                  if not any(_within(net, base) for base in base_nets)]
    for direction in ("inbound", "outbound"):
        mine_policy = config.policies.resolve([], direction)
        base_policy = defaults.policies.resolve([], direction)
        mine_actions = mine_policy.actions
        for rule, action in base_policy.actions.items():
            got = mine_actions.get(rule, Action.ACCEPT)
            if SEVERITY[got] < SEVERITY[action]:
                found.append(f"policy {direction} {rule} = {got} (default {action})")
    return found


def _within(net: ipaddress.IPv4Network | ipaddress.IPv6Network,
            base: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return net.version == base.version and net.subnet_of(base)  # type: ignore[arg-type]


def test_the_example_is_at_least_as_protective_as_the_defaults(tmp_path: Path) -> None:
    example = load_config(EXAMPLE)
    defaults = parse_config({}, environ={}, cwd=tmp_path)
    assert weaker_than(example, defaults) == []
    # every stage, spoof guard and documents included, in the order the pipeline wants
    assert example.pipeline.stages == defaults.pipeline.stages


def test_the_comparison_names_each_weakening(tmp_path: Path) -> None:
    """The check above has teeth: each way of weakening the example is caught."""
    defaults = parse_config({}, environ={}, cwd=tmp_path)
    weakened = parse_config({
        "service": {"trusted_networks": ["127.0.0.0/8", "10.0.0.0/8"]},
        "pipeline": {"stages": ["units", "verify", "authentication-results", "policy"],
                     "audit": False},
        "limits": {"max_line_length": 4096},
        "signer": {"auth": {"on_own_domain_spoof": "quarantine", "on_dmarc_reject": "tag"},
                   "dkim": {"on_unsignable": "pass-unsigned"},
                   "documents": {"is_enabled": False}},
        "audit": {"checkpoint_every_seconds": 3600},
        "policies": {"actions": {"blocked-extension": "tag"}},
    }, environ={}, cwd=tmp_path)
    assert weaker_than(weakened, defaults) == [
        "pipeline.stages lacks documents",
        "pipeline.stages lacks dmarc",
        "pipeline.stages lacks smime-sign",
        "pipeline.stages lacks dkim-sign",
        "signer.auth.on_own_domain_spoof = quarantine (default reject)",
        "signer.auth.on_dmarc_reject = tag (default reject)",
        "signer.dkim.on_unsignable = pass-unsigned (default refuse)",
        "pipeline.audit is off",
        "signer.documents.is_enabled is off",
        "limits.max_line_length = 4096 (default 998)",
        "audit.checkpoint_every_seconds = 3600.0 (default 60.0)",
        "service.trusted_networks trusts 10.0.0.0/8 beyond the default",
        "policy inbound blocked-extension = tag (default reject)",
        "policy outbound blocked-extension = tag (default reject)",
    ]


LISTENERS = """
[[listeners]]
name = "outbound"
role = "outbound"
port = 10025

[[listeners]]
name = "inbound"
role = "inbound"
port = 10027
queue = "before"

[[listeners]]
name = "mixed"
role = "auto"
port = 10028
queue = "before"
"""


def _write(tmp_path: Path, stages: list[str] | None) -> Path:
    path = tmp_path / "congvu.toml"
    pipeline = "" if stages is None else f"[pipeline]\nstages = {stages!r}\n".replace("'", '"')
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n{LISTENERS}\n{pipeline}',
                    encoding="utf-8")
    return path


def test_config_check_warns_for_each_inbound_listener_without_the_spoof_guard(
        tmp_path: Path) -> None:
    # The stages deploy/congvu.toml listed before: no dmarc, no documents.
    path = _write(tmp_path, ["units", "verify", "authentication-results", "policy"])
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: configuration is valid\n"
    warnings = result.stderr.splitlines()[1:]  # after the line naming the configuration
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{path}: warning: listeners.1: listener 'inbound' "
                                  "(role inbound) takes inbound mail but pipeline.stages "
                                  "lacks dmarc")
    assert warnings[1].startswith(f"{path}: warning: listeners.2: listener 'mixed' (role auto)")
    assert all(line.endswith("fix: add 'dmarc' to [pipeline] stages (in the order of "
                             "deploy/congvu.toml)") for line in warnings)


def test_the_guard_needs_verify_and_units_as_well(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, ["dmarc", "policy"]))
    [inbound, mixed] = spoof_guard_warnings(config)
    assert (inbound.where, mixed.where) == ("listeners.1", "listeners.2")
    assert "lacks units, verify:" in inbound.message
    assert inbound.fix.startswith("add 'units', 'verify' to [pipeline] stages")


def test_no_warning_with_the_guard_or_for_outbound_listeners_only(tmp_path: Path) -> None:
    assert spoof_guard_warnings(load_config(_write(tmp_path, None))) == []
    assert spoof_guard_warnings(load_config(EXAMPLE)) == []
    outbound_only = parse_config({"listeners": [{"name": "out", "role": "outbound"}],
                                  "pipeline": {"stages": ["units", "policy"]}},
                                 environ={}, cwd=tmp_path)
    assert spoof_guard_warnings(outbound_only) == []
    result = CliRunner().invoke(main, ["config", "check", str(_write(tmp_path, None))])
    assert result.exit_code == 0
    assert result.stderr.splitlines()[1:] == []  # the configuration's source, no warning


def test_doctor_warns_without_the_spoof_guard(tmp_path: Path) -> None:
    path = _write(tmp_path, ["units", "verify", "policy"])
    result = CliRunner().invoke(main, ["doctor", "--config", str(path), "--no-postfix"])
    warnings = [line for line in result.output.splitlines()
                if line.startswith("WARNING listeners.")]
    assert warnings == [
        f"WARNING listeners.{index}: listener {name!r} (role {role}) takes inbound mail but "
        "pipeline.stages lacks dmarc: mail from outside whose From claims one of the "
        "province's own domains is relayed as if it were genuine; fix: add 'dmarc' to "
        "[pipeline] stages (in the order of deploy/congvu.toml), then reload (SIGHUP)"
        for index, name, role in ((1, "inbound", "inbound"), (2, "mixed", "auto"))
    ]
    assert result.exit_code >= 1
    guarded = CliRunner().invoke(main, ["doctor", "--config", str(_write(tmp_path, None)),
                                        "--no-postfix"])
    assert "OK      pipeline.stages: the spoof guard (units, verify, dmarc) runs" in (
        guarded.output.splitlines())
    assert "WARNING listeners." not in guarded.output


def test_the_example_has_a_path_for_each_kind_of_mail_and_nothing_to_warn_about() -> None:
    """Port 25 before the queue, submission and internal mail after it (deploy/postfix/):
    the internal path's inbound listener behind the queue is no reason to warn."""
    example = load_config(EXAMPLE)
    paths = {listener.name: (listener.role.value, listener.queue.value, listener.port)
             for listener in example.listeners}
    assert paths == {"outbound": ("outbound", "after", 10025),
                     "port-25": ("inbound", "before", 10024),
                     "inbound": ("inbound", "after", 10027)}
    assert config_warnings(example) == []
    # whoever may send XFORWARD (127.0.0.1: any local program) could claim a trusted
    # client and skip the spoof guard: with separate listeners nothing is trusted
    assert example.service.trusted_networks == []
