"""DMARC through the service: DMARC results and spoof refusals in `audit report`, and
each recipient unit's own actions on DMARC failures."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import click
import pytest
from click.testing import CliRunner

from audit import AuditLog
from audit import commands as audit_commands
from audit.query import Filters
from directory import Directory
from mailbase import zone
from support.dns import DnsServer
from support.rawsmtp import Raw

OWN = "binhthuan.gov.vn"
OUTSIDE = b"203.0.113.9"  # example.org's SPF-permitted client
STRANGER = b"198.51.100.7"  # permitted by no one
UNITS = (
    "id,name,parent,address\n"
    f"tinh,UBND tỉnh Bình Thuận,,ubnd@{OWN}\n"
    f"sotc,Sở Tài chính,tinh,sotc@{OWN}\n"
    f"phongns,Phòng Ngân sách,sotc,phongns@{OWN}\n"
    f"soyt,Sở Y tế,tinh,soyt@{OWN}\n"
)


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    server = DnsServer()
    server.start()
    server.add_txt("example.org", "v=spf1 ip4:203.0.113.9 -all")
    server.add_txt("_dmarc.example.org", "v=DMARC1; p=reject")
    server.add_txt("_dmarc.quarantine.example", "v=DMARC1; p=quarantine")
    server.add_txt(OWN, "v=spf1 ip4:192.0.2.0/24 -all")
    server.add_txt(f"_dmarc.{OWN}", "v=DMARC1; p=quarantine")
    yield server
    server.stop()


def start(filter_server: Any, dns: DnsServer, *, auth: dict[str, str] | None = None,
          **overrides: Any) -> Any:
    running = filter_server(
        listeners=[{"name": "in", "role": "inbound", "queue": "before", "port": 0}],
        signer={"dkim": {"authserv_id": f"mx.{OWN}", "resolver_nameserver": "127.0.0.1",
                         "resolver_port": dns.port, "resolver_timeout": 2},
                "auth": auth or {}},
        **overrides,
    )
    store = Directory.open(running.server.config.directory.path)
    store.import_csv(UNITS, actor="t")
    store.close()
    running.server.runtime.units.index.refresh()
    return running


def send(running: Any, sender: str, client_ip: bytes, *recipients: str) -> bytes:
    raw = Raw(running.port)
    raw.command(b"EHLO postfix")
    assert raw.command(b"XFORWARD ADDR=" + client_ip + b" HELO=mx.example.org").startswith(
        b"250")
    assert raw.command(f"MAIL FROM:<{sender}>".encode()).startswith(b"250")
    for rcpt in recipients:
        assert raw.command(f"RCPT TO:<{rcpt}>".encode()).startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send((f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: test\r\n"
              f"Message-ID: <{len(recipients)}.{sender}>\r\n\r\nbody\r\n.\r\n").encode())
    return raw.reply()


def report_csv(running: Any) -> dict[str, dict[str, str]]:
    """`audit report --format csv` for this month, on the service's own store."""
    config = running.server.config.audit
    [group] = audit_commands(lambda _path: config, descendants=lambda unit: [unit])
    assert isinstance(group, click.Group)
    month = dt.datetime.now(zone(config.time_zone)).strftime("%Y-%m")
    result = CliRunner().invoke(group, ["report", "--period", month, "--format", "csv"])
    assert result.exit_code == 0, result.output
    return {r["unit"]: r for r in csv.DictReader(io.StringIO(result.output))
            if not r["mailbox"]}


def test_dmarc_pass_fail_and_spoofing_are_counted_per_unit(filter_server, next_hop,
                                                           dns) -> None:
    running = start(filter_server, dns)
    assert send(running, "news@example.org", OUTSIDE, f"sotc@{OWN}").startswith(b"250")
    assert send(running, "news@example.org", OUTSIDE, f"soyt@{OWN}").startswith(b"250")
    assert send(running, "ceo@example.org", STRANGER, f"sotc@{OWN}").startswith(b"550 5.7.1")
    spoof = send(running, f"soyt@{OWN}", OUTSIDE, f"sotc@{OWN}")
    assert spoof.startswith(
        b"550 5.7.1 Thu bi tu choi: gia danh nguoi gui cua tinh / "
        b"Message refused as a forged provincial sender")
    # from the trusted network: not DMARC-checked
    assert send(running, "news@example.org", b"127.0.0.1", f"sotc@{OWN}").startswith(b"250")
    rows = report_csv(running)
    sotc, soyt = rows["sotc"], rows["soyt"]
    # relayed: the first message and the one from the trusted network; the stranger's
    # DMARC failure is refused mail to sotc, the forgery is not (it is a forgery attempt)
    assert (sotc["received"], sotc["received_refused"]) == ("2", "1")
    assert (sotc["dmarc_checked"], sotc["dmarc_passed"], sotc["spoof_refused"]) == (
        "4", "25.0%", "1")
    assert (soyt["dmarc_checked"], soyt["dmarc_passed"], soyt["spoof_refused"]) == (
        "1", "100.0%", "0")
    # the spoof's own entry in the record, beside the DMARC verdict's
    log = AuditLog.open_readonly(running.server.config.audit.path)
    try:
        refused = [r for r in log.query(Filters()).items if r.action == "reject"]
        details = [log.show(r.id) for r in refused]
    finally:
        log.close()
    entries = [a for d in details for a in d["authentication"]
               if a.get("disposition") == "spoof-refused"]
    assert len(entries) == 1
    assert entries[0]["method"] == "dmarc" and entries[0]["result"] == "fail"
    assert entries[0]["reason"].startswith(f"From is the province's own domain {OWN}")


UNIT_ACTIONS = {"overrides": [
    {"unit": "sotc", "direction": "inbound", "on_dmarc_reject": "quarantine",
     "on_dmarc_quarantine": "tag"},
]}


def test_a_units_dmarc_actions_apply_to_its_descendants(filter_server, next_hop,
                                                        dns) -> None:
    running = start(filter_server, dns, policies=UNIT_ACTIONS)
    # p=reject to a unit under sotc: sotc says quarantine
    reply = send(running, "ceo@example.org", STRANGER, f"phongns@{OWN}")
    assert reply.startswith(b"250") and b"held in quarantine (" in reply
    next_hop.assert_empty()
    # p=quarantine to sotc: sotc says tag
    assert send(running, "ceo@quarantine.example", STRANGER, f"sotc@{OWN}").startswith(b"250")
    delivered = next_hop.get()
    assert delivered.recipients == [f"sotc@{OWN}"]
    head = delivered.content.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nX-Congvu-Authentication: dmarc=fail (p=quarantine)" in b"\r\n" + head


def test_units_without_their_own_actions_use_signer_auth(filter_server, next_hop,
                                                         dns) -> None:
    running = start(filter_server, dns, policies=UNIT_ACTIONS,
                    auth={"on_dmarc_quarantine": "reject"})
    assert send(running, "ceo@example.org", STRANGER, f"soyt@{OWN}").startswith(b"550 5.7.1")
    assert send(running, "ceo@quarantine.example", STRANGER,
                f"soyt@{OWN}").startswith(b"550 5.7.1")
    # sotc's own value beats [signer.auth]'s
    assert send(running, "ceo@quarantine.example", STRANGER, f"sotc@{OWN}").startswith(b"250")
    assert next_hop.get().recipients == [f"sotc@{OWN}"]


def test_with_several_recipient_units_the_strictest_action_wins(filter_server, next_hop,
                                                                dns) -> None:
    running = start(filter_server, dns, policies=UNIT_ACTIONS)
    reply = send(running, "ceo@example.org", STRANGER, f"phongns@{OWN}", f"soyt@{OWN}")
    assert reply.startswith(b"550 5.7.1")
    next_hop.assert_empty()


def test_the_top_level_policies_value_applies_to_every_unit(filter_server, next_hop,
                                                            dns) -> None:
    running = start(filter_server, dns, policies={"on_dmarc_reject": "tag"})
    assert send(running, "ceo@example.org", STRANGER, f"soyt@{OWN}").startswith(b"250")
    assert b"X-Congvu-Authentication: dmarc=fail (p=reject)" in next_hop.get().content
    # own-domain protection is not a DMARC action: still refused
    spoof = send(running, f"soyt@{OWN}", OUTSIDE, f"sotc@{OWN}")
    assert spoof.startswith(
        b"550 5.7.1 Thu bi tu choi: gia danh nguoi gui cua tinh / "
        b"Message refused as a forged provincial sender")
