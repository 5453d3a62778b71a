"""``congvu auth check``: SPF, DKIM, DMARC and ARC of one message, as the filter sees them.

Exit codes (ARCHITECTURE.md): 0 DMARC passes; 1 it does not (fail, none, temperror,
permerror); 2 usage or configuration errors (a bad client address, ``--dns`` value or
configuration file).
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailbase import ProvincialDomains, UsageProblem, config_option, read_from, read_header, wired
from signer.cli.wiring import ConfigLoader, OwnDomains, Wiring, pass_wiring

# The check imports its work when it runs (dkimpy, dnspython, the keys' cryptography, the
# rotation state's psycopg): `congvu auth --help` and every other command pay for none.
if TYPE_CHECKING:
    from signer.authcheck import AuthChecker, AuthVerdict
    from signer.dkim_verify import DkimResult

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group("auth")
def auth() -> None:
    """Inbound authentication: SPF, DKIM, DMARC and ARC."""


@auth.command("check")
@click.option("--client-ip", required=True, metavar="IP",
              help="The address of the client that sent the message to us.")
@click.option("--helo", required=True, metavar="NAME", help="The client's HELO name.")
@click.option("--mail-from", required=True, metavar="ADDR",
              help="The envelope sender; '' or '<>' for the null sender.")
@click.option("--dns", default=None, metavar="HOST:PORT",
              help="DNS resolver (default: [signer.dkim]'s, else /etc/resolv.conf).")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=60), default=None,
              help="Seconds one DNS lookup may take (default: configured, else 5).")
@click.option("--own-domain", "own", multiple=True, metavar="DOMAIN",
              help="A domain of the province (repeatable); added to the directory's.")
@config_option
@pass_wiring
def check(wiring: Wiring, client_ip: str, helo: str, mail_from: str, dns: str | None,
          timeout: float | None, own: tuple[str, ...], config_path: Path | None) -> None:
    """Check SPF, DKIM, DMARC and ARC of the message on standard input.

    Prints one JSON object: spf, dkim, dmarc and arc (each with result and reason),
    the disposition the filter's defaults give, whether the From spoofs one of the
    province's own domains, and the Authentication-Results header it would add.
    Exit 0 when DMARC passes, 1 when it does not.
    """
    from signer.authcheck import AuthChecker
    from signer.dkim_verify import DkimVerifier
    from signer.dmarc import DmarcStatus
    from signer.dns import parse_hostport
    from signer.dnscache import CachingResolver

    try:
        ipaddress.ip_address(client_ip.strip("[]"))
    except ValueError as exc:
        raise UsageProblem(f"--client-ip: {client_ip!r} is not an IP address") from exc
    config = wiring.load(config_path)
    nameserver, port = config.dkim.resolver_nameserver, config.dkim.resolver_port
    if dns is not None:
        try:
            nameserver, port = parse_hostport(dns)
        except ValueError as exc:
            raise UsageProblem(f"--dns: {exc}") from exc
    resolver = CachingResolver(nameserver, port=port,
                               timeout=timeout or config.dkim.resolver_timeout)
    checker = AuthChecker(config.auth, resolver, receiver=config.dkim.authserv_id)
    raw = sys.stdin.buffer.read()
    dkim_results = DkimVerifier(resolver, max_signatures=config.dkim.max_signatures,
                                dns_budget=2 * resolver.timeout).verify(raw)
    envelope = "" if mail_from.strip() in ("", "<>") else mail_from
    domains = [*wiring.own_domains(config_path), *own]
    sender = read_from(read_header(raw), ProvincialDomains(domains))
    verdict = checker.check(client_ip=client_ip, helo=helo, mail_from=envelope, raw=raw,
                            sender=sender, dkim_results=dkim_results)
    report = _report(verdict, checker, domains, config.dkim.authserv_id)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    if verdict.dmarc.result is not DmarcStatus.PASS:
        sys.exit(1)


def auth_group(load: ConfigLoader, *, own_domains: OwnDomains | None = None) -> click.Group:
    """The ``congvu auth`` command group, reading ``[signer]`` through ``load``; the
    root passes the directory's domains as ``own_domains``."""
    return wired(auth, Wiring(load, own_domains) if own_domains else Wiring(load))


def _dkim_summary(results: Sequence[DkimResult]) -> dict[str, object]:
    from signer.dkim_verify import AuthResult

    passing = [r for r in results if r.result is AuthResult.PASS]
    best = passing[0] if passing else results[0]
    return {"result": best.result.value, "reason": best.reason, "domain": best.domain,
            "signatures": [{"result": r.result.value, "reason": r.reason, "domain": r.domain,
                            "selector": r.selector} for r in results]}


def _report(verdict: AuthVerdict, checker: AuthChecker, own: Sequence[str],
            authserv_id: str) -> dict[str, object]:
    from signer.authresults import authentication_results

    decision = verdict.disposition(checker.actions)
    header = authentication_results(authserv_id, verdict.methods()).decode("utf-8")
    return {
        "spf": {"result": verdict.spf.result.value, "reason": verdict.spf.reason,
                "identity": verdict.spf.identity, "domain": verdict.spf.domain,
                "explanation": verdict.spf.explanation},
        "dkim": _dkim_summary(verdict.dkim),
        "dmarc": {"result": verdict.dmarc.result.value, "reason": verdict.dmarc.detail,
                  "domain": verdict.dmarc.from_domain,
                  "policy": verdict.dmarc.policy.value if verdict.dmarc.policy else None,
                  "disposition": verdict.dmarc.disposition.value
                  if verdict.dmarc.disposition else None},
        "arc": {"result": verdict.arc.result.value, "reason": verdict.arc.reason,
                "sealer": verdict.arc.sealer, "is_trusted": verdict.arc.is_trusted},
        "action": {"disposition": decision.disposition.value, "reason": decision.reason},
        "own_domain_spoof": verdict.own_domain_spoof() if own else None,
        "from": {"address": verdict.sender.addr_spec, "ambiguity": verdict.sender.ambiguity},
        "authentication_results": header.replace("\r\n", "\n"),
    }
