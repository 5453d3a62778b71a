"""``congvu serve`` started on a full disk (a tmpfs of its own, filled): it listens all
the same, greets saying it waits for disk space, answers MAIL 451 4.3.1, and opens its
stores once there is room, without a restart; what a full disk is, and that any other
start problem still ends ``serve`` with its error."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit import AuditLog
from congvu.config import load_config
from milter.checks import local_problems
from milter.config import ListenerConfig
from milter.doctor_service import check_listeners
from milter.findings import Level
from milter.replies import R220_WAITING_FOR_SPACE, R451_NO_SPACE
from milter.spacewait import WAITING_METRICS
from support import fulldisk, postfix
from support.process import CONGVU, ServeProcess
from support.sink import Sink
from support.unwritable import unwritable

MESSAGE = b"From: a@b.vn\r\nSubject: khi day dia\r\n\r\nCong van.\r\n"  # From: the sender


@pytest.fixture
def var(tmp_path: Path) -> Iterator[Path]:
    with fulldisk.data_dir(tmp_path) as mounted:
        yield mounted


@pytest.mark.slow
@pytest.mark.parametrize("stores", ["fresh", "existing"])
def test_serve_defers_while_the_disk_is_full_and_takes_mail_once_space_is_freed(
        var: Path, next_hop: Sink, stores: str) -> None:
    metrics = f"http://127.0.0.1:{postfix.free_port()}/metrics"
    config = fulldisk.serve_config(var, next_hop.port,
                                   extra=f"[metrics]\nlisten = \"{metrics[7:-8]}\"")
    if stores == "existing":  # as after any earlier run: SQLite then says "disk I/O error"
        assert local_problems(load_config(config), create=True) == []
    filler = fulldisk.fill(var)
    serving = ServeProcess(config)
    try:
        waiting = serving.wait_for("waiting for disk space")
        assert waiting["problems"] and waiting["reply"] == str(R451_NO_SPACE), waiting

        with smtplib.SMTP("127.0.0.1", serving.port, timeout=30) as client:
            greeting = client.ehlo()
            assert client.mail("a@b.vn") == (451, str(R451_NO_SPACE)[4:].encode())
        assert greeting[0] == 250
        listener = ListenerConfig(name="inbound", role="outbound",  # type: ignore[arg-type]
                                  port=serving.port)
        [finding] = check_listeners([listener], [])
        assert finding.level is Level.ERROR, finding
        assert "waits for disk space to open its stores" in finding.message, finding
        assert urllib.request.urlopen(metrics, timeout=10).read() == WAITING_METRICS

        filler.unlink()
        if stores == "existing":
            serving.signal(signal.SIGHUP)  # retry now; the fresh case waits for its timer
        serving.wait_for("disk space found, the stores open", timeout=60)
        # one line per attempt, which counts the messages deferred since the one before
        attempts = [line for line in serving.seen if line["event"] in (
            "still waiting for disk space", "disk space found, the stores open")]
        assert sum(line["deferred"] for line in attempts) == 1, attempts
        serving.wait_for("worker ready")
        with smtplib.SMTP("127.0.0.1", serving.port, timeout=30) as client:
            assert client.sendmail("a@b.vn", ["cv@d.vn"], MESSAGE) == {}
        assert next_hop.get().recipients == ["cv@d.vn"]
        [finding] = check_listeners([listener], [])
        assert finding.level is Level.OK, finding
        scraped = urllib.request.urlopen(metrics, timeout=10).read().decode()
        assert 'congvu_messages_total{direction="outbound",fate="relayed"' in scraped
        assert "congvu_waiting_for_disk_space" not in scraped
    finally:
        assert serving.stop() == 0
    audit = load_config(config).audit
    with AuditLog.open_readonly(audit, trust=audit.key_trust()) as log:
        assert log.verify().is_intact


@pytest.mark.slow
def test_the_greeting_while_waiting_says_why_on_smtp_and_lmtp(var: Path, next_hop: Sink) -> None:
    fulldisk.fill(var)
    serving = ServeProcess(fulldisk.serve_config(var, next_hop.port, extra="""
[[listeners]]
name = "delivery"
role = "inbound"
protocol = "lmtp"
port = 0
"""))
    try:
        lmtp_port = serving.wait_for("listening")["port"]
        serving.wait_for("waiting for disk space")
        greeting = (220, f"mail.lamdong.gov.vn {R220_WAITING_FOR_SPACE.text}".encode())
        with smtplib.SMTP(timeout=30) as client:
            assert client.connect("127.0.0.1", serving.port) == greeting
            assert client.noop()[0] == 250
        with smtplib.LMTP(timeout=30) as lmtp:
            assert lmtp.connect("127.0.0.1", lmtp_port) == greeting
            assert lmtp.ehlo()[0] == 250  # smtplib's LMTP says LHLO
            assert lmtp.mail("a@b.vn") == (451, str(R451_NO_SPACE)[4:].encode())
    finally:
        assert serving.stop() == 0  # SIGTERM while waiting: a clean stop


@pytest.mark.slow
def test_a_full_disk_with_another_start_problem_still_exits_with_its_error(
        var: Path, next_hop: Sink) -> None:
    config = fulldisk.serve_config(var, next_hop.port, extra=f"""
[[signer.dkim.keys]]
domain = "binhthuan.gov.vn"
selector = "s2026"
key_file = "{var.parent / 'missing.key'}"
""")
    fulldisk.fill(var)
    done = subprocess.run([*CONGVU, "serve", "--config", str(config)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "signer.dkim: " in done.stderr and "directory.path: " in done.stderr, done.stderr
    assert "waiting for disk space" not in done.stderr


def test_a_store_that_cannot_be_opened_on_a_disk_with_room_is_not_a_full_disk(
        tmp_path: Path, next_hop: Sink) -> None:
    var = tmp_path / "var"
    config = load_config(fulldisk.serve_config(var, next_hop.port))
    assert local_problems(config, create=True) == []
    for leftover in var.glob("*.sqlite3-*"):
        leftover.unlink()
    with unwritable(var):  # SQLite cannot make its -wal file: "unable to open"
        problems = local_problems(config, create=True)
    assert problems and not any(problem.is_out_of_space for problem in problems), problems


def test_no_inode_left_is_a_full_disk(tmp_path: Path, next_hop: Sink) -> None:
    with fulldisk.data_dir(tmp_path, size="16m", inodes=1024) as var:
        config = load_config(fulldisk.serve_config(var, next_hop.port))
        assert local_problems(config, create=True) == []
        fulldisk.use_every_inode(var)
        problems = local_problems(config, create=True)
    assert problems and all(problem.is_out_of_space for problem in problems), problems
