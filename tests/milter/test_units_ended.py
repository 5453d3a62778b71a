"""Sending as a unit that has ended, through the real service: past its ``valid_until``
(with no one marking it inactive) or inactive with a successor, its own addresses are
refused with a reply naming the address to use; an official's own mailbox in it is the
person's and keeps sending; the last day itself is still a working day."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from directory import Directory, DirectoryIndex
from milter.stages.units import UnitLookup
from support.rawsmtp import Raw

D = "lamdong.gov.vn"
UNITS = (
    "id,name,parent,address,active,valid_until,successor\n"
    f"stc,Sở Tài chính,,stc@{D},yes,,\n"
    f"bt-stc,Sở Tài chính Bình Thuận,,stc@binhthuan.gov.vn,yes,2025-06-30,\n"
    f"ld-stc,Sở Tài chính Lâm Đồng cũ,,stc.cu@{D},yes,2099-12-31,stc\n"
    # merged twice: into a unit that was itself merged into stc
    f"xa-cu,Xã cũ,,xa.cu@{D},no,,xa-giua\n"
    f"xa-giua,Xã giữa,,xa.giua@{D},no,,stc\n"
)
ROSTER = "address,full_name,unit\nnguyen.van.a@binhthuan.gov.vn,Nguyễn Văn A,bt-stc\n"


@pytest.fixture
def outbound(filter_server: Callable[..., Any]) -> Any:
    running = filter_server()
    with Directory.open(running.server.config.directory.path) as store:
        store.import_csv(UNITS, actor="test")
        store.import_mailboxes(ROSTER, actor="test")
    running.server.runtime.units.index.refresh()
    return running


def send(running: Any, address: str) -> tuple[int, bytes]:
    client = running.client()
    try:
        client.sendmail(address, ["a@example.org"],
                        f"From: {address}\r\nTo: a@example.org\r\nSubject: test\r\n"
                        f"Message-ID: <m@{D}>\r\n\r\nbody\r\n".encode())
        return 250, b""
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code, exc.smtp_error
    finally:
        client.close()


def test_a_unit_past_its_last_day_without_successor_is_refused(outbound: Any,
                                                               next_hop: Any) -> None:
    assert send(outbound, "stc@binhthuan.gov.vn") == (
        550, b"5.7.1 Thu bi tu choi: dia chi stc@binhthuan.gov.vn da ngung su dung (don vi "
             b"da ngung hoat dong) / Message refused: the From address stc@binhthuan.gov.vn "
             b"is of unit bt-stc, which ended on 2025-06-30")
    next_hop.assert_empty()


def test_a_unit_merged_twice_names_the_unit_that_carries_on(outbound: Any,
                                                           next_hop: Any) -> None:
    code, text = send(outbound, f"xa.cu@{D}")
    assert code == 550
    assert b"(don vi da hop nhat vao stc), hay gui bang dia chi stc@lamdong.gov.vn / " in text
    assert text.endswith(b"send as its successor's address stc@lamdong.gov.vn")
    next_hop.assert_empty()


def test_an_official_of_an_ended_unit_and_a_unit_before_its_end_still_send(
    outbound: Any, next_hop: Any,
) -> None:
    for address in ("nguyen.van.a@binhthuan.gov.vn", f"stc.cu@{D}"):
        assert send(outbound, address) == (250, b""), address
        assert next_hop.get().mail_from == address


def test_the_last_day_is_a_working_day_and_the_next_is_not(tmp_path: Path) -> None:
    with Directory.open(tmp_path / "directory.sqlite3") as store:
        store.import_csv(UNITS, actor="test")
    index = DirectoryIndex.open(tmp_path / "directory.sqlite3")
    try:
        assert UnitLookup(index, today=lambda: date(2025, 6, 30)).ended("bt-stc") is None
        ended = UnitLookup(index, today=lambda: date(2025, 7, 1)).ended("bt-stc")
        assert ended is not None
        assert (ended.unit.id, ended.successor, ended.ended_on) == (
            "bt-stc", None, date(2025, 6, 30))
        # an inactive unit without a successor is left to the sender login maps
        assert UnitLookup(index).ended("stc") is None
        assert index.successor("ld-stc", date(2100, 1, 1)) == index.unit("stc")
        assert index.successor("ld-stc", date(2099, 12, 31)) is None
    finally:
        index.close()


#: the longest addresses an import takes: a 64-octet local part, 254 octets in all
LONG_DOMAIN = f"{'x' * 63}.{'y' * 63}.{'z' * 47}.gov.vn"
LONG_OLD = f"{'o' * 64}@{LONG_DOMAIN}"
LONG_NEW = f"{'n' * 64}@{LONG_DOMAIN}"
LONG_IDS = ("d" * 64, "s" * 64)
LONG_UNITS = (
    "id,name,parent,address,aliases,active,successor\n"
    f"{LONG_IDS[0]},Sở cũ,,{LONG_OLD},,no,{LONG_IDS[1]}\n"
    f"{LONG_IDS[1]},Sở mới,,{LONG_NEW},,yes,\n"
    # a successor whose primary address is internationalised: the reply names its
    # ASCII alias; one with none names the unit
    f"bt-snv,Sở Nội vụ cũ,,snv@binhthuan.gov.vn,,no,snv\n"
    f"snv,Sở Nội vụ,,nội.vụ@{D},snv@{D},yes,\n"
    f"bt-sxd,Sở Xây dựng cũ,,sxd@binhthuan.gov.vn,,no,sxd\n"
    f"sxd,Sở Xây dựng,,xây.dựng@{D},,yes,\n"
)


def raw_refusal(running: Any, address: str) -> bytes:
    """The DATA reply, as the bytes on the socket (its CRLF included)."""
    raw = Raw(running.port)
    raw.command(b"EHLO postfix")
    assert raw.command(f"MAIL FROM:<{address}>".encode()).startswith(b"250")
    assert raw.command(b"RCPT TO:<a@example.org>").startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(f"From: {address}\r\nTo: a@example.org\r\nSubject: test\r\n"
             f"Message-ID: <long@{D}>\r\n\r\nbody\r\n.\r\n".encode())
    reply = raw.reply() + b"\r\n"
    raw.sock.close()
    return reply


@pytest.fixture
def long_names(filter_server: Callable[..., Any]) -> Any:
    running = filter_server()
    with Directory.open(running.server.config.directory.path) as store:
        store.import_csv(LONG_UNITS, actor="test")
    running.server.runtime.units.index.refresh()
    return running


def test_the_refusal_with_the_longest_addresses_names_the_successor_on_each_line(
    long_names: Any, next_hop: Any,
) -> None:
    reply = raw_refusal(long_names, LONG_OLD)
    # too long for one line in both languages: a line for each (RFC 5321 4.2.1)
    assert all(len(line) + 2 <= 512 for line in reply.split(b"\r\n")[:-1])
    assert reply == (f"550-5.7.1 Thu bi tu choi: hay gui bang dia chi {LONG_NEW}\r\n"
                     f"550 5.7.1 Message refused: unit {LONG_IDS[0]} has ended; send as its "
                     f"successor's address {LONG_NEW}\r\n").encode()
    next_hop.assert_empty()


def test_the_refusal_names_an_address_a_reply_can_carry(long_names: Any, next_hop: Any) -> None:
    snv = raw_refusal(long_names, "snv@binhthuan.gov.vn")
    assert f"hay gui bang dia chi snv@{D} / ".encode() in snv
    assert snv.endswith(f"send as its successor's address snv@{D}\r\n".encode())
    sxd = raw_refusal(long_names, "sxd@binhthuan.gov.vn")
    assert b"(don vi da hop nhat vao sxd), hay gui bang dia chi cua don vi sxd / " in sxd
    assert sxd.endswith(b"send as its successor's addresses (unit sxd)\r\n")
    next_hop.assert_empty()
