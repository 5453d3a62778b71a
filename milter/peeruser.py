"""Which local user holds the other end of a loopback TCP connection (Linux).

A listener's ``clients`` (addresses) keep out programs that just connect, but any user
on the host can bind 127.0.0.25 as a source address. The user that owns the client's
socket cannot be chosen: the kernel lists it beside the connection in /proc/net/tcp
and /proc/net/tcp6, where both ends of a loopback connection appear. ``client_users``
admits only the users named (Postfix's), so no other account on the host can submit
mail that congvu signs as a unit's.
"""

from __future__ import annotations

import ipaddress
import pwd
import socket
from collections.abc import Iterable
from pathlib import Path

_TABLES = {socket.AF_INET: Path("/proc/net/tcp"), socket.AF_INET6: Path("/proc/net/tcp6")}


class UnknownUserError(ValueError):
    """A name in ``client_users`` that is no account on this host."""


def user_ids(names: Iterable[str | int]) -> frozenset[int]:
    """The uids of ``names`` (account names or numbers).

    :raises UnknownUserError: a name that is no account here.
    """
    found = set()
    for name in names:
        if isinstance(name, int) or str(name).isdigit():
            found.add(int(name))
            continue
        try:
            found.add(pwd.getpwnam(str(name)).pw_uid)
        except KeyError:
            raise UnknownUserError(f"no user {name!r} on this host") from None
    return frozenset(found)


def _hex_endpoint(host: str, port: int) -> str:
    """An address as /proc/net/tcp{,6} writes it: host bytes in 32-bit words, each in
    the machine's (little-endian) order, then the port, in upper-case hex."""
    packed = ipaddress.ip_address(host.split("%")[0]).packed
    words = [packed[i:i + 4][::-1] for i in range(0, len(packed), 4)]
    return f"{b''.join(words).hex().upper()}:{port:04X}"


def peer_uid(peer: tuple[str, int], local: tuple[str, int]) -> int | None:
    """The uid owning the socket at ``peer`` connected to ``local``, or None when the
    kernel does not list it (not a local peer, or no /proc)."""
    family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
    wanted = (_hex_endpoint(*peer), _hex_endpoint(*local))
    try:
        text = _TABLES[family].read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 7 and (fields[1], fields[2]) == wanted:
            return int(fields[7])
    return None
