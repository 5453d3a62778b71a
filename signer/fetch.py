"""HTTP fetches of CA material (CRLs, issuer certificates, OCSP answers) with hard limits.

The stdlib's urllib is enough: the CAs publish over plain HTTP (RFC 5280 4.2.1.13 and
4.2.2.1 name http and ldap; the material is signed, so TLS adds nothing), one GET per
URL (a POST for OCSP), no cookies, no retries. Every fetch is bounded three ways: bytes (the body is
read up to the limit plus one byte, then refused), seconds per fetch (10), and the
deadline of the whole verification (`within`), so the service's documents stage never
waits past its own ``timeout``: what does not answer in time is unknown.
"""

from __future__ import annotations

import contextvars
import http.client
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from signer.errors import FetchError

log = logging.getLogger("congvu.signer")

#: Seconds one fetch may take.
FETCH_TIMEOUT = 10.0
#: Bytes one CA certificate (or a .p7b of a few) may have.
MAX_CERTIFICATE = 1024 * 1024
#: Bytes one CRL may have.
MAX_CRL = 50 * 1024 * 1024
_CHUNK = 64 * 1024
_USER_AGENT = "congvu (document signature verification)"

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "congvu_fetch_deadline", default=None)


@contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Fetches inside the block end by ``seconds`` from now (None: no overall bound)."""
    if seconds is None:
        yield
        return
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


@dataclass(frozen=True, slots=True)
class Fetcher:
    """GETs an http(s) URL with hard limits; ``is_enabled`` False refuses every fetch
    (``--offline``, ``is_fetching = false``)."""

    is_enabled: bool = True
    timeout: float = FETCH_TIMEOUT

    def get(self, url: str, *, max_bytes: int, data: bytes | None = None,
            content_type: str | None = None) -> bytes:
        """The body at ``url``: a GET, or a POST of ``data`` (an OCSP request).

        :raises FetchError: fetching is off, the URL is not http(s), the server did
            not answer in time, answered an error status, or sent more than ``max_bytes``.
        """
        if not self.is_enabled:
            raise FetchError(url, "fetching is off (--offline or is_fetching = false)")
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(url, "only http and https URLs are fetched")
        timeout = self._time_left(url)
        started = time.monotonic()
        headers = {"User-Agent": _USER_AGENT}
        if content_type is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = self._read(url, response, max_bytes, started + timeout)
        except FetchError:
            raise
        except urllib.error.HTTPError as exc:
            raise FetchError(url, f"the server answered HTTP {exc.code}") from exc
        except urllib.error.URLError as exc:
            raise FetchError(url, f"not reached ({_why(exc.reason)})") from exc
        except TimeoutError as exc:
            raise FetchError(url, f"no answer within {timeout:.1f} s") from exc
        except (OSError, ValueError) as exc:
            raise FetchError(url, f"not reached ({_why(exc)})") from exc
        log.info("fetched url=%s bytes=%d seconds=%.3f", url, len(body),
                 time.monotonic() - started)
        return body

    def _time_left(self, url: str) -> float:
        deadline = _deadline.get()
        if deadline is None:
            return self.timeout
        left = deadline - time.monotonic()
        if left <= 0.05:
            raise FetchError(url, "not fetched: the verification's time was used up")
        return min(self.timeout, left)

    @staticmethod
    def _read(url: str, response: http.client.HTTPResponse, max_bytes: int,
              deadline: float) -> bytes:
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise FetchError(url, f"larger than the {_size(max_bytes)} accepted")
        parts: list[bytes] = []
        total = 0
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                return b"".join(parts)
            total += len(chunk)
            if total > max_bytes:
                raise FetchError(url, f"larger than the {_size(max_bytes)} accepted")
            if time.monotonic() > deadline:  # a server trickling bytes
                raise FetchError(url, "the answer did not finish in time")
            parts.append(chunk)


def _why(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"
