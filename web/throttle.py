"""The login throttle: guessing is slowed, and nobody can lock a user out from everywhere.

Failed logins are counted in a sliding window (``window`` seconds) three ways:

- per client and user name together: ``attempts`` failures and that client may not
  try that name again until the oldest failure leaves the window;
- per client: ``client_attempts`` failures, whatever the names, and that client may
  not try any name (one address spraying many names);
- per user name, from every client: past ``user_attempts`` failures the name is under
  attack, and then a client that has failed on that name itself may not try it again
  until its failures leave the window, while a client that has not is let through,
  only delayed (``backoff`` seconds, doubling with each further ``user_attempts``
  failures, at most ``max_backoff``).

An outsider's failures count against their own address, so they can refuse only
themselves; against a name they can only make everyone else wait a few seconds, never
refuse a correct password from a client that has not failed. A distributed attack on
one name gets one guess per address per window once the name is under attack, instead
of ``attempts``. IPv6 clients are counted by their /64 (one host has a whole /64 to
pick addresses from); clients behind one NAT share an address, and so share its limits.

The counts are in memory, per process (``congvu web`` is one process); a restart
forgets them.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

#: longer names are counted as one: no user has such a name (check_name: at most 64)
_NAME_LIMIT = 65
#: past this many keys, the keys whose failures have all left the window are forgotten
_SWEEP_AT = 10_000


class Refusal(Enum):
    """Why an attempt is refused (the log says it)."""

    CLIENT_USER = "client-user"
    CLIENT = "client"
    USER_UNDER_ATTACK = "user-under-attack"


@dataclass(frozen=True, slots=True)
class Admission:
    """What the throttle says about one login attempt: refused (and why), or allowed
    after ``delay`` seconds."""

    refusal: Refusal | None = None
    delay: float = 0.0

    @property
    def is_allowed(self) -> bool:
        """Whether the password may be checked (after the delay)."""
        return self.refusal is None


def client_key(host: str) -> str:
    """The address a client is counted by: IPv4 as is, IPv6 by its /64, IPv4-mapped
    IPv6 as the IPv4 address, anything else (a Unix socket, a test client) as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class LoginThrottle:
    """Failed logins per (client, name), per client and per name; thread-safe."""

    def __init__(self, *, attempts: int = 5, client_attempts: int = 30,
                 user_attempts: int = 20, window: float = 300.0, backoff: float = 1.0,
                 max_backoff: float = 8.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if min(attempts, client_attempts, user_attempts) < 1 or window <= 0:
            raise ValueError("login throttle: attempts must be 1 or more, the window positive")
        self.attempts = attempts
        self.client_attempts = client_attempts
        self.user_attempts = user_attempts
        self.window = window
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = clock()
        self._sweep_at = _SWEEP_AT

    @staticmethod
    def _keys(client: str, name: str) -> tuple[tuple[str, str], tuple[str, str],
                                               tuple[str, str]]:
        who = client_key(client)
        user = name[:_NAME_LIMIT]
        return ("pair", f"{who}\n{user}"), ("client", who), ("user", user)

    def _count(self, key: tuple[str, str], now: float) -> int:
        found = self._failures.get(key)
        if found is None:
            return 0
        while found and now - found[0] >= self.window:
            found.popleft()
        return len(found)

    def admit(self, client: str, name: str) -> Admission:
        """May ``client`` try the password of ``name`` now, and after how long."""
        pair, by_client, by_user = self._keys(client, name)
        with self._lock:
            now = self._clock()
            own = self._count(pair, now)
            if own >= self.attempts:
                return Admission(Refusal.CLIENT_USER)
            if self._count(by_client, now) >= self.client_attempts:
                return Admission(Refusal.CLIENT)
            against_name = self._count(by_user, now)
        if against_name < self.user_attempts:
            return Admission()
        if own:
            return Admission(Refusal.USER_UNDER_ATTACK)
        doublings = (against_name - self.user_attempts) // self.user_attempts
        return Admission(delay=min(self.max_backoff, self.backoff * 2.0 ** min(doublings, 32)))

    def failed(self, client: str, name: str) -> None:
        """Count a failed login of ``name`` from ``client``."""
        with self._lock:
            now = self._clock()
            for key in self._keys(client, name):
                self._failures.setdefault(key, deque()).append(now)
            size = len(self._failures)
            if size > self._sweep_at or (size > _SWEEP_AT
                                         and now - self._swept >= self.window):
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        # forget the keys whose failures all left the window; sweep again when the
        # table has doubled (a flood within one window) or a window later
        for key in [k for k in self._failures if not self._count(k, now)]:
            del self._failures[key]
        self._swept = now
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._failures))

    def __len__(self) -> int:
        """How many keys (pairs, clients, names) it remembers failures of."""
        return len(self._failures)

    def succeeded(self, client: str, name: str) -> None:
        """Forget the failures of ``client`` on ``name`` (the count against the name
        stays: an attack on it goes on whoever logs in)."""
        pair, _, _ = self._keys(client, name)
        with self._lock:
            self._failures.pop(pair, None)
