"""``congvu serve`` as a process: workers, SIGTERM and SIGHUP."""

from __future__ import annotations

import signal
import smtplib
import socket
import threading
from pathlib import Path

import pytest

from support.process import ServeProcess

MESSAGE = b"From: a@b.vn\r\nSubject: service\r\n\r\nbody\r\n"  # From: the envelope sender


def write_config(path: Path, sink_port: int, *, extra: str = "") -> Path:
    path.write_text(
        f"""
[service]
data_dir = "{path.parent / 'var'}"
shutdown_grace = 10

[[listeners]]
name = "filter"
role = "outbound"
port = 0

[next_hop]
kind = "smtp"
port = {sink_port}
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def serve(tmp_path, next_hop):
    started: list[ServeProcess] = []

    def start(*, workers: int = 1, extra: str = "") -> ServeProcess:
        config = write_config(tmp_path / "congvu.toml", next_hop.port, extra=extra)
        process = ServeProcess(config, workers=workers)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.mark.slow
def test_two_workers_both_serve(serve, next_hop) -> None:
    process = serve(workers=2)
    pids = {process.wait_for("worker ready")["pid"], process.wait_for("worker ready")["pid"]}
    assert len(pids) == 2
    for number in range(10):
        with smtplib.SMTP("127.0.0.1", process.port) as client:
            client.sendmail("a@b.vn", [f"{number}@d.vn"], MESSAGE)
    assert sorted(next_hop.get().recipients[0] for _ in range(10)) == sorted(
        f"{n}@d.vn" for n in range(10)
    )
    assert process.stop() == 0


@pytest.mark.slow
def test_sigterm_during_a_transfer_loses_nothing(serve, next_hop) -> None:
    process = serve()
    process.wait_for("worker ready")
    sock = socket.create_connection(("127.0.0.1", process.port), timeout=20)
    stream = sock.makefile("rb")

    def reply() -> bytes:
        line = stream.readline()
        while line[3:4] == b"-":
            line = stream.readline()
        return line

    reply()
    for command in (b"EHLO c", b"MAIL FROM:<a@b.vn>", b"RCPT TO:<c@d.vn>", b"DATA"):
        sock.sendall(command + b"\r\n")
        reply()
    sock.sendall(b"From: a@b.vn\r\nSubject: in flight\r\n\r\nfirst half ")
    process.signal(signal.SIGTERM)
    process.wait_for("worker stopping")
    # New connections are no longer taken...
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", process.port), timeout=5).recv(1)
    # ...but the message in flight finishes, is relayed, and only then the session ends.
    sock.sendall(b"second half\r\n.\r\n")
    assert reply().startswith(b"250 2.0.0")
    assert reply().startswith(b"421 4.3.2")
    assert next_hop.get().content == (b"From: a@b.vn\r\nSubject: in flight\r\n\r\n"
                                      b"first half second half\r\n")
    assert process.process.wait(timeout=20) == 0


@pytest.mark.slow
def test_sigterm_under_load_every_250_is_delivered(serve, next_hop) -> None:
    process = serve(workers=2)
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(number: int) -> None:
        sequence = 0
        while not stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", process.port, timeout=20) as client:
                    while not stop.is_set():
                        sequence += 1
                        rcpt = f"{number}.{sequence}@d.vn"
                        client.sendmail("a@b.vn", [rcpt], MESSAGE)
                        with lock:
                            accepted.append(rcpt)
            except (smtplib.SMTPException, OSError):
                return  # refused or closed: Postfix would retry later

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    delivered = set(next_hop.get().recipients)  # mail is flowing
    process.signal(signal.SIGTERM)
    assert process.process.wait(timeout=30) == 0
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    while not next_hop.messages.empty():
        delivered.update(next_hop.messages.get().recipients)
    assert accepted, "no message was accepted before SIGTERM"
    assert set(accepted) - delivered == set()


@pytest.mark.slow
def test_sighup_with_a_broken_file_keeps_serving(serve, next_hop, tmp_path) -> None:
    process = serve(extra='[pipeline]\nadd_headers = [{name = "X-Gen", value = "1"}]\n')
    process.wait_for("worker ready")
    (tmp_path / "congvu.toml").write_text("[service]\nno_such_key = 1\n", encoding="utf-8")
    process.signal(signal.SIGHUP)
    refused = process.wait_for("reload refused, keeping the running configuration")
    assert "service.no_such_key: unknown key" in refused["error"]
    with smtplib.SMTP("127.0.0.1", process.port) as client:
        client.sendmail("a@b.vn", ["c@d.vn"], MESSAGE)
    assert next_hop.get().content == b"X-Gen: 1\r\n" + MESSAGE


@pytest.mark.slow
def test_sighup_applies_a_valid_file(serve, next_hop, tmp_path) -> None:
    process = serve()
    process.wait_for("worker ready")
    write_config(tmp_path / "congvu.toml", next_hop.port,
                 extra='[pipeline]\nadd_headers = [{name = "X-Gen", value = "2"}]\n')
    process.signal(signal.SIGHUP)
    process.wait_for("configuration reloaded")
    with smtplib.SMTP("127.0.0.1", process.port) as client:
        client.sendmail("a@b.vn", ["c@d.vn"], MESSAGE)
    assert next_hop.get().content == b"X-Gen: 2\r\n" + MESSAGE


@pytest.mark.slow
def test_serve_refuses_an_invalid_file(tmp_path) -> None:
    import subprocess
    import sys

    config = tmp_path / "bad.toml"
    config.write_text('[[listeners]]\nname = "a"\nrole = "sideways"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "congvu", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "listeners.0.role" in result.stderr


def test_reloads_do_not_leak_threads(filter_server, next_hop) -> None:
    import threading
    import time

    running = filter_server(listeners=[{"name": "in", "role": "inbound", "port": 0}])

    def one_message() -> None:  # inbound: DKIM verification runs in the DNS thread pool
        running.client().sendmail("a@example.org", ["b@d.vn"], MESSAGE)
        next_hop.get()

    def reload_and_close() -> None:
        old = running.runner.run(running.server.reload(running.server.config))
        assert old is not None
        running.runner.run(old.close())
        one_message()

    one_message()
    # the first makes the threads of the loop's own executor, which builds and closes
    # runtimes: a pool of its own size, not a thread or more a reload
    reload_and_close()
    before = threading.active_count()
    for _ in range(5):
        reload_and_close()
    deadline = time.monotonic() + 10
    while threading.active_count() > before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # idle pool threads exit on their own after shutdown
    assert threading.active_count() <= before + 1
