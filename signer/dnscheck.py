"""Are a sending domain's SPF and DMARC records published and consistent? (for ``congvu doctor``)

:func:`published_problems` looks the records up as any receiver would and returns what
an administrator must fix, in words, one line each; an empty list means the domain's
mail from our servers passes SPF and the domain has a usable DMARC policy with a
reporting address. DNS failures are reported as problems too (doctor warns; it never
refuses mail).
"""

from __future__ import annotations

from collections.abc import Sequence

from signer.dmarc import DmarcPolicy, parse_record
from signer.dnscache import CachingResolver
from signer.errors import DnsTemporaryError
from signer.psl import organizational_domain
from signer.spf import SpfChecker, SpfStatus


def published_problems(domain: str, *, resolver: CachingResolver,
                       server_ips: Sequence[str], helo: str = "") -> list[str]:
    """What is wrong with ``domain``'s published SPF and DMARC for mail from ``server_ips``.

    :param server_ips: the addresses our mail leaves from.
    :param helo: our HELO name, checked like a sending domain when given.
    """
    problems: list[str] = []
    checker = SpfChecker(resolver)
    names = [(domain, f"postmaster@{domain}")] + ([(helo, "")] if helo else [])
    for name, sender in names:
        for ip in server_ips:
            result = checker.check(client_ip=ip, helo=name, mail_from=sender)
            if result.result is not SpfStatus.PASS:
                problems.append(f"SPF of {name} gives {result.result.value} for our server "
                                f"{ip}: {result.reason}")
    problems.extend(_dmarc_problems(domain, resolver))
    return problems


def _dmarc_problems(domain: str, resolver: CachingResolver) -> list[str]:
    org = organizational_domain(domain)
    for where in dict.fromkeys((domain, org)):
        try:
            records = [r.decode("utf-8", "replace") for r in resolver.txt(f"_dmarc.{where}")]
        except DnsTemporaryError as exc:
            return [f"DMARC record of {where} could not be looked up: {exc.reason}"]
        dmarc = [r for r in records if r.lstrip().lower().startswith("v=dmarc1")]
        if len(dmarc) > 1:
            return [f"_dmarc.{where} has {len(dmarc)} DMARC records; publish exactly one"]
        if not dmarc:
            continue
        try:
            record = parse_record(dmarc[0])
        except ValueError as exc:
            return [f"DMARC record at _dmarc.{where} is malformed: {exc}"]
        policy = record.policy
        if where != domain and record.subdomain_policy is not None:
            policy = record.subdomain_policy
        problems = []
        if policy is DmarcPolicy.NONE:
            problems.append(f"DMARC policy for {domain} is p=none (monitoring only); move to "
                            "p=quarantine, then p=reject (deploy/dns/README.md)")
        if not record.report_to:
            problems.append(f"DMARC record at _dmarc.{where} has no rua= reporting address")
        return problems
    return [f"no DMARC record for {domain} (looked at _dmarc.{domain}"
            + (f" and _dmarc.{org})" if org != domain else ")")]
