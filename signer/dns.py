"""DNS lookups for signer/: a TXT resolver with a configurable nameserver and a deadline.

Verification takes the resolver as a callable (DNS is injected), so tests
point it at a DNS server on loopback and production at the configured recursor. A
lookup either returns the records, returns nothing (the name or the type does not
exist: a permanent answer), or raises :class:`DnsTemporaryError` (timeout, SERVFAIL,
refused, network error), which verification records as ``temperror``, never as pass,
and never as a hang: the whole lookup, retries and TCP fallback included, is bounded
by ``timeout`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from signer.errors import DnsTemporaryError

TxtResolver = Callable[[str], list[bytes]]
"""Look up a name's TXT records: each record's strings joined; ``[]`` when none exist."""


def parse_hostport(text: str, *, default_port: int = 53) -> tuple[str, int]:
    """Split ``HOST:PORT`` (or ``[v6]:PORT``, or a bare host) as ``--dns`` options take it.

    :raises ValueError: an empty host or a port that is not 1-65535.
    """
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end] if end > 0 else ""
        rest = text[end + 1 :] if end > 0 else ""
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    if not host:
        raise ValueError(f"no host in {text!r}; expected HOST:PORT")
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"invalid port in {whole!r}; expected HOST:PORT with a port 1-65535")
    return int(text)


def make_resolver(nameserver: str | None, *, port: int, timeout: float
                  ) -> dns.resolver.Resolver:
    """A dnspython resolver for one server (or /etc/resolv.conf), one time budget for the
    whole lookup (retries and TCP fallback included), and no cache of its own.

    :raises ValueError: a timeout that is not positive.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    resolver = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        resolver.nameservers = [nameserver]
    resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = None
    return resolver


class DnsResolver:
    """TXT lookups through one recursive resolver (or the system's) with a deadline.

    :param nameserver: the resolver's IP address; ``None`` uses /etc/resolv.conf.
    :param port: the resolver's port (tests use a loopback server on a free port).
    :param timeout: seconds for the whole lookup, retries and TCP fallback included.
    """

    def __init__(self, nameserver: str | None = None, *, port: int = 53,
                 timeout: float = 5.0) -> None:
        self._resolver = make_resolver(nameserver, port=port, timeout=timeout)
        self.nameserver = nameserver
        self.port = port
        self.timeout = timeout

    def txt(self, name: str) -> list[bytes]:
        """The TXT records of ``name``, each record's strings joined; ``[]`` if none.

        :raises DnsTemporaryError: timeout, SERVFAIL or any failure to get an answer.
        """
        try:
            qname = dns.name.from_text(name.rstrip(".") + ".")
            answer = self._resolver.resolve(qname, dns.rdatatype.TXT,
                                            raise_on_no_answer=False, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.name.NameTooLong as exc:
            raise ValueError(f"DNS name too long: {name!r}") from exc
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsTemporaryError(name, describe_failure(exc)) from exc
        if answer.rrset is None:
            return []
        return [b"".join(rdata.strings) for rdata in answer.rrset]

    __call__ = txt


def describe_failure(exc: BaseException) -> str:
    """A DNS failure in words for a result's reason (timeout, SERVFAIL, other)."""
    if isinstance(exc, dns.exception.Timeout):
        return "timed out"
    if isinstance(exc, dns.resolver.NoNameservers):
        return "the nameserver failed to answer (SERVFAIL or refused)"
    return str(exc) or type(exc).__name__
