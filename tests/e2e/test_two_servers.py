"""Two mail servers, one PostgreSQL: each a real Postfix with congvu as its after-queue
filter, both writing one audit chain. Mail crosses from the first to the second; the
first server's congvu is SIGKILLed with messages in flight and started again. Nothing is
lost, nothing arrives without its record on both servers, and the chain verifies; then
each server's console, on loopback, lists the same records and shows a record alike."""

from __future__ import annotations

import email
import email.policy
import html
import itertools
import queue
import re
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from argon2.profiles import CHEAPEST

from audit import AuditLog
from audit.config import AuditConfig
from audit.query import Filters
from congvu.config import load_config
from support import postfix
from support.loopthread import LoopThread
from support.postgres import password_file
from support.process import ServeProcess
from support.sink import Sink
from support.webconsole import csrf_of
from web import UserStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
if reason := postfix.missing():
    pytestmark.append(pytest.mark.skip(reason=f"LOUD SKIP: {reason}"))

MESSAGES = 120
RECIPIENT = "vanphong@lamdong.gov.vn"
REINJECTION = ("no_unknown_recipient_checks,no_header_body_checks,"
               "no_milters,no_address_mappings")


def _listener(port: int, name: str, *options: str) -> str:
    lines = [f"127.0.0.1:{port} inet n - n - - smtpd", f"  -o syslog_name=postfix/{name}",
             *(f"  -o {option}" for option in options)]
    return "\n".join(lines) + "\n"


class Server:
    """One mail server: Postfix on ``port`` hands every message to its congvu, which
    relays to Postfix's reinjection listener, and Postfix on to ``relayhost``."""

    def __init__(self, name: str, work: Path, *, url: str, relayhost: str) -> None:
        self.name = name
        self.filter_port, reinjection = postfix.free_port(), postfix.free_port()
        data = work / name
        data.mkdir()
        self.config = data / "congvu.toml"
        self.config.write_text(f"""
[service]
data_dir = "{data / 'var'}"
hostname = "{name}.lamdong.gov.vn"
xforward_hosts = ["127.0.0.1/32"]

[[listeners]]
name = "inbound"
role = "inbound"
port = {self.filter_port}

[next_hop]
kind = "smtp"
port = {reinjection}

[store]
url = "{url}"
password_file = "{password_file(data)}"
""", encoding="utf-8")
        self.filter = self.start_filter()
        self.postfix = postfix.PostfixInstance(
            relayhost=relayhost,
            # a message deferred while the filter was down is tried again within seconds
            main_extra="minimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n"
                       "queue_run_delay = 1s\n",
            master_extra="\n" + "".join([
                _listener(reinjection, "reinject", "content_filter=",
                          f"receive_override_options={REINJECTION}",
                          "smtpd_authorized_xforward_hosts=127.0.0.0/8"),
                "congvu-in unix - - n - 10 smtp\n"
                "  -o smtp_send_xforward_command=yes\n"
                "  -o disable_mime_output_conversion=yes\n",
            ]))
        # every message Postfix receives on its own port goes through congvu
        with (self.postfix.conf / "main.cf").open("a", encoding="utf-8") as main:
            main.write(f"content_filter = congvu-in:[127.0.0.1]:{self.filter_port}\n")
        self.postfix.start()

    def start_filter(self) -> ServeProcess:
        """congvu serve on its fixed port (Postfix's content_filter names it)."""
        process = ServeProcess(self.config, workers=2)
        process.wait_for("worker ready")
        return process

    def flush(self) -> None:
        """Ask Postfix to try its deferred mail now."""
        subprocess.run([str(postfix.SBIN / "postfix"), "-c", str(self.postfix.conf),
                        "flush"], check=True, capture_output=True)

    def stop(self) -> None:
        self.postfix.stop()
        self.filter.stop()


def _message(n: int) -> bytes:
    return (f"From: vanthu@binhthuan.gov.vn\r\nTo: {RECIPIENT}\r\nSubject: Cong van {n}\r\n"
            f"Message-ID: <two-{n}@binhthuan.gov.vn>\r\n"
            "Date: Mon, 07 Dec 2026 09:00:00 +0700\r\n\r\nNoi dung.\r\n").encode()


def _send(port: int, numbers: range) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for n in numbers:
            client.sendmail("vanthu@binhthuan.gov.vn", [RECIPIENT], _message(n))


def _arrived(sink: Sink, servers: list[Server], wanted: set[str]) -> list[str]:
    """Message-IDs as the sink takes them, until every wanted one is there and neither
    Postfix holds a message (Postfix retries what the killed filter deferred; flushed so
    no backoff is waited out). A message the killed filter relayed before it could
    record the relay arrives before its retry, which mx1 records: until that retry has
    gone through, mx1 has no relayed record of it."""
    seen: list[str] = []
    deadline = time.monotonic() + 300
    while not wanted <= set(seen) or _queued(servers):
        assert time.monotonic() < deadline, (
            f"missing {sorted(wanted - set(seen))[:5]}, still queued {_queued(servers)[:5]}")
        try:
            received = sink.get(timeout=5)
        except queue.Empty:  # nothing for a while: a retry is due
            for server in servers:
                server.flush()
            continue
        parsed = email.message_from_bytes(received.content, policy=email.policy.default)
        seen.append(str(parsed["Message-ID"]))
    return seen


def _queued(servers: list[Server]) -> list[str]:
    """The Postfix queue ids either server still holds."""
    return [str(m["queue_id"]) for server in servers for m in server.postfix.queued()]


def test_two_servers_one_chain_and_a_sigkill_loses_nothing(
        postgres_url: str, tmp_path: Path) -> None:
    loop = LoopThread()
    sink = Sink(loop)
    sink.start()
    tmp_path.chmod(0o755)
    second = Server("mx2", tmp_path, url=postgres_url, relayhost=f"[127.0.0.1]:{sink.port}")
    first = Server("mx1", tmp_path, url=postgres_url,
                   relayhost=f"[127.0.0.1]:{second.postfix.port}")
    servers = [first, second]
    # each server's console, starting while the mail goes through; looked at after it
    consoles = [Console(server.config) for server in servers]
    try:
        try:
            senders = [threading.Thread(target=_send, args=(first.postfix.port,
                                                            range(i, MESSAGES, 4)))
                       for i in range(4)]
            for sender in senders:
                sender.start()
            first.filter.wait_for("message")  # the first filter is relaying this load
            first.filter.kill_all()
            for sender in senders:
                sender.join(timeout=120)  # Postfix queued them all: the client never waits
            first.filter = first.start_filter()
            wanted = {f"<two-{n}@binhthuan.gov.vn>" for n in range(MESSAGES)}
            arrived = _arrived(sink, servers, wanted)
        finally:
            for server in reversed(servers):
                server.stop()
            sink.stop()
            loop.close()
        assert set(arrived) == wanted  # duplicates allowed (a retry after the kill), none lost
        shared = AuditConfig(url=postgres_url, password_file=tmp_path / "mx1" / "store-password",
                             keys_dir=tmp_path / "mx1" / "var" / "keys")
        with AuditLog.open_readonly(shared, trust=shared.key_trust()) as log:
            relayed = [r["message_id"] for r in log.records(Filters(outcome="relayed"))]
        # every message that arrived was relayed with its record by both servers
        assert {m for m in wanted if relayed.count(m) >= 2} == wanted
        verify = subprocess.run([sys.executable, "-m", "congvu", "audit", "verify",
                                 "--config", str(first.config)], capture_output=True, text=True,
                                timeout=300)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        _both_consoles_show_the_same_records(consoles, first.config, wanted)
    finally:
        for console in consoles:
            console.stop()


class Console:
    """``congvu web`` of one server on a loopback port of its own, and a client of it."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "congvu", "web", "--config", str(config),
             "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
        self.config = config
        self._ports: queue.Queue[int | None] = queue.Queue()
        # stderr read to its end (uvicorn logs every request there), the port noted
        threading.Thread(target=self._read, args=(self._ports,), daemon=True).start()
        self.client: httpx.Client | None = None

    def ready(self) -> httpx.Client:
        """A client of the console, once it listens."""
        if self.client is None:
            port = self._ports.get(timeout=120)
            assert port is not None, f"the console of {self.config} did not start"
            self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        return self.client

    def _read(self, ports: queue.Queue[int | None]) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if found := re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line):
                ports.put(int(found.group(1)))
        ports.put(None)

    def login(self, name: str, password: str) -> None:
        token = csrf_of(self.ready().get("/login").text)
        answer = self.ready().post("/login", data={"username": name, "password": password,
                                                  "csrf_token": token, "next": "/audit"})
        assert answer.status_code == 303, answer.text

    def records(self) -> list[dict[str, object]]:
        """Every record the console lists (its API, page by page), newest first."""
        found: list[dict[str, object]] = []
        for page in itertools.count(1):
            answer = self.ready().get("/api/audit/records",
                                     params={"page": page, "page_size": 200})
            assert answer.status_code == 200, answer.text
            items = answer.json()["items"]
            found.extend(items)
            if len(items) < 200:
                return found
        raise AssertionError("unreachable")

    def page(self, path: str) -> str:
        """An HTML page, without what differs per response (the forms' CSRF tokens)."""
        answer = self.ready().get(path)
        assert answer.status_code == 200, answer.text
        return re.sub(r'name="csrf_token" value="[^"]*"', "", answer.text)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def _both_consoles_show_the_same_records(consoles: list[Console], config: Path,
                                         wanted: set[str]) -> None:
    """Each server's console lists the same records, the mail through both servers among
    them, and a record's page says the same on either."""
    password = "mat khau kiem toan chung"
    # one user, in the users store both consoles share (argon2's cheapest here: the
    # console hashes it again at its own cost on the first login)
    with UserStore(load_config(config).web, hashing=CHEAPEST) as users:
        users.add("kiemtoan", password, is_admin=True)
    for console in consoles:
        console.login("kiemtoan", password)
    first, second = (console.records() for console in consoles)
    assert first == second
    listed = [str(r["message_id"]) for r in first if r["outcome"] == "relayed"]
    assert {m for m in wanted if listed.count(m) >= 2} == wanted  # mx1's and mx2's
    pages = [console.page("/audit") for console in consoles]
    assert pages[0] == pages[1]
    ids = re.findall(r'href="/audit/records/(\d+)"', pages[0])
    assert ids and ids[0] == str(first[0]["id"])
    for record in (first[0], first[-1]):
        path = f"/audit/records/{record['id']}"
        shown = [console.page(path) for console in consoles]
        assert shown[0] == shown[1]
        assert html.escape(str(record["message_id"])) in shown[0]
