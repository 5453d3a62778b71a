"""SPF (RFC 7208): may this client send mail for the envelope sender's domain?

:class:`SpfChecker` evaluates the MAIL FROM identity (the HELO identity when the
envelope sender is null, RFC 7208 section 2.4) for the original client address. The
record evaluation (mechanisms, macros, the 10-lookup and 2-void-lookup limits of section
4.6.4) is pyspf's, in strict mode; its DNS goes through our :class:`CachingResolver`
(never pyspf's module-level resolver), and every lookup of one check shares a time
budget, so a slow or silent nameserver gives ``temperror``, never a hang. pyspf's
outcomes and exceptions are translated in one place, :func:`_map_outcome`.

Where pyspf departs from RFC 7208 the query says so: a DNS error on the A (AAAA)
lookup of one name a PTR query returned skips that name and the search goes on, and a
PTR query that fails matches nothing (section 5.5), instead of ending in temperror. A
``fail`` carries the domain's own explanation when its record has an ``exp=`` that
resolves (section 6.2), made fit for an SMTP reply (section 8.4): printable US-ASCII
on one line, at most :data:`MAX_EXPLANATION` characters, and none at all when the
expanded text is not US-ASCII (section 6.2 makes such an explanation empty).

Results (RFC 7208 section 2.6, RFC 8601 section 2.7.2): pass, fail, softfail, neutral,
none, temperror, permerror.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import spf as pyspf

from mailbase import Reason
from signer import reasons
from signer.dnscache import CachingResolver
from signer.errors import DnsTemporaryError

_QTYPES = frozenset({"A", "AAAA", "MX", "PTR", "TXT"})

#: The longest explanation passed on: an SMTP reply line holds 512 octets (RFC 5321
#: 4.5.3.1.5), and the refusal's own text comes first.
MAX_EXPLANATION = 200


class SpfStatus(Enum):
    """An SPF result (RFC 7208 section 2.6)."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


@dataclass(frozen=True, slots=True)
class SpfResult:
    """The SPF result for one identity of one message.

    ``identity`` is ``mailfrom`` or ``helo``; ``domain`` the domain checked (the
    envelope sender's, or the HELO name's for a null sender); ``sender`` what was checked;
    ``explanation`` the domain's ``exp=`` text, on ``fail`` only (RFC 7208 section 6.2):
    what the sending domain wants a refused sender told.
    """

    method: ClassVar[str] = "spf"

    result: SpfStatus
    reason: str
    identity: str = "mailfrom"
    domain: str | None = None
    sender: str = ""
    client_ip: str = ""
    explanation: str | None = None
    #: the reason's code and parameters (signer/reasons.py), which ``reason`` is the
    #: English of; None where it has none (pyspf's own temperror and permerror texts)
    why: Reason | None = field(default=None, compare=False)

    def properties(self) -> list[tuple[str, str]]:
        """The RFC 8601 ``smtp.mailfrom=`` (or ``smtp.helo=``) property."""
        if not self.sender:
            return []
        return [(f"smtp.{self.identity}", self.sender)]

    def reply_note(self) -> str | None:
        """The explanation as an SMTP refusal quotes it, said to come from the domain
        (RFC 7208 6.2: it is a third party's text), or None when there is none."""
        if self.result is not SpfStatus.FAIL or not self.explanation:
            return None
        return f"SPF: {self.domain} explains: {self.explanation}"

    def audit(self) -> dict[str, str | None]:
        """The audit record's view: method, result, reason, domain."""
        return {"method": "spf", "result": self.result.value, "reason": self.reason,
                "domain": self.domain, **(self.why.as_json() if self.why else {})}


class SpfChecker:
    """Evaluates SPF for inbound mail through a caching resolver.

    :param resolver: DNS lookups (answers cached for their TTL).
    :param budget: seconds all the DNS lookups of one check may take together; then the
        result is ``temperror`` (RFC 7208 section 4.6.4 suggests at least 20 s; a mail
        filter that holds an SMTP session waits less).
    :param receiver: our host name, for the ``%{r}`` macro.
    """

    def __init__(self, resolver: CachingResolver, *, budget: float = 10.0,
                 receiver: str = "localhost") -> None:
        if budget <= 0:
            raise ValueError("budget must be positive")
        self._resolver = resolver
        self.budget = budget
        self.receiver = receiver

    def check(self, *, client_ip: str, helo: str, mail_from: str) -> SpfResult:
        """The SPF result for this client, HELO name and envelope sender (``""`` if null)."""
        helo = helo.strip().rstrip(".")
        mail_from = mail_from.strip().strip("<>")
        if mail_from:
            identity, sender = "mailfrom", mail_from
            domain = mail_from.rpartition("@")[2].lower().rstrip(".") if "@" in mail_from \
                else mail_from.lower()
        else:
            identity, sender, domain = "helo", helo, helo.lower()
        try:
            address = ipaddress.ip_address(client_ip.strip().strip("[]"))
        except ValueError:
            why = (reasons.SPF_NOT_AN_ADDRESS(address=repr(client_ip)) if client_ip
                   else reasons.SPF_NO_CLIENT())
            return SpfResult(SpfStatus.NONE, why.text, identity, domain or None, sender,
                             client_ip, why=why)
        if not domain or not _valid_domain(domain):
            why = reasons.SPF_NO_DOMAIN(sender=repr(sender))
            return SpfResult(SpfStatus.NONE, why.text, identity, domain or None, sender,
                             str(address), why=why)
        query = _Query(self._resolver, time.monotonic() + self.budget,
                       i=str(address), s=mail_from, h=helo or domain, receiver=self.receiver)
        status, reason = _map_outcome(query, domain)
        return SpfResult(status, str(reason), identity, domain, sender, str(address),
                         reply_text(query.explanation) if status is SpfStatus.FAIL else None,
                         why=reason if isinstance(reason, Reason) else None)


def reply_text(explanation: str | None) -> str | None:
    """An ``exp=`` text as it may stand in an SMTP reply, or None (RFC 7208 6.2, 8.4).

    The sending domain writes it, and its macros carry what the client sent (``%{s}``,
    ``%{h}``): text that is not US-ASCII gives no explanation; control characters (CR,
    LF, TAB, NUL, DEL) become spaces, so nothing can start a reply line of its own;
    spaces at either end go; past :data:`MAX_EXPLANATION` characters it is cut, with
    "..." saying so. The text is otherwise kept as the domain wrote it.
    """
    if not explanation or not explanation.isascii():
        return None
    text = "".join(c if " " <= c <= "~" else " " for c in explanation).strip(" ")
    if len(text) > MAX_EXPLANATION:
        text = text[: MAX_EXPLANATION - 3].rstrip() + "..."
    return text or None


def _valid_domain(domain: str) -> bool:
    """RFC 7208 section 4.3: a domain that is not a valid FQDN gives ``none``."""
    labels = domain.split(".")
    return len(domain) <= 253 and len(labels) > 1 and all(0 < len(x) < 64 for x in labels)


def _map_outcome(query: _Query, domain: str) -> tuple[SpfStatus, Reason | str]:
    """Run pyspf and translate its result triple and its exceptions into ours."""
    try:
        result, _code, explanation = query.check()
    except (pyspf.TempError, DnsTemporaryError) as exc:
        return SpfStatus.TEMPERROR, reasons.SPF_DNS_FAILED(detail=str(exc))
    except (pyspf.PermError, AssertionError, RecursionError, ValueError,
            UnicodeError) as exc:
        # pyspf raises AssertionError for recursion past its own limit in strict mode
        return SpfStatus.PERMERROR, reasons.SPF_CANNOT_EVALUATE(domain=domain, detail=str(exc))
    try:
        status = SpfStatus(result)
    except ValueError:
        return SpfStatus.PERMERROR, reasons.SPF_AMBIGUOUS(domain=domain,
                                                          detail=str(explanation))
    mechanism = getattr(query, "mechanism", None)
    if status is SpfStatus.NONE:
        return status, reasons.SPF_NO_RECORD(domain=domain)
    if status in (SpfStatus.TEMPERROR, SpfStatus.PERMERROR):
        return status, str(explanation).removeprefix("SPF ")
    matched = reasons.SPF_MATCHED(mechanism=str(mechanism)) if mechanism else ""
    return status, _VERB[status](client=str(query.c), domain=domain, matched=matched)


_VERB = {SpfStatus.PASS: reasons.SPF_AUTHORIZED, SpfStatus.FAIL: reasons.SPF_NOT_AUTHORIZED,
         SpfStatus.SOFTFAIL: reasons.SPF_DISCOURAGED, SpfStatus.NEUTRAL: reasons.SPF_NEITHER}


_NO_EXPLANATION = "\x00no exp="


class _BudgetSpent(pyspf.TempError):  # type: ignore[misc]
    """The check's DNS time budget is spent: temperror, whatever the lookup was for."""


class _Query(pyspf.query):  # type: ignore[misc]
    """pyspf's evaluator with its DNS through our resolver and a time budget."""

    def __init__(self, resolver: CachingResolver, deadline: float, **kwargs: Any) -> None:
        super().__init__(strict=True, timeout=resolver.timeout, **kwargs)
        self._resolver = resolver
        self._deadline = deadline
        # pyspf's stock texts stand in when a record has no exp=; we want only the record's
        self.set_default_explanation(_NO_EXPLANATION)
        self._last: tuple[str, int, str] | None = None

    def check(self, spf: str | None = None) -> tuple[str, int, str]:
        """pyspf's evaluation, its result triple kept for :attr:`explanation`."""
        self._last = super().check(spf)
        return self._last

    @property
    def explanation(self) -> str | None:
        """The ``exp=`` text of the record that gave the result, if it had one."""
        if self._last is None or self._last[0] != "fail":
            return None
        return self._last[2] if self._last[2] != _NO_EXPLANATION else None

    def validated_ptrs(self) -> list[str]:
        """The client's validated names (RFC 7208 section 5.5), at most 10 looked up.

        A PTR query that fails matches nothing; a name whose address lookup fails is
        skipped and the others are still checked (pyspf's own ends in temperror). A spent
        time budget still ends the check.
        """
        try:
            names = self.dns_ptr(self.i)
        except _BudgetSpent:
            raise
        except pyspf.TempError:
            return []
        validated = []
        for name in names[: pyspf.MAX_PTR]:
            try:
                addresses = self.dns_a(name, self.A)
            except _BudgetSpent:
                raise
            except pyspf.TempError:
                continue
            if self.cidrmatch(addresses, self.cidrmax):
                validated.append(name)
        return validated

    def dns(self, name: str, qtype: str, cnames: Any = None,
            ignore_void: bool = False) -> list[Any]:
        """One lookup, counted against the void-lookup limit when it finds nothing."""
        if not name:
            raise pyspf.PermError("empty domain name in a mechanism")
        name = str(name).rstrip(".").lower()
        if qtype not in _QTYPES or not all(0 < len(x) < 64 for x in name.split(".")):
            return []  # an invalid name matches nothing (RFC 7208 section 4.6.4)
        if time.monotonic() > self._deadline:
            raise _BudgetSpent(f"the DNS time budget was spent before looking up {name}")
        try:
            records = self._resolver.lookup(name, qtype)
        except DnsTemporaryError as exc:
            raise pyspf.TempError(f"{qtype} lookup of {name}: {exc.reason}") from exc
        except ValueError:
            records = ()
        result = list(records)
        if not result and not ignore_void:
            # RFC 7208 section 4.6.4: more than two lookups that find nothing is permerror
            self.void_lookups += 1
            if self.void_lookups > pyspf.MAX_VOID_LOOKUPS:
                raise pyspf.PermError(
                    f"more than {pyspf.MAX_VOID_LOOKUPS} lookups found nothing (void lookup limit)")
        return result
