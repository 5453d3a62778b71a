"""No backscatter: behind Postfix's queue, inbound mail congvu refuses is held or
discarded, never answered 5xx (Postfix would bounce it to its usually forged sender);
before the queue, and for outbound mail, a refusal is answered as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from audit import AuditLog
from audit.query import Filters
from congvu.cli import main
from directory import Directory
from support.dns import DnsServer
from support.rawsmtp import Raw

OWN = "lamdong.gov.vn"
FORGED = (f"From: sotc@{OWN}\r\nTo: ubnd@{OWN}\r\nSubject: gia mao\r\n"
          "Message-ID: <forged@example.org>\r\n\r\nchuyen tien gap\r\n").encode()


@pytest.fixture
def dns():
    server = DnsServer()
    server.start()
    yield server
    server.stop()


def start(filter_server, dns, *, queue: str = "after", instead: str = "quarantine",
          role: str = "inbound"):
    running = filter_server(
        service={"hostname": "mx.lamdong.gov.vn",
                 "after_queue_inbound_refusal": instead},
        listeners=[{"name": "in", "role": role, "queue": queue, "port": 0}],
        signer={"dkim": {"authserv_id": f"mx.{OWN}", "resolver_nameserver": "127.0.0.1",
                         "resolver_port": dns.port, "resolver_timeout": 2}})
    store = Directory.open(running.server.config.directory.path)
    store.import_csv(f"id,name,parent,address\nsotc,Sở Tài chính,,sotc@{OWN}\n"
                     f"ubnd,UBND tỉnh,,ubnd@{OWN}\n", actor="test")
    store.close()
    running.server.runtime.units.index.refresh()
    return running


def send(running, content: bytes, *, mail_from: str = "attacker@example.org",
         client: bytes = b"203.0.113.9") -> bytes:
    raw = Raw(running.port)
    raw.command(b"EHLO postfix")
    assert raw.command(b"XFORWARD ADDR=" + client + b" IDENT=4AbC").startswith(b"250")
    assert raw.command(f"MAIL FROM:<{mail_from}>".encode()).startswith(b"250")
    assert raw.command(f"RCPT TO:<ubnd@{OWN}>".encode()).startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(content + b".\r\n")
    return raw.reply()


def the_record(running) -> dict:
    log = AuditLog.open_readonly(running.server.config.audit.path)
    try:
        [item] = log.query(Filters()).items
        return log.show(item.id)
    finally:
        log.close()


def test_behind_the_queue_a_forgery_is_held_not_refused(filter_server, next_hop, dns) -> None:
    running = start(filter_server, dns)
    reply = send(running, FORGED)
    assert reply.startswith(b"250 2.0.0 Thu da duoc nhan va dang bi cach ly / Message accepted and "
                             b"held in quarantine")
    next_hop.assert_empty()  # no bounce can follow a 250, and nothing was delivered
    [held] = running.server.runtime.quarantine.list()
    assert held.action == "quarantine"
    assert "held instead of bounced" in held.decision["reply_text"]
    assert "forged provincial sender" in held.decision["reply_text"]
    record = the_record(running)
    assert record["action"] == "quarantine"
    assert [c["outcome"] for c in record["completions"]] == ["quarantined"]
    # still recorded as a forgery attempt, for the report
    assert [a for a in record["authentication"] if a.get("disposition") == "spoof-refused"]


def test_behind_the_queue_discard_drops_it_and_tells_postmaster(filter_server, next_hop,
                                                                dns) -> None:
    running = start(filter_server, dns, instead="discard")
    reply = send(running, FORGED)
    assert reply.startswith(b"250 2.7.0 Thu bi tu choi va huy, khong gui thu bao loi / Message "
                             b"refused and discarded without a bounce")
    notice = next_hop.get()  # the only message that leaves: the postmaster's notice
    assert (notice.mail_from, notice.recipients) == ("<>", ["postmaster@mx.lamdong.gov.vn"])
    assert b"Auto-Submitted: auto-generated" in notice.content
    assert b"attacker@example.org" in notice.content and b"4AbC" in notice.content
    assert b"chuyen tien gap" not in notice.content  # never the forged message itself
    next_hop.assert_empty()
    record = the_record(running)
    assert record["action"] == "reject"
    [completion] = record["completions"]
    assert completion["outcome"] == "rejected"
    assert "discarded without a bounce" in completion["reply"]


def test_before_the_queue_the_sending_server_gets_the_refusal(filter_server, next_hop,
                                                              dns) -> None:
    running = start(filter_server, dns, queue="before")
    assert send(running, FORGED).startswith(
        b"550 5.7.1 Thu bi tu choi: gia danh nguoi gui cua tinh / Message refused as a forged")
    next_hop.assert_empty()
    assert running.server.runtime.quarantine.list() == []


def test_outbound_refusals_behind_the_queue_are_still_answered(filter_server, next_hop,
                                                               dns) -> None:
    # the sender is ours (a logged-in official): Postfix's bounce tells them why
    running = start(filter_server, dns, role="auto")  # loopback is a trusted client
    reply = send(running, FORGED.replace(b"sotc@", b"ubnd@"), mail_from=f"sotc@{OWN}",
                 client=b"127.0.0.1")
    assert reply.startswith(b"550 5.7.1 Thu bi tu choi: nguoi gui khong duoc dung dia chi From "
                            b"nay / Message refused: the sender may not use this From address "
                            b"(the From address ubnd@")
    assert running.server.runtime.quarantine.list() == []


def _check(tmp_path: Path, listeners: str) -> list[str]:
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n'
                    '[[listeners]]\nname = "out"\nrole = "outbound"\nport = 10025\n'
                    f"{listeners}", encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    return [line.removeprefix(f"{path}: warning: ") for line in result.stderr.splitlines()
            if line.startswith(f"{path}: warning: ")]


def test_config_check_warns_while_port_25_is_behind_the_queue(tmp_path: Path) -> None:
    # no listener before the queue: the inbound ones are port 25's, refusals never answered
    [inbound, mixed] = _check(
        tmp_path, '[[listeners]]\nname = "in"\nrole = "inbound"\nport = 10027\n'
                  '[[listeners]]\nname = "mixed"\nrole = "auto"\nport = 10028\n'
                  '[[listeners]]\nname = "out2"\nrole = "outbound"\nport = 10029\n'
                  'queue = "before"\n')
    assert inbound.startswith("listeners.1: listener 'in' (role inbound) takes inbound mail "
                              "behind Postfix's queue and no listener is before it: what "
                              "congvu refuses there is quarantined")
    assert inbound.endswith("fix: put port 25 before the queue (the smtp service of "
                            "deploy/postfix/master.cf.snippet) with a listener of its own "
                            "that has queue = \"before\" (deploy/congvu.toml's port-25)")
    assert mixed.startswith("listeners.2: listener 'mixed' (role auto)")


def test_no_warning_for_the_internal_path_once_port_25_is_before_the_queue(
        tmp_path: Path) -> None:
    # deploy/'s layout: port 25 before the queue, internal mail (pickup) behind it
    assert _check(tmp_path, '[[listeners]]\nname = "internal"\nrole = "inbound"\n'
                            'port = 10027\n'
                            '[[listeners]]\nname = "port-25"\nrole = "inbound"\nport = 10024\n'
                            'queue = "before"\n') == []
