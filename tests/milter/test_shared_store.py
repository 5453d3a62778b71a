"""The filter on the shared PostgreSQL store: a record before every relay, 451 when the
database cannot take it, and two `congvu serve` on one chain."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import threading
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from audit import AuditLog
from audit.config import AuditConfig
from audit.query import Filters
from milter.replies import R451_AUDIT
from support.postgres import PostgresCluster, password_file
from support.process import ServeProcess
from support.sink import Sink


def _message(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sở Tài chính <sotc@lamdong.gov.vn>"
    msg["To"] = "vanphong@lamdong.gov.vn"
    msg["Subject"] = f"Công văn số {n}"
    msg["Message-ID"] = f"<shared-{n}@lamdong.gov.vn>"
    msg.set_content("Nội dung.\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _end_sessions(cluster: PostgresCluster, url: str) -> None:
    with cluster.admin() as db:
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()", (url.rsplit("/", 1)[1],))


def _send(port: int, n: int) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as client:
        client.ehlo()
        client.mail("sotc@lamdong.gov.vn")
        client.rcpt("vanphong@lamdong.gov.vn")
        return client.data(_message(n))


def test_a_database_that_cannot_take_the_record_gives_451_and_no_relay(
        filter_server: Callable[..., Any], next_hop: Sink, postgres_url: str,
        postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    running = filter_server(store={"url": postgres_url,
                                   "password_file": str(password_file(tmp_path))})
    assert _send(running.port, 1)[0] == 250
    assert next_hop.get().recipients == ["vanphong@lamdong.gov.vn"]
    name = postgres_url.rsplit("/", 1)[1]
    with postgres_cluster.admin() as db:
        db.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    _end_sessions(postgres_cluster, postgres_url)
    refused = (R451_AUDIT.code, f"{R451_AUDIT.enhanced} {R451_AUDIT.text}".encode())
    assert _send(running.port, 2) == refused  # the writer's session was ended
    assert _send(running.port, 3) == refused  # a new one, on a read-only database
    next_hop.assert_empty()
    with postgres_cluster.admin() as db:
        db.execute(f"ALTER DATABASE {name} RESET default_transaction_read_only")
    _end_sessions(postgres_cluster, postgres_url)
    assert _send(running.port, 4) == refused
    assert _send(running.port, 5)[0] == 250  # Postfix's retry goes through
    assert next_hop.get().recipients == ["vanphong@lamdong.gov.vn"]
    config = running.server.config.audit
    with AuditLog.open_readonly(config, trust=config.key_trust()) as log:
        subjects = {r.subject for r in log.query(Filters()).items}
        assert subjects == {"Công văn số 1", "Công văn số 5"}  # nothing of what got 451


def _server(tmp_path: Path, name: str, url: str, next_hop: int) -> Path:
    data = tmp_path / name
    data.mkdir()
    config = data / "congvu.toml"
    config.write_text(f"""
[service]
data_dir = "{data / 'var'}"
hostname = "{name}.lamdong.gov.vn"
[[listeners]]
name = "submission"
role = "outbound"
port = 0
[next_hop]
kind = "smtp"
port = {next_hop}
[store]
url = "{url}"
password_file = "{password_file(data)}"
""", encoding="utf-8")
    return config


def test_two_servers_write_one_chain(postgres_url: str, next_hop: Sink, tmp_path: Path) -> None:
    configs = [_server(tmp_path, name, postgres_url, next_hop.port) for name in ("mx1", "mx2")]
    servers = [ServeProcess(config) for config in configs]
    per_sender, senders = 8, 3
    failures: list[str] = []
    try:
        # the first server writes first, so its key signs the store's first checkpoint
        # and vouches for the second's enrolment; its configuration pins nothing, so
        # verify from it trusts its own key and what that key vouched for
        assert _send(servers[0].port, 1)[0] == 250
        def send(port: int, first: int) -> None:
            for n in range(first, first + per_sender):
                code, text = _send(port, n)
                if code != 250:
                    failures.append(f"{n}: {code} {text!r}")

        threads = [threading.Thread(target=send, args=(server.port, 1000 * s + 100 * i))
                   for i, server in enumerate(servers) for s in range(1, senders + 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = len(threads) * per_sender + 1
        assert failures == []
        relayed = [next_hop.get() for _ in range(total)]
        assert len(relayed) == total
    finally:
        # the second server first: the first's clean stop then signs the chain with
        # the second's key enrolment in it, so the first's key vouches for it
        for server in reversed(servers):
            assert server.stop() == 0
    verify = subprocess.run([sys.executable, "-m", "congvu", "audit", "verify",
                             "--config", str(configs[0])], capture_output=True, text=True,
                            timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "intact: " in verify.stdout
    assert "accepted key" in verify.stdout  # the second server's, enrolled in the chain
    shared = AuditConfig(url=postgres_url, password_file=tmp_path / "mx1" / "store-password",
                         keys_dir=tmp_path / "mx1" / "var" / "keys")
    with AuditLog.open_readonly(shared, trust=shared.key_trust()) as log:
        assert log.count(Filters()) == total
        assert log.count(Filters(outcome="relayed")) == total
        forks = list(log.db.query("SELECT prev_hash FROM events GROUP BY prev_hash "
                                  "HAVING count(*) > 1"))
        stops = list(log.db.query("SELECT seq FROM events WHERE admin_kind = 'service-stop'"))
        signers = list(log.db.query("SELECT DISTINCT public_key FROM checkpoints"))
    assert forks == []
    assert len(stops) == 2 and len(signers) == 2  # each server stopped cleanly, signing
    query = subprocess.run([sys.executable, "-m", "congvu", "audit", "query", "--format", "json",
                            "--config", str(configs[1])], capture_output=True, text=True,
                           timeout=120)
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout)["total"] == total  # the other server sees them all
