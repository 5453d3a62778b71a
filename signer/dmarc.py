"""DMARC (RFC 7489): does the From domain's owner vouch for this message?

:class:`DmarcChecker` finds the policy record of the From domain (``_dmarc.<domain>``,
else ``_dmarc.<organizational domain>``, section 6.6.3), checks whether a passing SPF or
DKIM result is aligned with the From domain (relaxed or strict, ``aspf``/``adkim``),
and reports the result, the policy that applies (``p``, or ``sp`` for a subdomain of
the record's domain) and the disposition the owner asks for this message after ``pct``
sampling (section 6.6.4).

Results (section 11.2): pass, fail, none (no policy published), temperror (the policy
lookup failed), permerror (a malformed record, several records, or a From header that
does not name one domain). None of them is ever a pass by accident.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import ClassVar

from mailbase import FromVerdict, Reason, read_from, read_header
from signer import reasons
from signer.dkim_verify import AuthResult, DkimResult
from signer.dns import TxtResolver
from signer.errors import DnsTemporaryError
from signer.psl import is_aligned, organizational_domain
from signer.spf import SpfResult, SpfStatus

_VERSION = re.compile(r"(?i)^\s*v\s*=\s*DMARC1\s*(;|$)")


class DmarcStatus(Enum):
    """A DMARC result (RFC 7489 section 11.2)."""

    PASS = "pass"
    FAIL = "fail"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class DmarcPolicy(Enum):
    """What a domain owner asks receivers to do with mail that fails DMARC."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """One parsed DMARC policy record (RFC 7489 section 6.3)."""

    policy: DmarcPolicy
    subdomain_policy: DmarcPolicy | None = None
    is_strict_dkim: bool = False
    is_strict_spf: bool = False
    percent: int = 100
    report_to: tuple[str, ...] = ()


def parse_record(text: str) -> DmarcRecord:
    """Parse a ``v=DMARC1`` record.

    Unknown tags are ignored and bad ``adkim``/``aspf``/``pct`` values fall back to
    their defaults (section 6.3); a missing or invalid ``p``, or an invalid ``sp``, is
    an error, except that a record with a ``rua`` and no valid ``p`` counts as
    ``p=none`` (section 6.6.3).

    :raises ValueError: not a DMARC record, or ``p``/``sp`` unusable; the message says why.
    """
    if not _VERSION.match(text):
        raise ValueError("the record does not start with v=DMARC1")
    tags: dict[str, str] = {}
    for part in text.split(";")[1:]:
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if name and eq and name not in tags:
            tags[name] = value.strip()
    report_to = tuple(u.strip() for u in tags.get("rua", "").split(",") if u.strip())
    try:
        policy = DmarcPolicy(tags.get("p", "").lower())
    except ValueError:
        if "p" in tags or not report_to:
            raise ValueError(f"invalid or missing p= ({tags.get('p', '')!r})") from None
        policy = DmarcPolicy.NONE
    subdomain_policy = None
    if "sp" in tags:
        try:
            subdomain_policy = DmarcPolicy(tags["sp"].lower())
        except ValueError:
            raise ValueError(f"invalid sp= ({tags['sp']!r})") from None
    percent = int(tags["pct"]) if tags.get("pct", "").isdigit() else 100
    return DmarcRecord(policy, subdomain_policy,
                       is_strict_dkim=tags.get("adkim", "r").lower() == "s",
                       is_strict_spf=tags.get("aspf", "r").lower() == "s",
                       percent=min(percent, 100), report_to=report_to)


@dataclass(frozen=True, slots=True)
class DmarcResult:
    """The DMARC result of one message.

    ``policy`` is the policy that applies to the From domain (``None`` when no record
    was usable); ``disposition`` what the owner asks for this message (``none`` on a
    pass, downgraded by ``pct`` sampling on a fail); ``detail`` why, in words;
    ``reason`` is ``detail`` with the policy in front, as Authentication-Results writes it.
    """

    method: ClassVar[str] = "dmarc"

    result: DmarcStatus
    detail: str
    from_domain: str | None = None
    policy: DmarcPolicy | None = None
    disposition: DmarcPolicy | None = None
    record_domain: str | None = None
    is_spf_aligned: bool = False
    is_dkim_aligned: bool = False
    #: the reason's code and parameters (signer/reasons.py), which ``detail`` is the
    #: English of; None where it has none (a malformed record's own words)
    why: Reason | None = field(default=None, compare=False)

    @property
    def reason(self) -> str:
        """``p=reject dis=none; ...``: the policy and disposition, then why."""
        if self.policy is None:
            return self.detail
        disposition = self.disposition.value if self.disposition else "none"
        return f"p={self.policy.value} dis={disposition}; {self.detail}"

    def properties(self) -> list[tuple[str, str]]:
        """The RFC 7489 ``header.from=`` property."""
        return [("header.from", self.from_domain)] if self.from_domain else []

    def audit(self) -> dict[str, str | None]:
        """The audit record's view: method, result, reason, domain, policy, disposition."""
        return {"method": "dmarc", "result": self.result.value, "reason": self.detail,
                "domain": self.from_domain,
                "policy": self.policy.value if self.policy else None,
                "disposition": self.disposition.value if self.disposition else None,
                **(self.why.as_json() if self.why else {})}


class DmarcChecker:
    """Evaluates DMARC for inbound mail.

    :param resolver: TXT lookups (a :class:`signer.dnscache.CachingResolver` shares its cache).
    :param sample: a number in [0, 1) per message, for ``pct`` sampling.
    """

    def __init__(self, resolver: TxtResolver, *,
                 sample: Callable[[], float] = random.random) -> None:
        self._resolver = resolver
        self._sample = sample

    def check(self, raw: bytes, *, spf: SpfResult,
              dkim: Sequence[DkimResult]) -> DmarcResult:
        """The DMARC result of ``raw`` given its SPF and DKIM results."""
        return self.check_sender(read_from(read_header(raw)), spf=spf, dkim=dkim)

    def check_sender(self, sender: FromVerdict, *, spf: SpfResult,
                     dkim: Sequence[DkimResult]) -> DmarcResult:
        """The DMARC result for the one reading of a message's From."""
        if sender.address is None:
            # RFC 7489 section 6.6.1: such a message cannot be evaluated
            why = reasons.DMARC_FROM_UNREADABLE(ambiguity=str(sender.ambiguity))
            return DmarcResult(DmarcStatus.PERMERROR, why.text, why=why)
        return self.check_domain(sender.address.domain, spf=spf, dkim=dkim)

    def check_domain(self, domain: str, *, spf: SpfResult,
                     dkim: Sequence[DkimResult]) -> DmarcResult:
        """The DMARC result for a message whose one From domain is ``domain``."""
        domain = domain.lower().rstrip(".")
        try:
            found = self._discover(domain)
        except DnsTemporaryError as exc:
            why = reasons.DMARC_LOOKUP_FAILED(name=str(exc.name), detail=str(exc.reason))
            return DmarcResult(DmarcStatus.TEMPERROR, why.text, domain, why=why)
        except ValueError as exc:
            return DmarcResult(DmarcStatus.PERMERROR, str(exc), domain)
        if found is None:
            why = reasons.DMARC_NO_RECORD(domain=domain)
            return DmarcResult(DmarcStatus.NONE, why.text, domain, why=why)
        record, record_domain = found
        policy = record.policy
        if record_domain != domain and record.subdomain_policy is not None:
            policy = record.subdomain_policy
        spf_ok = (spf.result is SpfStatus.PASS and spf.domain is not None
                  and is_aligned(spf.domain, domain, strict=record.is_strict_spf))
        dkim_domains = [r.domain for r in dkim if r.result is AuthResult.PASS and r.domain
                        and is_aligned(r.domain, domain, strict=record.is_strict_dkim)]
        base = DmarcResult(DmarcStatus.FAIL, "", domain, policy, DmarcPolicy.NONE,
                           record_domain, spf_ok, bool(dkim_domains))
        if dkim_domains or spf_ok:
            why = (reasons.DMARC_ALIGNED_BOTH(dkim=str(dkim_domains[0]), spf=str(spf.domain))
                   if dkim_domains and spf_ok
                   else reasons.DMARC_ALIGNED_DKIM(dkim=str(dkim_domains[0])) if dkim_domains
                   else reasons.DMARC_ALIGNED_SPF(spf=str(spf.domain)))
            return replace(base, result=DmarcStatus.PASS, detail=why.text, why=why)
        disposition = policy
        if record.percent < 100 and self._sample() * 100 >= record.percent:
            # RFC 7489 section 6.6.4: outside the sample, the next less strict policy
            disposition = (DmarcPolicy.QUARANTINE if policy is DmarcPolicy.REJECT
                           else DmarcPolicy.NONE)
        why = _why_not(spf, dkim, domain)
        return replace(base, detail=why.text, why=why, disposition=disposition)

    def _discover(self, domain: str) -> tuple[DmarcRecord, str] | None:
        """The record that applies to ``domain`` and where it was found (section 6.6.3)."""
        org = organizational_domain(domain)
        for where in dict.fromkeys((domain, org)):
            records = [r.decode("utf-8", "replace") for r in self._resolver(f"_dmarc.{where}")]
            dmarc = [r for r in records if _VERSION.match(r)]
            if len(dmarc) > 1:
                raise ValueError(f"_dmarc.{where} has {len(dmarc)} DMARC records (only one "
                                 "may be published)")
            if dmarc:
                try:
                    return parse_record(dmarc[0]), where
                except ValueError as exc:
                    raise ValueError(f"malformed DMARC record at _dmarc.{where}: {exc}") from exc
        return None


def _why_not(spf: SpfResult, dkim: Sequence[DkimResult], domain: str) -> Reason:
    passing = [r.domain for r in dkim if r.result is AuthResult.PASS and r.domain]
    dkim_part = (reasons.DMARC_DKIM_PASSED_FOR(domains=", ".join(passing)) if passing
                 else reasons.DMARC_NO_DKIM())
    spf_part = (reasons.DMARC_SPF_NOT_ALIGNED(domain=str(spf.domain))
                if spf.result is SpfStatus.PASS
                else reasons.DMARC_SPF_RESULT(result=spf.result.value))
    return reasons.DMARC_NOT_ALIGNED(domain=domain, dkim=dkim_part, spf=spf_part)
