"""``congvu serve``: bind, fork the workers, and handle the signals.

The parent binds every listener once and forks the workers, which share the
listening sockets (the kernel spreads connections). SIGTERM: every worker stops
accepting and finishes what is in flight within ``service.shutdown_grace``. SIGHUP:
the file is read again; an invalid file is logged and the running configuration
stays. A worker that dies is replaced. Started on a full disk, the parent listens and
defers every message until the stores open (milter/spacewait.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time

from milter import logs, metrics
from milter.checks import check_locally, local_problems
from milter.errors import ConfigError
from milter.housekeeping import EXPIRY_INTERVAL, run_expiry
from milter.logs import event
from milter.server import Server, bind_listener
from milter.settings import Reload, Settings
from milter.spacewait import wait_for_space

log = logging.getLogger("congvu.milter")

_RESTART_BACKOFF = 1.0
#: What the supervisor waits for with sigtimedwait, blocked in every one of its threads.
_SUPERVISOR_SIGNALS = frozenset(
    {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD})


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


#: the reloads under way (a task nothing refers to may be collected before it ends)
_RELOADS: set[asyncio.Task[None]] = set()


def _reload(server: Server, reload: Reload) -> None:
    """SIGHUP: reload in a task, the new runtime built off the event loop."""
    task = asyncio.get_running_loop().create_task(_reloading(server, reload))
    _RELOADS.add(task)
    task.add_done_callback(_RELOADS.discard)


async def _reloading(server: Server, reload: Reload) -> None:
    try:
        config = reload.read()
        problems = check_locally(config)
        if problems:
            raise ConfigError(reload.name, problems)
        old = await server.reload(config)
    except Exception as exc:  # a bad reload (ConfigError or worse) must never stop the service
        event(log, "reload refused, keeping the running configuration", logging.ERROR,
              error=str(exc))
        return
    if old is None:  # the worker began to stop meanwhile
        return
    # Transactions already open keep the old runtime: close it once they are done.
    loop = asyncio.get_running_loop()
    loop.call_later(server.config.service.shutdown_grace + server.config.next_hop.data_timeout,
                    lambda: loop.create_task(old.close()))
    event(log, "configuration reloaded", path=reload.name)


async def _housekeeping(server: Server) -> None:
    """Expire held messages now and then (one process does it: the only worker, or the
    supervisor)."""
    while True:
        await asyncio.to_thread(run_expiry, server.config)
        await asyncio.sleep(EXPIRY_INTERVAL)  # a schedule, not synchronization


async def _serve(config: Settings, reload: Reload,
                 sockets: dict[str, socket.socket], *, is_housekeeper: bool = False) -> None:
    server = Server(config, sockets=sockets)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, server, reload)
    event(log, "worker ready", pid=os.getpid(), stages=server.runtime.pipeline.names)
    housekeeping = loop.create_task(_housekeeping(server)) if is_housekeeper else None
    await stopping.wait()
    if housekeeping is not None:
        housekeeping.cancel()
    event(log, "worker stopping", pid=os.getpid())
    await server.stop()
    event(log, "worker stopped", pid=os.getpid())


def _run_worker(config: Settings, reload: Reload,
                sockets: dict[str, socket.socket], *, is_housekeeper: bool = False) -> int:
    loop = _event_loop()
    try:
        loop.run_until_complete(
            _serve(config, reload, sockets, is_housekeeper=is_housekeeper))
    finally:
        loop.close()
    return 0


def _fork_worker(config: Settings, reload: Reload,
                 sockets: dict[str, socket.socket]) -> int:
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            code = _run_worker(config, reload, sockets)
        except BaseException:
            log.exception("worker crashed")
        finally:
            os._exit(code)
    return pid


def _supervise(config: Settings, reload: Reload,
               sockets: dict[str, socket.socket], count: int) -> int:
    watched = set(_SUPERVISOR_SIGNALS)  # blocked by run_service, before any thread starts
    workers = {_fork_worker(config, reload, sockets) for _ in range(count)}
    stopping = False
    next_expiry = time.monotonic()
    while workers:
        if not stopping and time.monotonic() >= next_expiry:
            run_expiry(config)
            next_expiry = time.monotonic() + EXPIRY_INTERVAL
        info = signal.sigtimedwait(watched, max(next_expiry - time.monotonic(), 0.1))
        if info is None:
            continue
        if info.si_signo in (signal.SIGTERM, signal.SIGINT) and not stopping:
            stopping = True
            event(log, "stopping", workers=len(workers))
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        elif info.si_signo == signal.SIGHUP and not stopping:
            try:
                config = reload.read()
            except ConfigError as exc:
                event(log, "reload refused, keeping the running configuration",
                      logging.ERROR, error=str(exc))
                continue
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)
        # Reap whatever ended, whichever signal woke us.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            workers.discard(pid)
            metrics.worker_exited(config, pid)
            if not stopping:
                event(log, "worker died, replacing it", logging.ERROR, pid=pid,
                      status=os.waitstatus_to_exitcode(status))
                time.sleep(_RESTART_BACKOFF)  # not synchronization: a crash-loop brake
                workers.add(_fork_worker(config, reload, sockets))
    event(log, "stopped")
    return 0


def run_service(config: Settings, *, reload: Reload, workers: int | None) -> int:
    """Run the filter until SIGTERM; return the process exit code."""
    logs.setup()
    problems = local_problems(config, create=True)
    if not all(problem.is_out_of_space for problem in problems):
        print(ConfigError(reload.name, [str(problem) for problem in problems]),
              file=sys.stderr)
        return 2
    count = workers or config.service.workers or os.cpu_count() or 1
    try:
        sockets = {listener.name: bind_listener(listener) for listener in config.listeners}
    except OSError as exc:
        print(f"congvu: cannot listen: {exc}", file=sys.stderr)
        return 2
    for listener in config.listeners:
        address, port = sockets[listener.name].getsockname()[:2]
        event(log, "listening", listener=listener.name, role=listener.role.value,
              protocol=listener.protocol.value, address=address, port=port, workers=count)
    if problems:  # every one a full disk: defer mail until the stores open
        loop = asyncio.new_event_loop()
        try:
            opened = loop.run_until_complete(wait_for_space(config, reload, sockets, problems))
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        finally:
            loop.close()
        if opened is None:
            event(log, "stopped")
            return 0
        config = opened
    # before anything imports prometheus_client; its files go on the disk the stores use
    metrics.prepare(config)
    if count > 1:
        # Before the metrics server's thread starts, so that it inherits the mask. The
        # kernel hands a process-wide signal to any thread that does not block it: a
        # SIGCHLD taken there is discarded (the supervisor then waits an hour for a worker
        # that has exited) and a SIGTERM kills the supervisor with its workers running.
        signal.pthread_sigmask(signal.SIG_BLOCK, _SUPERVISOR_SIGNALS)
    metrics.serve(config)
    if count == 1:
        return _run_worker(config, reload, sockets, is_housekeeper=True)
    return _supervise(config, reload, sockets, count)
