"""A private PostgreSQL cluster on loopback for tests: initdb into a temporary directory,
one server per test session (per xdist worker), one database per test; or a kept cluster
(a benchmark's data directory, initdb'd by its first run and started again by later ones).

Debian's postgresql package (the server binaries under /usr/lib/postgresql/N/bin). The
server refuses to run as root, so as root the cluster belongs to the ``postgres`` system
user (``runuser``); otherwise to whoever runs the tests. Connections: the superuser over
the cluster's own Unix socket (trust) to make and drop databases, and the tests' stores
as the role ``congvu`` over TCP on 127.0.0.1 with a password (scram-sha-256), the way a
mail server reaches a shared store. Callers skip loudly when ``missing()`` says why.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from support.postfix import free_port

ROLE = "congvu"
PASSWORD = "test-password-of-congvu"
_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def bin_dir() -> Path | None:
    """The newest installed server's binaries, or None."""
    for path in _BIN_DIRS:
        if (path / "initdb").exists() and (path / "postgres").exists():
            return path
    return None


def missing() -> str | None:
    """Why PostgreSQL-based tests cannot run here, or None when they can."""
    if bin_dir() is None:
        return "Debian package postgresql is not installed (no /usr/lib/postgresql/*/bin/initdb)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "as root, the cluster needs the postgres system user (Debian's postgresql)"
    return None


class PostgresCluster:
    """One initdb'd, running cluster; :meth:`database` makes a fresh database."""

    def __init__(self, *, durable: bool = False, data: Path | None = None) -> None:
        """``data``: a data directory kept after :meth:`stop` (made by the first
        :meth:`start`, started again as it is by later ones); default: one in a temporary
        directory, removed with the cluster."""
        found = bin_dir()
        assert found is not None, missing()
        self.bin = found
        self.root = Path(tempfile.mkdtemp(prefix="congvu-pg-"))
        self.root.chmod(0o755)
        self.data = data or self.root / "data"
        self.socket_dir = self.root / "run"
        self.socket_dir.mkdir()
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self.superuser = "postgres" if self._as_root else pwd.getpwuid(os.geteuid()).pw_name
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        self._running = False
        self._durable = durable
        self._names = itertools.count(1)

    def _command(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self._as_root else list(args)

    def start(self) -> None:
        """initdb (unless the data directory holds a cluster), then start the server and
        wait until it accepts connections."""
        if (self.data / "PG_VERSION").exists():
            self._start_server()
            return
        self.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.data, "postgres", "postgres")
        subprocess.run(
            self._command(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.superuser,
                          "--auth-local=trust", "--auth-host=scram-sha-256",
                          "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"),
            check=True, capture_output=True)
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            # fsync off: a test cluster dies with its session; a benchmark's (durable)
            # keeps the defaults: fsync and synchronous_commit on.
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.socket_dir}'\n"
                       "max_connections = 200\nshared_buffers = 32MB\n")
            if not self._durable:
                conf.write("fsync = off\nfull_page_writes = off\n")
        self._start_server()
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")

    def _start_server(self) -> None:
        # the port and socket on the command line: a kept cluster's configuration names
        # those of the run that made it
        started = subprocess.run(
            self._command(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                          "-o", f"-p {self.port} -k {self.socket_dir}",
                          "-w", "-t", "120", "start"), capture_output=True)
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {started.stdout!r} {started.stderr!r} "
                               f"{self.log_tail()}")
        self._running = True

    def log_tail(self) -> str:
        """The end of the server's log, for a failure message."""
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError as exc:
            return f"(no log: {exc})"

    @contextmanager
    def admin(self, dbname: str = "postgres") -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """The superuser over the Unix socket, autocommit."""
        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=self.superuser,
                             dbname=dbname, autocommit=True) as conn:
            yield conn

    def database(self) -> str:
        """A new, empty database owned by the congvu role; its URL (no password)."""
        name = f"congvu_test_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)

    def url(self, dbname: str) -> str:
        """The store URL of ``dbname`` for the congvu role over TCP."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{dbname}"

    def drop(self, url: str) -> None:
        """Drop the database of ``url``, ending its connections first."""
        name = url.rsplit("/", 1)[1]
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove the cluster (a kept data directory
        stays)."""
        if self._running:
            subprocess.run(
                self._command(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                              "-w", "stop"), capture_output=True, check=False)
            self._running = False
        shutil.rmtree(self.root, ignore_errors=True)


def password_file(directory: Path) -> Path:
    """The congvu role's password in a 0600 file, as ``[store] password_file`` wants it."""
    path = directory / "store-password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path
