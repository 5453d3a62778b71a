"""``congvu doctor``'s look at the mail flowing to congvu: each listener answers, and no
mail waits for congvu in Postfix's queue.

A listener Postfix sends mail to that does not answer is an error naming the Postfix
setting: behind the queue mail piles up there (Postfix retries for days, then bounces),
before it every sender is answered 451; so is one whose greeting says congvu waits for
disk space (milter/spacewait.py: it answers every message 451 4.3.1). Mail waiting in
the queue for a listener is found in ``postqueue -j``: a delay reason that names the
listener's port (Postfix could not connect), or, for a reply without a port (``host
127.0.0.1[127.0.0.1] said: 451 ...``), the queue file's ``content_filter`` record
(``postcat -e``, readable by root).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from milter.config import ListenerConfig, QueuePosition
from milter.doctor_postfix import Route
from milter.findings import Finding
from milter.findings import error as _error
from milter.findings import ok as _ok
from milter.findings import warn as _warn
from milter.replies import R220_WAITING_FOR_SPACE

ANSWER_TIMEOUT = 5.0
QUEUE_ERROR_AGE = dt.timedelta(minutes=30)
# postcat reads one queue file per call: enough to find the oldest of a long queue
POSTCAT_LIMIT = 200

_PORT_IN_REASON = re.compile(r"\]:(?P<port>\d+)")
_HOST_SAID = re.compile(r"^host \S+\[(?P<address>[^\]]+)\] said: ")
_FILTER_RECORD = re.compile(r"(?m)^content_filter: (?P<value>\S+)$")


def _connect_address(listener: ListenerConfig) -> str:
    """Where to reach a listener: its address, or loopback for the wildcard."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listener.address, listener.address)


def _greeting(address: str, port: int, timeout: float) -> str:
    """The first line a server sends on connect; OSError when none answers."""
    with socket.create_connection((address, port), timeout=timeout) as sock:
        line = sock.makefile("rb").readline(512)
        if not line:
            raise OSError("it closed the connection without a greeting")
        if line.startswith(b"220"):
            sock.sendall(b"QUIT\r\n")
        return line.decode("utf-8", "replace").strip()


def check_listeners(listeners: Sequence[ListenerConfig], routes: Sequence[Route], *,
                    timeout: float = ANSWER_TIMEOUT) -> Iterator[Finding]:
    """Each listener answers on its address; one Postfix sends mail to that does not is
    an error naming the setting, another a warning."""
    for listener in listeners:
        if listener.port == 0:
            continue  # a free port picked at start: nothing to connect to from here
        where = f"listener {listener.name}"
        address = _connect_address(listener)
        target = f"[{address}]:{listener.port}" if ":" in address else \
            f"{address}:{listener.port}"
        try:
            greeting = _greeting(address, listener.port, timeout)
        except OSError as exc:
            fed = [route for route in routes if route.port == listener.port]
            reason = exc.strerror or str(exc) or type(exc).__name__
            if not fed:
                yield _warn(where, f"congvu does not answer on {target} ({reason})",
                            "start congvu (systemctl start congvu; journalctl -u congvu "
                            "says why it stopped)")
                continue
            for route in fed:
                effect = ("mail waits in Postfix's queue and is bounced when it expires"
                          if route.queue is QueuePosition.AFTER
                          else "every message on that service is answered 451")
                yield _error(where, f"congvu does not answer on {target} ({reason}), and "
                             f"Postfix sends mail to it ({route.setting} = {route.value}): "
                             f"{effect}", "start congvu (systemctl start congvu; journalctl "
                             "-u congvu says why it stopped)")
            continue
        if R220_WAITING_FOR_SPACE.text in greeting:
            yield _error(where, f"congvu answers on {target} but waits for disk space to "
                         "open its stores: every message is answered 451 4.3.1 and waits in "
                         "Postfix's queue", "free space where service.data_dir's check says "
                         "the disk is full (docs/runbooks.md, Disk full): congvu opens its "
                         "stores by itself within a minute (systemctl reload congvu: at once)")
            continue
        yield _ok(where, f"congvu answers on {target}: {greeting[:80]}")


@dataclass(frozen=True, slots=True)
class Waiting:
    """A message in Postfix's queue for a congvu listener."""

    queue_id: str
    port: int
    arrived: dt.datetime
    reason: str


def _postqueue(directory: Path) -> list[dict[str, object]]:
    done = subprocess.run(["postqueue", "-c", str(directory), "-j"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise OSError(lines[-1] if lines else f"postqueue exited {done.returncode}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _content_filter_port(directory: Path, queue_id: str) -> int | None:
    """The port of the queue file's content_filter record, or None (none, or the file
    cannot be read: postcat needs root)."""
    done = subprocess.run(["postcat", "-c", str(directory), "-e", "-q", queue_id],
                          capture_output=True, text=True, timeout=30, check=False)
    match = _FILTER_RECORD.search(done.stdout) if done.returncode == 0 else None
    port = match["value"].rpartition(":")[2] if match else ""
    return int(port) if port.isdigit() else None


def waiting_for(messages: Sequence[dict[str, object]], ports: set[int],
                addresses: set[str], directory: Path) -> list[Waiting]:
    """The queued messages (deferred, or active again for a retry) that wait for one of
    ``ports``."""
    found = []
    looked_up = 0
    for message in messages:
        if message.get("queue_name") not in ("deferred", "active"):
            continue
        recipients = message.get("recipients")
        reasons = [str(r.get("delay_reason", "")) for r in recipients
                   if isinstance(r, dict)] if isinstance(recipients, list) else []
        reasons = [reason for reason in reasons if reason]
        port = None
        for reason in reasons:
            named = _PORT_IN_REASON.search(reason)
            if named and int(named["port"]) in ports:
                port = int(named["port"])
                break
        said = [r for r in reasons if (m := _HOST_SAID.match(r)) and m["address"] in addresses]
        if port is None and said and looked_up < POSTCAT_LIMIT:
            looked_up += 1
            filtered = _content_filter_port(directory, str(message.get("queue_id")))
            port = filtered if filtered in ports else None
        arrival = message.get("arrival_time")
        if port is not None and isinstance(arrival, int | float):
            found.append(Waiting(str(message.get("queue_id")), port,
                                 dt.datetime.fromtimestamp(arrival, dt.UTC),
                                 reasons[0] if reasons else "not tried yet"))
    return found


def _age(delta: dt.timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days {hours % 24} h"


def check_queue(listeners: Sequence[ListenerConfig], routes: Sequence[Route],
                directory: Path, *, now: dt.datetime,
                error_age: dt.timedelta = QUEUE_ERROR_AGE) -> Iterator[Finding]:
    """Mail waiting in Postfix's queue for a congvu listener, with the oldest one's age:
    an error once it has waited ``error_age``, a warning before."""
    where = f"postfix queue {directory}"
    behind = {route.port for route in routes if route.queue is QueuePosition.AFTER}
    ports = {listener.port for listener in listeners if listener.port in behind}
    if not ports:
        return  # no content_filter reaches congvu: nothing queues for it
    try:
        messages = _postqueue(directory)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        yield _warn(where, f"cannot read Postfix's queue ({exc}): is Postfix running?",
                    f"postfix -c {directory} start, or run the doctor as root")
        return
    addresses = {_connect_address(listener) for listener in listeners}
    waiting = waiting_for(messages, ports, addresses, directory)
    for listener in listeners:
        mine = sorted((w for w in waiting if w.port == listener.port),
                      key=lambda w: w.arrived)
        if not mine:
            continue
        oldest = mine[0]
        age = now - oldest.arrived
        text = (f"{len(mine)} message(s) wait in Postfix's queue for listener "
                f"{listener.name} (port {listener.port}), the oldest ({oldest.queue_id}) for "
                f"{_age(age)}: {oldest.reason}")
        fix = (f"make congvu answer (systemctl status congvu; journalctl -u congvu), then "
               f"postqueue -c {directory} -f to retry them now")
        yield (_error if age >= error_age else _warn)(where, text, fix)
    if not waiting:
        yield _ok(where, f"no mail waits for congvu ({len(messages)} message(s) queued)")
