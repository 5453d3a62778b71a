"""A caching DNS resolver for SPF, DMARC and ARC (and DKIM keys): answers kept for their TTL.

Inbound authentication asks the same few names all day (the big senders' SPF records,
their ``_dmarc`` records, their DKIM keys), so :class:`CachingResolver` keeps each
answer for its TTL (capped by ``max_ttl``) and each "no such record" answer for
``negative_ttl`` seconds; temporary failures are never cached. Like
:class:`signer.dns.DnsResolver` it talks to one configurable nameserver (tests use a DNS
server on loopback), bounds every lookup by ``timeout`` seconds, and raises
:class:`DnsTemporaryError` for a timeout, SERVFAIL or network error. Its :meth:`txt`
has the :data:`signer.dns.TxtResolver` shape, so the DKIM verifier can share the cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from signer.dns import describe_failure, make_resolver
from signer.errors import DnsTemporaryError

Record = str | bytes | tuple[bytes, ...] | tuple[int, str]
"""One answer record: an address or name (A, AAAA, PTR), TXT strings, or MX (preference, host)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    records: tuple[Record, ...]
    expires: float


class CachingResolver:
    """DNS lookups through one recursive resolver, with a small TTL-respecting cache.

    :param nameserver: the resolver's IP address; ``None`` uses /etc/resolv.conf.
    :param port: the resolver's port.
    :param timeout: seconds for one whole lookup, retries and TCP fallback included.
    :param max_entries: answers kept; the oldest go first when full.
    :param max_ttl: longest time (seconds) an answer is kept, whatever its TTL says.
    :param negative_ttl: seconds a "no such name / no such record" answer is kept.
    :param clock: monotonic time source (seconds).
    """

    def __init__(self, nameserver: str | None = None, *, port: int = 53, timeout: float = 5.0,
                 max_entries: int = 10_000, max_ttl: float = 3600.0, negative_ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 0 or max_ttl < 0 or negative_ttl < 0:
            raise ValueError("cache sizes and times must not be negative")
        self._resolver = make_resolver(nameserver, port=port, timeout=timeout)
        self.nameserver = nameserver
        self.port = port
        self.timeout = timeout
        self.max_entries = max_entries
        self.max_ttl = max_ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.lookups = 0
        """DNS queries actually sent (cache misses), for tests and benchmarks."""

    def lookup(self, name: str, rdtype: str) -> tuple[Record, ...]:
        """The records of type ``rdtype`` (A, AAAA, MX, PTR, TXT) at ``name``; ``()`` if none.

        :raises DnsTemporaryError: timeout, SERVFAIL or any failure to get an answer.
        :raises ValueError: a name that is not a valid DNS name.
        """
        key = (name.lower().rstrip("."), rdtype)
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                if entry.expires > now:
                    return entry.records
                del self._cache[key]
        records, ttl = self._query(key[0], rdtype)
        if self.max_entries and ttl > 0:
            with self._lock:
                self._cache[key] = _Entry(records, now + ttl)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        return records

    def _query(self, name: str, rdtype: str) -> tuple[tuple[Record, ...], float]:
        self.lookups += 1
        try:
            qname = dns.name.from_text(name + ".")
            answer = self._resolver.resolve(qname, dns.rdatatype.from_text(rdtype),
                                            raise_on_no_answer=False, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return (), self.negative_ttl
        except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.name.LabelTooLong) as exc:
            raise ValueError(f"invalid DNS name {name!r}: {exc}") from exc
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsTemporaryError(name, describe_failure(exc)) from exc
        if answer.rrset is None:
            return (), self.negative_ttl
        records = tuple(_record(rdata) for rdata in answer.rrset)
        return records, min(float(answer.rrset.ttl), self.max_ttl)

    def txt(self, name: str) -> list[bytes]:
        """The TXT records of ``name``, each record's strings joined; ``[]`` if none.

        :raises DnsTemporaryError: timeout, SERVFAIL or any failure to get an answer.
        """
        out: list[bytes] = []
        for record in self.lookup(name, "TXT"):
            if isinstance(record, tuple):
                out.append(b"".join(s for s in record if isinstance(s, bytes)))
        return out

    __call__ = txt

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._cache.clear()


def _record(rdata: object) -> Record:
    rdtype = getattr(rdata, "rdtype", None)
    if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return str(rdata.address)  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        return (int(rdata.preference),  # type: ignore[attr-defined]
                rdata.exchange.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.TXT:
        return tuple(rdata.strings)  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.PTR:
        return str(rdata.target.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
    return str(rdata)
