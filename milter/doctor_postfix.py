"""``congvu doctor``'s Postfix checks, read with ``postconf`` from a configuration
directory: mail reaches a congvu listener from the side of the queue its ``queue``
names, from clients it admits, comes back through a reinjection listener that clears
``content_filter`` and allows XFORWARD, and Postfix's size limit is not above congvu's."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from milter.config import (
    ListenerConfig,
    NextHopKind,
    Protocol,
    QueuePosition,
    Role,
)
from milter.findings import Finding
from milter.findings import error as _error
from milter.findings import ok as _ok
from milter.findings import warn as _warn
from milter.settings import Settings

_NEXT_HOP = re.compile(r"^(?P<transport>[^:]+):\[?(?P<host>[^\]]*?)\]?:(?P<port>\d+)$")



def _postconf(directory: Path, *args: str) -> str:
    done = subprocess.run(["postconf", "-c", str(directory), *args],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise OSError(done.stderr.strip() or f"postconf exited {done.returncode}")
    return done.stdout


def _service_params(directory: Path) -> dict[str, dict[str, str]]:
    """master.cf's ``-o`` overrides: service name -> parameter -> value."""
    services: dict[str, dict[str, str]] = {}
    for line in _postconf(directory, "-P").splitlines():
        name, eq, value = line.partition(" = ")
        if not eq and line.endswith(" ="):
            name, value = line[:-2], ""
        parts = name.split("/")
        if len(parts) == 3:
            services.setdefault(parts[0], {})[parts[2]] = value.strip()
    return services


@dataclass(frozen=True, slots=True)
class Route:
    """A Postfix setting that hands mail to a TCP port: ``content_filter`` (behind the
    queue) or ``smtpd_proxy_filter`` (before it), in main.cf or a master.cf service."""

    setting: str
    value: str
    port: int
    queue: QueuePosition


def read_routes(directory: Path) -> list[Route]:
    """Every content_filter and smtpd_proxy_filter of the configuration that names a TCP
    port; OSError when postconf cannot read it."""
    settings = [("main.cf content_filter",
                 _postconf(directory, "-h", "content_filter").strip())]
    for name, params in _service_params(directory).items():
        for parameter in ("content_filter", "smtpd_proxy_filter"):
            if params.get(parameter):
                settings.append((f"master.cf {name} {parameter}", params[parameter]))
    routes = []
    for setting, value in settings:
        if setting.endswith("smtpd_proxy_filter"):
            port = value.removeprefix("inet:").rpartition(":")[2]
            queue = QueuePosition.BEFORE
        else:
            match = _NEXT_HOP.match(value)
            port = match["port"] if match else ""
            queue = QueuePosition.AFTER
        if port.isdigit():
            routes.append(Route(setting, value, int(port), queue))
    return routes


def check_postfix(config: Settings, directory: Path) -> Iterator[Finding]:
    """Postfix sends mail to a congvu listener, takes it back with XFORWARD, and its size
    limit is not above congvu's; each listener sits where its ``queue`` says."""
    where = f"postfix {directory}"
    try:
        content_filter, size_text, bind_address = [*_postconf(
            directory, "-h", "content_filter", "message_size_limit", "smtp_bind_address",
        ).splitlines(), ""][:3]
        services = _service_params(directory)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        yield _error(where, f"postconf cannot read the configuration ({exc})",
                     "install Postfix or give --postfix-config DIR")
        return
    ports = {lst.port for lst in config.listeners if lst.protocol is Protocol.SMTP}
    filters = [("main.cf content_filter", content_filter.strip())] + [
        (f"master.cf {name} content_filter", params["content_filter"])
        for name, params in services.items() if params.get("content_filter")]
    to_congvu = []
    for label, value in filters:
        if not value:
            continue
        match = _NEXT_HOP.match(value)
        if match and int(match["port"]) in ports:
            to_congvu.append(match["transport"])
            yield _ok(where, f"{label} = {value} reaches a congvu listener")
            yield from _check_queue(config, where, label, int(match["port"]),
                                    QueuePosition.AFTER)
            yield from _check_clients(config, where, match["transport"], int(match["port"]),
                                      services.get(match["transport"], {}).get(
                                          "smtp_bind_address", bind_address.strip()))
        else:
            yield _warn(where, f"{label} = {value} is not a congvu listener (ports "
                        f"{', '.join(map(str, sorted(ports)))})",
                        "point it at a [[listeners]] port (deploy/postfix/main.cf.snippet)")
    proxies = [(name, params) for name, params in services.items()
               if params.get("smtpd_proxy_filter")]
    for name, params in proxies:
        value = params["smtpd_proxy_filter"]
        host_port = value.removeprefix("inet:").rpartition(":")
        if host_port[2].isdigit() and int(host_port[2]) in ports:
            to_congvu.append("")  # before-queue: smtpd sends XFORWARD by itself
            yield _ok(where, f"master.cf {name} smtpd_proxy_filter = {value} reaches a congvu "
                      "listener (before the queue)")
            label = f"master.cf {name} smtpd_proxy_filter"
            yield from _check_queue(config, where, label, int(host_port[2]),
                                    QueuePosition.BEFORE)
            yield from _check_proxy_clients(config, where, name, int(host_port[2]))
            yield from _check_proxy_timeout(config, where, name,
                                            params.get("smtpd_proxy_timeout", ""))
    if not to_congvu:
        yield _error(where, "no content_filter (or smtpd_proxy_filter) sends mail to congvu",
                     "add deploy/postfix/main.cf.snippet's content_filter and `postfix reload`")
    for transport in dict.fromkeys(filter(None, to_congvu)):
        if services.get(transport, {}).get("smtp_send_xforward_command") != "yes":
            yield _warn(where, f"master.cf transport {transport} does not send XFORWARD: "
                        "congvu sees Postfix, not the original client",
                        f"add -o smtp_send_xforward_command=yes under {transport}")
    yield from _check_port_25(config, where, directory, services, content_filter.strip())
    yield from _check_reinjection(config, where, services)
    yield from _check_size(config, where, size_text.strip())


def _listeners_on(config: Settings, port: int) -> list[ListenerConfig]:
    return [listener for listener in config.listeners
            if listener.port == port and listener.protocol is Protocol.SMTP]


def _check_queue(config: Settings, where: str, label: str, port: int,
                 position: QueuePosition) -> Iterator[Finding]:
    """A listener that takes inbound mail must sit where its ``queue`` says: behind the
    queue a 5xx becomes Postfix's bounce to a usually forged sender (backscatter), so
    there congvu holds or discards what it refuses; before the queue it answers the
    sending server, which holding would leave believing the mail was delivered. An
    outbound listener's ``queue`` changes nothing (its sender is ours) and is not checked.
    """
    for listener in _listeners_on(config, port):
        if listener.role is Role.OUTBOUND or listener.queue is position:
            continue
        if position is QueuePosition.AFTER:
            yield _error(where, f"{label} puts listener {listener.name} behind the queue, but "
                         'it has queue = "before": congvu answers its refusals 5xx and '
                         "Postfix bounces them to senders that are usually forged "
                         "(backscatter)",
                         f'set queue = "after" on listener {listener.name}, or reach it '
                         "with smtpd_proxy_filter instead")
        else:
            yield _error(where, f"{label} puts listener {listener.name} before the queue, but "
                         'it has queue = "after": congvu holds what it refuses and answers '
                         "250, so the sending server never learns of the refusal",
                         f'set queue = "before" on listener {listener.name}')


def _check_clients(config: Settings, where: str, transport: str, port: int,
                   bind_address: str) -> Iterator[Finding]:
    """The listener Postfix's transport reaches takes mail from it, and only from it."""
    for listener in config.listeners:
        if listener.port != port:
            continue
        if listener.clients is None:
            if listener.role is not Role.INBOUND:
                yield _warn(where, f"listener {listener.name} takes mail from any process on "
                            "this host, and its mail is signed as the province's",
                            f"add -o smtp_bind_address=127.0.0.25 under {transport} and "
                            f"clients = [\"127.0.0.25/32\"] to listener {listener.name}")
            continue
        try:
            source = ipaddress.ip_address(bind_address or "127.0.0.1")
        except ValueError:
            continue
        if not any(source in network for network in listener.clients):
            yield _error(where, f"master.cf {transport} connects from {source}, which "
                         f"listener {listener.name} refuses (clients)",
                         f"set -o smtp_bind_address under {transport} to an address in "
                         f"listener {listener.name}'s clients")
        else:
            yield _ok(where, f"listener {listener.name} takes mail only from {transport} "
                      f"({source})")


def _check_proxy_clients(config: Settings, where: str, service: str,
                         port: int) -> Iterator[Finding]:
    """Postfix's before-queue proxy cannot bind to an address of its own: it connects
    from 127.0.0.1, which the listener must take, and sends XFORWARD from there."""
    source = ipaddress.ip_address("127.0.0.1")
    for listener in _listeners_on(config, port):
        if listener.clients is not None and not any(
                source in network for network in listener.clients):
            yield _error(where, f"master.cf {service} smtpd_proxy_filter connects from "
                         f"{source}, which listener {listener.name} refuses (clients): every "
                         "message on that service is answered 451",
                         f'add "127.0.0.1/32" to listener {listener.name}\'s clients')
        elif listener.clients is None and listener.role is not Role.INBOUND:
            yield _warn(where, f"listener {listener.name} takes mail from any process on "
                        "this host, and its mail is signed as the province's",
                        f'set clients = ["127.0.0.1/32"] on listener {listener.name}')
        else:
            yield _ok(where, f"listener {listener.name} takes the proxy of master.cf "
                      f"{service} ({source})")
    if not any(source in network for network in config.service.xforward_hosts):
        yield _warn(where, f"service.xforward_hosts leaves out {source}, where master.cf "
                    f"{service}'s proxy connects from: congvu does not offer it XFORWARD and "
                    "never learns the original client (SPF, the audit record)",
                    'add "127.0.0.1/32" to service.xforward_hosts')


def _seconds(value: str) -> float | None:
    """A Postfix time value (``420s``, ``7m``; seconds without a unit) in seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    number, unit = (value[:-1], value[-1]) if value[-1:] in units else (value, "s")
    return float(number) * units[unit] if number.isdigit() else None


def _check_proxy_timeout(config: Settings, where: str, service: str,
                         value: str) -> Iterator[Finding]:
    """Postfix must wait for congvu's answer longer than congvu may wait for its next
    hop, or it answers 451 while congvu still relays (the sender's retry is a copy)."""
    seconds = _seconds(value or "100s")  # Postfix's default smtpd_proxy_timeout
    hop = config.next_hop.data_timeout
    if seconds is not None and seconds <= hop:
        yield _warn(where, f"master.cf {service} smtpd_proxy_timeout = {value or '100s'} is "
                    f"not above congvu's next_hop.data_timeout = {hop:g}s: Postfix may answer "
                    "451 while congvu still relays, and the sender's retry is delivered twice",
                    f"set -o smtpd_proxy_timeout= under {service} above {hop:g}s and below "
                    "600s (the sender's wait for the reply to its final dot)")


def _check_port_25(config: Settings, where: str, directory: Path,
                   services: dict[str, dict[str, str]],
                   content_filter: str) -> Iterator[Finding]:
    """Mail from the Internet (master.cf's smtp service, or the smtpd that postscreen
    passes it to) should reach congvu before the queue: behind it, what congvu refuses is
    held and the sending server is never told."""
    try:
        command = _postconf(directory, "-hF", "smtp/inet/command").strip()
    except (OSError, subprocess.SubprocessError):
        return
    if not command:  # no port-25 service on this host
        return
    front = "smtpd" if command == "postscreen" else "smtp"
    params = services.get(front, {})
    if params.get("smtpd_proxy_filter"):
        return
    match = _NEXT_HOP.match(params.get("content_filter", content_filter))
    if match is None:
        return
    for listener in _listeners_on(config, int(match["port"])):
        if listener.role is not Role.OUTBOUND and listener.queue is QueuePosition.AFTER:
            yield _warn(where, f"port 25 (master.cf {front}) reaches listener {listener.name} "
                        "behind the queue: what congvu refuses from the Internet is held, "
                        "never answered to the sending server",
                        f"give the {front} service deploy/postfix/master.cf.snippet's "
                        "smtpd_proxy_filter and content_filter= lines, and congvu.toml's "
                        "port-25 listener")


def _check_reinjection(config: Settings, where: str,
                       services: dict[str, dict[str, str]]) -> Iterator[Finding]:
    hop = config.next_hop
    if hop.kind is not NextHopKind.SMTP:
        return
    names = {f"{hop.host}:{hop.port}", f"[{hop.host}]:{hop.port}"}
    if hop.host in ("127.0.0.1", "localhost", "::1"):
        names.add(str(hop.port))
    found = [name for name in services if name in names]
    fix = "add deploy/postfix/master.cf.snippet's reinjection listener and `postfix reload`"
    if not found:
        yield _error(where, f"master.cf has no reinjection listener on {hop.host}:{hop.port} "
                     "with content_filter= (mail would loop through congvu)", fix)
        return
    params = services[found[0]]
    if params.get("content_filter", "missing") != "":
        yield _error(where, f"master.cf {found[0]} does not clear content_filter: checked mail "
                     "would go through congvu again", f"add -o content_filter= under {found[0]}")
    elif not params.get("smtpd_authorized_xforward_hosts"):
        yield _error(where, f"master.cf {found[0]} does not allow XFORWARD: the queue shows "
                     "congvu as every message's client",
                     f"add -o smtpd_authorized_xforward_hosts=127.0.0.0/8 under {found[0]}")
    else:
        yield _ok(where, f"reinjection listener {found[0]} clears content_filter and allows "
                  "XFORWARD")


def _check_size(config: Settings, where: str, size_text: str) -> Iterator[Finding]:
    limit = config.limits.max_message_size
    try:
        size = int(size_text)
    except ValueError:
        yield _warn(where, f"message_size_limit = {size_text!r} is not a number")
        return
    if size == 0 or size > limit:
        yield _error(where, f"message_size_limit = {size} is above congvu's "
                     f"limits.max_message_size = {limit}: Postfix would queue mail congvu "
                     "refuses", f"postconf -e message_size_limit={limit}")
    else:
        yield _ok(where, f"message_size_limit = {size} (congvu accepts {limit})")


# -- certificates, CA files, CRLs -------------------------------------------------------
