"""OpenDKIM as a signing milter on loopback, for a private Postfix (``smtpd_milters``).

The reference point of the race against OpenDKIM (tests/benchmarks/test_postfix_race.py):
``opendkim -f -x CONF`` runs in the foreground as a child of the test, listens on
``inet:PORT@127.0.0.1``, and signs every message from an internal host (OpenDKIM's
default ``InternalHosts`` is 127.0.0.1) for one domain with one key
(``Domain``/``Selector``/``KeyFile``), relaxed/relaxed like congvu.
Callers skip loudly when ``missing()`` says why.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from support.postfix import free_port


def missing() -> str | None:
    """Why OpenDKIM cannot run here, or None when it can."""
    if shutil.which("opendkim") is None:
        return "Debian package opendkim is not installed (no opendkim on PATH)"
    return None


class OpenDkimMilter:
    """A running ``opendkim`` in signing mode; ``socket`` is Postfix's milter address."""

    def __init__(self, *, domain: str, selector: str, key_file: Path,
                 algorithm: str = "rsa-sha256") -> None:
        self.port = free_port()
        self.work = Path(tempfile.mkdtemp(prefix="congvu-opendkim-"))
        self.conf = self.work / "opendkim.conf"
        self.conf.write_text(
            "Mode s\n"
            "Syslog no\n"
            f"Socket inet:{self.port}@127.0.0.1\n"
            f"Domain {domain}\n"
            f"Selector {selector}\n"
            f"KeyFile {key_file}\n"
            f"SignatureAlgorithm {algorithm}\n"
            "Canonicalization relaxed/relaxed\n"
            # congvu lists From once more than present (oversigning); do the same work here.
            "OversignHeaders From\n"
            # the key is 0600, but its directory is under world-writable /tmp
            "RequireSafeKeys no\n"
            f"PidFile {self.work / 'opendkim.pid'}\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The running OpenDKIM's process id."""
        if self.process is None:
            raise RuntimeError("OpenDKIM is not started")
        return self.process.pid

    @property
    def socket(self) -> str:
        """The ``smtpd_milters`` value that reaches this milter."""
        return f"inet:127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start ``opendkim -f`` and wait until it accepts connections."""
        self.process = subprocess.Popen(
            ["opendkim", "-f", "-x", str(self.conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(self.work / "stderr").open("wb"),
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"opendkim exited with {self.process.returncode}: "
                                   + (self.work / "stderr").read_text(errors="replace"))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)  # polling for a daemon to come up, not synchronization
        raise RuntimeError(f"opendkim did not listen on {self.port}")

    def stop(self) -> None:
        """Terminate OpenDKIM and remove its files."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.work, ignore_errors=True)
