"""The filter's lifecycle in one object: start, reload, drain and stop.

``Server`` binds its listeners (port 0 picks a free port and ``ports`` tells which),
or takes sockets bound by a parent process so that several workers share them.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import socket
from collections.abc import Mapping

from milter.config import ListenerConfig, Protocol
from milter.handler import FilterHandler, LmtpFilterHandler
from milter.logs import event
from milter.metrics import Recorder
from milter.peeruser import user_ids
from milter.runtime import Runtime, build_runtime
from milter.settings import Settings
from milter.smtp import ConnectionTracker, FilterLMTP, FilterSMTP

log = logging.getLogger("congvu.milter")


class ServerState(enum.Enum):
    """Where the server is in its life."""

    NEW = "new"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


def bind_listener(listener: ListenerConfig, *, backlog: int = 512) -> socket.socket:
    """Bind and listen on one listener's address (before forking workers)."""
    family = socket.AF_INET6 if ":" in listener.address else socket.AF_INET
    sock = socket.create_server(
        (listener.address, listener.port), family=family, backlog=backlog, reuse_port=False
    )
    sock.setblocking(False)
    return sock


class Server:
    """The running filter: listeners, connections and the runtime they use."""

    def __init__(
        self, config: Settings, *, sockets: Mapping[str, socket.socket] | None = None
    ) -> None:
        self.state = ServerState.NEW
        self.runtime: Runtime = build_runtime(config)
        self._sockets = dict(sockets or {})
        self._servers: list[asyncio.AbstractServer] = []
        self.ports: dict[str, int] = {}
        self.tracker = ConnectionTracker(config.limits.max_connections)
        self.metrics = Recorder(config)
        #: held while a runtime is built for a reload: one at a time, and a stop waits
        self._reloading = asyncio.Lock()

    @property
    def config(self) -> Settings:
        """The configuration in force."""
        return self.runtime.config

    def _factory(self, listener: ListenerConfig) -> type[FilterSMTP]:
        return FilterLMTP if listener.protocol is Protocol.LMTP else FilterSMTP

    def _protocol(self, listener: ListenerConfig) -> FilterSMTP:
        config = self.runtime.config
        handler_class = LmtpFilterHandler if listener.protocol is Protocol.LMTP else FilterHandler
        return self._factory(listener)(
            handler_class(listener, self),
            limits=config.limits,
            tracker=self.tracker,
            xforward_hosts=config.service.xforward_hosts,
            clients=listener.clients,
            client_uids=(None if listener.client_users is None
                         else user_ids(listener.client_users)),
            hostname=config.service.hostname,
            metrics=self.metrics,
            listener=listener.name,
        )

    async def start(self) -> None:
        """Listen on every configured listener."""
        if self.state is not ServerState.NEW:
            raise RuntimeError(f"cannot start a server that is {self.state.value}")
        loop = asyncio.get_running_loop()
        for listener in self.config.listeners:
            sock = self._sockets.get(listener.name) or bind_listener(listener)
            server = await loop.create_server(
                lambda listener=listener: self._protocol(listener),  # type: ignore[misc]
                sock=sock,
            )
            self._servers.append(server)
            self.ports[listener.name] = sock.getsockname()[1]
        self.state = ServerState.RUNNING

    async def reload(self, config: Settings) -> Runtime | None:
        """Swap in a runtime built from ``config``; return the old one to close, or None
        when the server began to stop meanwhile (the new one is closed instead).

        Built in a thread, not on the event loop the sessions share: opening the
        archive indexes what the journals of stopped workers name, reading each message
        (about a second for 1,000 on this machine). The old runtime goes on serving its
        transactions meanwhile; its index journals stay locked until it closes, so the
        new runtime's catch-up never takes them. Listener changes need a restart:
        sockets are bound once.
        """
        async with self._reloading:
            new = await asyncio.to_thread(build_runtime, config)
            if self.state not in (ServerState.NEW, ServerState.RUNNING):
                await new.close()
                return None
            old, self.runtime = self.runtime, new
            self.tracker.max_connections = config.limits.max_connections
            return old

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let transactions in flight finish, then close everything."""
        if self.state in (ServerState.STOPPED, ServerState.NEW):
            self.state = ServerState.STOPPED
            return
        grace = self.config.service.shutdown_grace if grace is None else grace
        self.state = ServerState.DRAINING
        self.tracker.is_draining = True
        for server in self._servers:
            server.close()
        for protocol in list(self.tracker.live):
            protocol.begin_drain()
        try:
            await asyncio.wait_for(self.tracker.wait_empty(), timeout=grace)
        except TimeoutError:
            left = len(self.tracker.live)
            event(log, "drain deadline passed", logging.WARNING, connections=left)
            for protocol in list(self.tracker.live):
                if protocol.transport is not None:
                    protocol.transport.close()
        for server in self._servers:
            await server.wait_closed()
        async with self._reloading:  # a runtime being built is closed by its reload
            pass
        if self.runtime.audit is not None:
            # A clean stop leaves a signed mark in the audit chain (audit/README.md).
            await self.runtime.audit.service_stopped(host=socket.gethostname(), pid=os.getpid())
        await self.runtime.close()
        self.state = ServerState.STOPPED
