"""Inbound authentication in one call: SPF, DMARC and ARC beside DKIM, and what follows.

The milter stage calls :meth:`AuthChecker.check` on the bytes as received (with the DKIM
results it already has) and gets an :class:`AuthVerdict`: the SPF, DMARC and ARC
results, their Authentication-Results methods and audit entries. Two pure functions
say what follows:

- :func:`own_domain_spoof`: inbound mail whose From is one of the province's own
  domains but that carries no passing DKIM signature aligned with it is refused,
  whatever that domain's DMARC record says (no one outside may pass as a provincial
  unit), and so is mail whose From is ambiguous while some reading of it names a
  provincial domain. Both come from the one From reading (:func:`mailbase.read_from`)
  the caller made. Only the milter knows whether the mail is inbound from outside the
  trusted networks; it calls this only then.
- :func:`dmarc_disposition`: accept, tag, quarantine, reject or tempfail from the DMARC
  result, the owner's policy and the configured :class:`DmarcActions`; a failure that a
  trusted ARC sealer vouches for is tagged, not refused (RFC 8617 section 7.2).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from mailbase import FromVerdict, HeaderBlock
from signer.arc import ArcResult, ArcVerifier
from signer.authconfig import AuthConfig
from signer.authresults import MethodResult
from signer.config import SignerConfig
from signer.dkim_verify import AuthResult, DkimResult
from signer.dmarc import DmarcChecker, DmarcPolicy, DmarcResult, DmarcStatus
from signer.dnscache import CachingResolver
from signer.psl import is_aligned, organizational_domain
from signer.spf import SpfChecker, SpfResult


class Disposition(Enum):
    """What should happen to an inbound message, as far as its authentication goes."""

    ACCEPT = "accept"
    TAG = "tag"
    QUARANTINE = "quarantine"
    REJECT = "reject"
    TEMPFAIL = "tempfail"


@dataclass(frozen=True, slots=True)
class AuthDecision:
    """A disposition and why."""

    disposition: Disposition
    reason: str


@dataclass(frozen=True, slots=True)
class DmarcActions:
    """The configured action for each DMARC outcome (``[signer.auth]``, or a unit's policy)."""

    on_reject: Disposition = Disposition.REJECT
    on_quarantine: Disposition = Disposition.QUARANTINE
    on_fail: Disposition = Disposition.TAG
    on_temperror: Disposition = Disposition.TAG

    @classmethod
    def from_config(cls, config: AuthConfig) -> DmarcActions:
        """The actions of ``[signer.auth]``."""
        return cls(Disposition(config.on_dmarc_reject), Disposition(config.on_dmarc_quarantine),
                   Disposition(config.on_dmarc_fail), Disposition(config.on_dmarc_temperror))


def dmarc_disposition(dmarc: DmarcResult, actions: DmarcActions, *,
                      arc: ArcResult | None = None) -> AuthDecision:
    """What follows from a DMARC result: ``accept`` on pass or when no policy is published;
    on a fail, the action for the disposition the domain owner asks (``p``/``sp`` after
    ``pct``), unless a trusted ARC sealer recorded ``dmarc=pass`` (then ``tag``)."""
    if dmarc.result in (DmarcStatus.PASS, DmarcStatus.NONE):
        return AuthDecision(Disposition.ACCEPT, f"dmarc={dmarc.result.value}")
    if dmarc.result is DmarcStatus.TEMPERROR:
        return AuthDecision(actions.on_temperror, f"dmarc=temperror: {dmarc.detail}")
    if dmarc.result is DmarcStatus.PERMERROR:
        return AuthDecision(actions.on_fail, f"dmarc=permerror: {dmarc.detail}")
    if arc is not None and arc.is_trusted_pass and arc.upstream.get("dmarc") == "pass":
        return AuthDecision(Disposition.TAG, f"dmarc=fail, but the trusted ARC sealer "
                                             f"{arc.sealer} recorded dmarc=pass")
    action = {DmarcPolicy.REJECT: actions.on_reject,
              DmarcPolicy.QUARANTINE: actions.on_quarantine}.get(
        dmarc.disposition or DmarcPolicy.NONE, actions.on_fail)
    policy = dmarc.policy.value if dmarc.policy else "none"
    return AuthDecision(action, f"dmarc=fail (p={policy}) for {dmarc.from_domain}: "
                                f"{dmarc.detail}")


def own_domain_spoof(sender: FromVerdict, dkim: Sequence[DkimResult]) -> str | None:
    """Why this message passes itself off as a provincial sender, or ``None``.

    ``sender`` is the one reading of the From, made with the province's domains. An
    ambiguous From that any reading maps to a provincial domain is a forgery whatever
    it carries; a plain From in a provincial domain needs a passing DKIM signature
    aligned with it (relaxed: the same organizational domain).
    """
    if sender.address is None:
        if not sender.claims:
            return None
        return (f"the From header is ambiguous ({sender.ambiguity}) and reads as the "
                f"province's own domain {sender.claims[0]}")
    domain = sender.address.domain
    if domain not in sender.claims:
        return None
    if any(r.result is AuthResult.PASS and r.domain and is_aligned(r.domain, domain,
                                                                   strict=False)
           for r in dkim):
        return None
    return f"From is the province's own domain {domain} but no DKIM signature aligned " \
           f"with it passed"


@dataclass(frozen=True, slots=True)
class AuthVerdict:
    """SPF, DKIM, DMARC and ARC results of one inbound message."""

    spf: SpfResult
    dkim: tuple[DkimResult, ...]
    dmarc: DmarcResult
    arc: ArcResult
    sender: FromVerdict

    def methods(self) -> list[MethodResult]:
        """For :func:`signer.authentication_results`: dkim, spf, dmarc, arc (add S/MIME's)."""
        return [*self.dkim, self.spf, self.dmarc, self.arc]

    def own_domain_spoof(self) -> str | None:
        """Why this message passes itself off as a provincial sender, or ``None``."""
        return own_domain_spoof(self.sender, self.dkim)

    @property
    def is_own_domain_spoof(self) -> bool:
        """Whether it passes itself off as a provincial sender (:func:`own_domain_spoof`)."""
        return self.own_domain_spoof() is not None

    def disposition(self, actions: DmarcActions) -> AuthDecision:
        """:func:`dmarc_disposition` of this message's DMARC and ARC results."""
        return dmarc_disposition(self.dmarc, actions, arc=self.arc)

    def audit(self) -> list[dict[str, str | None]]:
        """One entry per method (spf, dmarc, arc): method, result, reason, domain."""
        return [self.spf.audit(), self.dmarc.audit(), self.arc.audit()]


class AuthChecker:
    """SPF, DMARC and ARC for inbound mail, through one caching resolver.

    :param config: the ``[signer.auth]`` table.
    :param resolver: DNS; share it with :class:`signer.DkimVerifier` for one cache.
    :param receiver: our host name (SPF's ``%{r}`` macro).
    :param sample: a number in [0, 1) per message, for DMARC ``pct`` sampling.
    """

    def __init__(self, config: AuthConfig, resolver: CachingResolver, *,
                 receiver: str = "localhost",
                 sample: Callable[[], float] = random.random) -> None:
        self.config = config
        self.resolver = resolver
        self._spf = SpfChecker(resolver, budget=config.dns_budget, receiver=receiver)
        self._dmarc = DmarcChecker(resolver, sample=sample)
        self._arc = ArcVerifier(resolver, trusted_sealers=config.trusted_arc_sealers,
                                budget=config.dns_budget)
        self.actions = DmarcActions.from_config(config)
        organizational_domain("example.gov.vn")  # read the Public Suffix List now (~30 ms)

    @classmethod
    def from_config(cls, config: SignerConfig) -> AuthChecker:
        """A checker on ``[signer.dkim]``'s resolver with ``[signer.auth]``'s cache settings."""
        auth = config.auth
        resolver = CachingResolver(
            config.dkim.resolver_nameserver, port=config.dkim.resolver_port,
            timeout=config.dkim.resolver_timeout, max_entries=auth.cache_max_entries,
            max_ttl=auth.cache_max_ttl, negative_ttl=auth.negative_ttl)
        return cls(auth, resolver, receiver=config.dkim.authserv_id)

    def check(self, *, client_ip: str, helo: str, mail_from: str, raw: bytes,
              sender: FromVerdict, dkim_results: Sequence[DkimResult],
              header: HeaderBlock | None = None) -> AuthVerdict:
        """Authenticate one inbound message (the bytes as received).

        :param client_ip: the original client (XFORWARD ADDR).
        :param helo: its HELO name (XFORWARD HELO).
        :param mail_from: the envelope sender, ``""`` for the null sender.
        :param sender: the one reading of ``raw``'s From (:func:`mailbase.read_from`).
        :param dkim_results: what :meth:`signer.DkimVerifier.verify` gave for ``raw``.
        :param header: ``raw``'s header as :func:`mailbase.read_header` read it (for ARC).
        """
        spf = self._spf.check(client_ip=client_ip, helo=helo, mail_from=mail_from)
        dmarc = self._dmarc.check_sender(sender, spf=spf, dkim=dkim_results)
        arc = self._arc.verify(raw, header=header)
        return AuthVerdict(spf, tuple(dkim_results), dmarc, arc, sender)
