"""Shared fixtures: real servers on loopback, real files in tmp_path."""

from __future__ import annotations

import os
import smtplib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from congvu.config import CongvuConfig, parse_config
from milter.server import Server
from support import leaks, postgres
from support.govpki import CaWebServer, GovPki
from support.keypool import POOL
from support.loopthread import LoopThread
from support.sink import Sink

# Every command the tests run, in this process or in a subprocess, reads the embedded
# defaults unless it names a file: a /etc/congvu/congvu.toml on the machine must change
# nothing (tests of the rule itself set the variable on their own).
os.environ["CONGVU_CONFIG"] = "none"

# Property tests are deterministic: each draws the same examples on every run (the seed
# is a hash of the test function), so a property that fails once fails every time, and
# one that fails only sometimes is reported as flaky, a failure. Failing examples any
# run finds are kept in tests/data/hypothesis, in the repository, and replayed first by
# every later run. HYPOTHESIS_PROFILE=explore draws new examples each run, to look for
# more; commit what it adds to tests/data/hypothesis with the fix. (derandomize as a
# keyword excludes a database, so the database is given on top of a derandomized parent.)
HYPOTHESIS_DATABASE = Path(__file__).parent / "data" / "hypothesis"
settings.register_profile("congvu-seeded", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("congvu", settings(
    settings.get_profile("congvu-seeded"),
    database=DirectoryBasedExampleDatabase(HYPOTHESIS_DATABASE)))
settings.register_profile("explore", deadline=None, print_blob=True,
                          database=DirectoryBasedExampleDatabase(HYPOTHESIS_DATABASE))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "congvu"))

# Every process a test starts is stopped by its fixture, pass or fail: the run fails if
# one is still alive at its end (support/leaks.py says how they are found).
TEST_RUN = leaks.mark_run()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process it started is still alive (checked once, by the
    process that started the run: its xdist workers have finished by then)."""
    if hasattr(session.config, "workerinput"):
        return
    left = leaks.leftovers(TEST_RUN)
    leaks.forget_run(TEST_RUN)
    if not left:
        return
    leaks.kill(left)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(left)} process(es) the tests started were still running at the end "
             "(killed now); the fixture that started each must stop it:",
             *(f"  pid {p.pid}: {p.command}" for p in left)]
    if reporter is not None:
        reporter.write_line("\n".join(lines), red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


POSTGRES_FIXTURES = frozenset({"postgres_cluster", "durable_postgres_cluster"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for a PostgreSQL cluster is slow: the server's processes cost
    about as much CPU as the test itself, and `make check` leaves them to `make test`.
    (Fixtures that ask for the cluster only in their "postgresql" case mark that case
    with their params.) First, so that `-m "not slow"` sees the mark."""
    for item in items:
        if POSTGRES_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Each test draws the session's pooled RSA keys from the first again."""
    POOL.start_test()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
                         ) -> Iterator[object]:
    """A fixture that outlives one test keeps the keys it draws for good."""
    if fixturedef.scope == "function":
        return (yield)
    with POOL.lasting():
        return (yield)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    """An event loop in a thread, for servers that blocking clients talk to."""
    runner = LoopThread()
    yield runner
    runner.close()


@pytest.fixture
def next_hop(loop_thread: LoopThread) -> Iterator[Sink]:
    """A real aiosmtpd sink on 127.0.0.1:0 that records what it accepts."""
    sink = Sink(loop_thread)
    sink.start()
    yield sink
    if sink._server is not None:
        sink.stop()


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture
def filter_config(tmp_path: Path, next_hop: Sink) -> Callable[..., CongvuConfig]:
    """Build a configuration for a filter relaying to ``next_hop`` (overrides merge in)."""

    def make(**overrides: Any) -> CongvuConfig:
        data: dict[str, Any] = {
            "service": {"data_dir": str(tmp_path / "var"), "hostname": "filter.test"},
            "listeners": [{"name": "filter", "role": "outbound", "port": 0}],
            "next_hop": {"kind": "smtp", "port": next_hop.port, "command_timeout": 5,
                         "data_timeout": 5, "connect_timeout": 5},
        }
        return parse_config(_deep_merge(data, overrides))

    return make


class RunningFilter:
    """Our Server running in a loop thread."""

    def __init__(self, server: Server, runner: LoopThread) -> None:
        self.server = server
        self.runner = runner

    @property
    def port(self) -> int:
        """The first listener's port."""
        return next(iter(self.server.ports.values()))

    def client(self) -> smtplib.SMTP:
        """A connected smtplib client that has said EHLO."""
        client = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=20)
        client.ehlo()
        return client

    def stop(self, grace: float = 5) -> None:
        """Drain and stop."""
        self.runner.run(self.server.stop(grace))


@pytest.fixture
def filter_server(
    filter_config: Callable[..., CongvuConfig],
) -> Iterator[Callable[..., RunningFilter]]:
    """Start our Server on port 0 with optional config overrides; stopped after the test."""
    started: list[tuple[RunningFilter, LoopThread]] = []

    def start(config: CongvuConfig | None = None, **overrides: Any) -> RunningFilter:
        runner = LoopThread()
        server = Server(config or filter_config(**overrides))
        runner.run(server.start())
        running = RunningFilter(server, runner)
        started.append((running, runner))
        return running

    yield start
    for running, runner in started:
        running.stop()
        runner.close()


@pytest.fixture
def smtp_client(filter_server: Callable[..., RunningFilter]) -> Iterator[smtplib.SMTP]:
    """smtplib connected to a default filter."""
    client = filter_server().client()
    yield client
    try:
        client.quit()
    except smtplib.SMTPException:
        client.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[postgres.PostgresCluster]:
    """A private PostgreSQL cluster on loopback, one a session (each xdist worker's own).
    As root it must start (Debian's postgresql is in deploy/debian-packages.txt); only a
    run without root may skip, and says why."""
    reason = postgres.missing()
    if reason is not None:
        if os.geteuid() == 0:
            pytest.fail(f"PostgreSQL cannot run here: {reason} (make system-deps installs it)")
        pytest.skip(f"LOUD SKIP: PostgreSQL tests need the postgresql package: {reason}")
    cluster = postgres.PostgresCluster()
    try:
        cluster.start()
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        cluster.stop()
        pytest.fail(f"the private PostgreSQL cluster did not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def durable_postgres_cluster() -> Iterator[postgres.PostgresCluster]:
    """A cluster of the test's own with fsync on (the session's trades it for speed): for
    the benchmarks of durable writes, and the tests that crash their cluster."""
    reason = postgres.missing()
    if reason is not None:
        pytest.fail(f"PostgreSQL cannot run here: {reason}")
    cluster = postgres.PostgresCluster(durable=True)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: postgres.PostgresCluster) -> Iterator[str]:
    """A new database of its own on the session's cluster, dropped after the test."""
    url = postgres_cluster.database()
    yield url
    postgres_cluster.drop(url)


@pytest.fixture(scope="module")
def ca_web() -> Iterator[CaWebServer]:
    """A CA's web server on loopback (certificates, CRLs, OCSP answers), one a module."""
    server = CaWebServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gov(ca_web: CaWebServer) -> GovPki:
    """The look-alike of the government PKI, published on ``ca_web``, one a module."""
    return GovPki.create(ca_web)
