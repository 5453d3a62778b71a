"""A private Postfix instance on loopback, and Postfix's load tools, for tests.

Each instance has its own configuration, queue and log under a test directory, so it
never touches the system's Postfix. Needs root (Postfix's master runs as root) and
Debian's postfix package; callers skip loudly when ``missing()`` says why.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

SBIN = Path("/usr/sbin")


def missing() -> str | None:
    """Why Postfix-based tests cannot run here, or None when they can."""
    for tool in ("postfix", "smtp-source", "smtp-sink", "postconf"):
        if not (SBIN / tool).exists():
            return f"Debian package postfix is not installed ({SBIN / tool} missing)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    return None


def write_config(path: Path, text: str) -> None:
    """Write a Postfix configuration file (main.cf, master.cf, a map) dated a minute ago.

    Postfix will not use a file modified in the last second or so: it reads it again
    every 300 ms until it has "cooled down" (a guard against reading a file half
    edited). A file written just now would cost each postconf, postmap or daemon start
    up to 2 s of sleeping; nothing here edits the file after writing it.
    """
    path.write_text(text, encoding="utf-8")
    past = time.time() - 60
    os.utime(path, (past, past))


def free_port() -> int:
    """A port free right now on 127.0.0.1 (Postfix cannot be told to bind port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quiet_run(args: list[str]) -> subprocess.CompletedProcess[str]:
    # Postfix reports errors only to a terminal or syslog; `script` gives it one.
    return subprocess.run(["script", "-qec", " ".join(args), "/dev/null"],
                          capture_output=True, text=True, timeout=60)


class PostfixInstance:
    """A Postfix relaying everything it receives on ``port`` to ``relayhost``."""

    def __init__(self, *, relayhost: str, main_extra: str = "",
                 master_extra: str = "") -> None:
        # Not under pytest's tmp_path: that is 0700 root and Postfix's daemons run as
        # the postfix user, which must reach the queue and data directories.
        root = Path(tempfile.mkdtemp(prefix="congvu-postfix-"))
        root.chmod(0o755)
        self.root = root
        self.port = free_port()
        self.conf = root / "conf"
        self.queue = root / "queue"
        self.log = root / "maillog"
        self.conf.mkdir(parents=True)
        (root / "data").mkdir()
        self.queue.mkdir()
        shutil.chown(root / "data", "postfix")
        write_config(
            self.conf / "main.cf",
            f"""compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {root / 'data'}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost = {relayhost}
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_recipient_maps =
maillog_file_prefixes = {root}
maillog_file = {self.log}
smtp_destination_concurrency_limit = 20
default_destination_concurrency_limit = 20
{main_extra}
""",
        )
        master = Path("/etc/postfix/master.cf").read_text(encoding="utf-8")
        master = re.sub(r"(?m)^smtp\s+inet\s", f"127.0.0.1:{self.port} inet ", master)
        write_config(self.conf / "master.cf", master + master_extra)

    def start(self) -> None:
        """Create the queue, start the master, wait until it accepts connections."""
        for action in ("check", "start"):
            result = _quiet_run([str(SBIN / "postfix"), "-c", str(self.conf), action])
            if result.returncode != 0:
                raise RuntimeError(f"postfix {action} failed: {result.stdout}{result.stderr}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)  # polling for a daemon to come up, not synchronization
        raise RuntimeError(f"postfix did not listen on {self.port}; log: {self.log}")

    def queued(self) -> list[dict[str, object]]:
        """The messages in the queue, as ``postqueue -j`` lists them."""
        done = subprocess.run(["postqueue", "-c", str(self.conf), "-j"],
                              capture_output=True, text=True, check=True)
        return [json.loads(line) for line in done.stdout.splitlines()]

    def wait_deferred(self, reason_start: str, timeout: float = 90) -> dict[str, object]:
        """The queued message once Postfix has deferred it with a reason so starting."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.queued():
                reasons = [str(r.get("delay_reason", ""))  # type: ignore[union-attr]
                           for r in message["recipients"]]  # type: ignore[attr-defined]
                if any(reason.startswith(reason_start) for reason in reasons):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no message deferred with {reason_start!r}: "
                                     f"{self.queued()}; see {self.log}")
            time.sleep(0.2)  # polling Postfix's queue for a delivery attempt, not sync

    def stop(self) -> None:
        """Stop the master and its children, and remove the instance's files."""
        _quiet_run([str(SBIN / "postfix"), "-c", str(self.conf), "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


class SmtpSink:
    """Postfix's smtp-sink on a free port, counting the messages it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        self._changed = threading.Condition()
        # smtp-sink updates its counters only on a terminal: give it one (script -f).
        command = f"{SBIN / 'smtp-sink'} -u nobody -c 127.0.0.1:{self.port} 1000"
        self.process = subprocess.Popen(
            ["script", "-qfc", command, "/dev/null"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)  # waiting for a daemon to bind, not synchronization

    def _read(self) -> None:
        assert self.process.stdout is not None
        buffer = b""
        while chunk := self.process.stdout.read1(65536):
            buffer += chunk
            *records, buffer = buffer.split(b"\r")
            for record in records:
                match = re.search(rb"mesg=(\d+)", record)
                if match:
                    with self._changed:
                        self.count = int(match.group(1))
                        self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 120) -> None:
        """Block until the sink has accepted ``count`` messages in all."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.count >= count, timeout=timeout):
                raise TimeoutError(f"sink saw {self.count} of {count} messages")

    def stop(self) -> None:
        """Kill the sink: ``script``'s group, and smtp-sink itself, which ``script``
        starts in a session of its own on its terminal (the group's kill misses it)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        listening = f"127.0.0.1:{self.port}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue  # gone meanwhile
            if argv[0].endswith(b"smtp-sink") and listening in argv:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)


def smtp_source(port: int, *, messages: int, sessions: int, size: int,
                reuse_connections: bool) -> None:
    """Postfix's smtp-source load: ``messages`` of ``size`` bytes over ``sessions``."""
    args = [str(SBIN / "smtp-source"), "-s", str(sessions), "-m", str(messages),
            "-l", str(size), "-f", "bench@binhthuan.gov.vn", "-t", "sink@example.org"]
    if reuse_connections:
        args.append("-d")
    subprocess.run([*args, f"127.0.0.1:{port}"], check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
