"""``serve`` started on a full disk: listen anyway, defer every message, retry the stores.

A filter that exits because its disk is full leaves Postfix retrying against a port
nobody listens on, and its administrator reading "connection refused" instead of why.
When every reason the stores cannot be opened at start is a full disk
(``outofspace.is_out_of_space``: ENOSPC, EDQUOT, SQLite's "database or disk is full", or
SQLite's I/O or cannot-open error on a file system with no room left), ``serve`` binds
its listeners as always and, until the stores open:

- greets with ``R220_WAITING_FOR_SPACE`` (``doctor`` reads it) and answers every MAIL
  with ``R451_NO_SPACE``, 451 4.3.1 (RFC 3463: insufficient system storage), so no
  message gets further: Postfix keeps it queued and retries, and nothing is recorded;
- opens the stores again after 5 s, then twice as long each time, at most a minute
  apart (SIGHUP: at once, with the configuration file read again), one log line per
  attempt saying what is still full and how many messages were deferred meanwhile;
- serves ``[metrics] listen`` itself, with one gauge, ``congvu_waiting_for_disk_space
  1`` (the usual metrics keep their files on the data directory's disk, and start
  with the workers, which have none of this gauge).

Once they open the listeners go to the workers as at any start. A retry that fails for
another reason (a key removed meanwhile) ends the service with that error, as a start
would; so does any problem at start that is not a full disk.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from milter.checks import LocalProblem, local_problems
from milter.config import ListenerConfig, Protocol
from milter.errors import ConfigError
from milter.logs import event
from milter.peeruser import user_ids
from milter.replies import R451_NO_SPACE, waiting_for_space_greeting
from milter.settings import Reload, Settings
from milter.smtp import ConnectionTracker, FilterLMTP, FilterSession, FilterSMTP

log = logging.getLogger("congvu.milter")

FIRST_RETRY = 5.0
LAST_RETRY = 60.0


class _DeferringHandler:
    """Every MAIL answered 451 4.3.1, counted for the next attempt's log line."""

    def __init__(self) -> None:
        self.deferred = 0

    async def handle_MAIL(self, server: FilterSMTP, session: FilterSession,
                          envelope: SmtpEnvelope, address: str, options: list[str]) -> str:
        """No transaction can begin: the message stays with the client."""
        self.deferred += 1
        return str(R451_NO_SPACE)

    async def abort_transaction(self, session: FilterSession) -> None:
        """No transaction is ever opened here."""


class _DeferringSMTP(FilterSMTP):
    """The filter's protocol (XFORWARD, limits, clients) greeting with why it defers."""

    async def push(self, status: Any) -> None:
        if status == f"220 {self.hostname} {self.__ident__}":
            # said in both languages already
            await SMTP.push(self, str(waiting_for_space_greeting(self.hostname)))
            return
        await super().push(status)


class _DeferringLMTP(_DeferringSMTP, FilterLMTP):
    """The same on an LMTP listener."""


def _protocol(config: Settings, listener: ListenerConfig, handler: _DeferringHandler,
              tracker: ConnectionTracker) -> FilterSMTP:
    factory = _DeferringLMTP if listener.protocol is Protocol.LMTP else _DeferringSMTP
    return factory(
        handler, limits=config.limits, tracker=tracker,
        xforward_hosts=config.service.xforward_hosts, hostname=config.service.hostname,
        clients=listener.clients,
        client_uids=None if listener.client_users is None else user_ids(listener.client_users),
        listener=listener.name)


#: what ``[metrics] listen`` serves while congvu waits (Prometheus' text format)
WAITING_METRICS = (b"# HELP congvu_waiting_for_disk_space 1 while congvu cannot open its "
                   b"stores for a full disk and defers every message.\n"
                   b"# TYPE congvu_waiting_for_disk_space gauge\n"
                   b"congvu_waiting_for_disk_space 1\n")


class _WaitingMetrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        """Every path: the one gauge."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(WAITING_METRICS)))
        self.end_headers()
        self.wfile.write(WAITING_METRICS)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not events."""


def _serve_metrics(listen: str | None) -> ThreadingHTTPServer | None:
    if listen is None:
        return None
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True

    server = Server((host, int(port)), _WaitingMetrics)
    threading.Thread(target=server.serve_forever, name="waiting-metrics", daemon=True).start()
    return server


def _said(problems: Sequence[LocalProblem]) -> list[str]:
    return [str(problem) for problem in problems]


async def wait_for_space(config: Settings, reload: Reload, sockets: Mapping[str, socket.socket],
                         problems: Sequence[LocalProblem]) -> Settings | None:
    """Defer mail on ``sockets`` until the stores open; return the configuration they
    opened with, or None when SIGTERM or SIGINT came first.

    :raises ConfigError: a retry failed for a reason other than a full disk.
    """
    loop = asyncio.get_running_loop()
    stopping, retry_now = asyncio.Event(), asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, retry_now.set)
    handler = _DeferringHandler()
    tracker = ConnectionTracker(config.limits.max_connections)
    # a duplicate of each socket: closing a server closes its socket, and the workers
    # take over the listener itself, with what waits in its backlog
    servers = [await loop.create_server(
        lambda listener=listener: _protocol(config, listener, handler, tracker),  # type: ignore[misc]
        sock=sockets[listener.name].dup()) for listener in config.listeners]
    started, attempt, delay = time.monotonic(), 0, FIRST_RETRY
    event(log, "waiting for disk space", logging.ERROR, problems=_said(problems),
          reply=str(R451_NO_SPACE), retry_in=delay)
    checking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="space-retry")
    metrics = _serve_metrics(config.metrics.listen)
    try:
        while True:
            waits = [loop.create_task(stopping.wait()), loop.create_task(retry_now.wait())]
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            if stopping.is_set():
                return None
            if retry_now.is_set():
                retry_now.clear()
                try:
                    config = reload.read()
                except ConfigError as exc:
                    event(log, "reload refused, keeping the running configuration",
                          logging.ERROR, error=str(exc))
            attempt += 1
            problems = await loop.run_in_executor(
                checking, functools.partial(local_problems, config, create=True))
            deferred, handler.deferred = handler.deferred, 0
            if not problems:
                event(log, "disk space found, the stores open", attempts=attempt,
                      deferred=deferred, waited_s=round(time.monotonic() - started, 1))
                return config
            if not all(problem.is_out_of_space for problem in problems):
                raise ConfigError(reload.name, _said(problems))
            delay = min(delay * 2, LAST_RETRY)
            event(log, "still waiting for disk space", logging.ERROR, attempt=attempt,
                  problems=_said(problems), deferred=deferred, retry_in=delay)
    finally:
        checking.shutdown(wait=True)
        if metrics is not None:  # its port goes to the usual metrics next
            metrics.shutdown()
            metrics.server_close()
        tracker.is_draining = True
        for server in servers:
            server.close()
        for protocol in list(tracker.live):
            protocol.begin_drain()
        for server in servers:
            await server.wait_closed()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
