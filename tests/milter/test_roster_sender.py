"""Officials' roster mailboxes through the real service: the directory's index resolves
an active roster mailbox to its unit, so the units stage binds and attributes its mail
without any change of its own."""

from __future__ import annotations

import smtplib

import pytest

from audit import AuditLog
from audit.query import Filters
from directory import Directory
from support.smime import cast

D = "lamdong.gov.vn"
UNITS = (
    "id,name,parent,address\n"
    f"sotc,Sở Tài chính,,sotc@{D}\n"
    f"snv,Sở Nội vụ,,snv@{D}\n"
)
ROSTER = (
    "address,full_name,unit\n"
    f"nguyen.van.a@{D},Nguyễn Văn A,sotc\n"
    f"tran.thi.b@{D},Trần Thị B,sotc\n"
    f"le.van.c@{D},Lê Văn C,snv\n"
)


@pytest.fixture
def outbound(filter_server):
    running = filter_server()
    with Directory.open(running.server.config.directory.path) as store:
        store.import_csv(UNITS, actor="test")
        store.import_mailboxes(ROSTER, actor="test")
    running.server.runtime.units.index.refresh()
    return running


def send(running, *, mail_from: str, header_from: str) -> tuple[int, bytes]:
    client = running.client()
    try:
        client.sendmail(mail_from, ["a@example.org"],
                        f"From: {header_from}\r\nTo: a@example.org\r\nSubject: test\r\n"
                        f"Message-ID: <m@{D}>\r\n\r\nbody\r\n".encode())
        return 250, b""
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code, exc.smtp_error
    finally:
        client.close()


def sender_units(running) -> list[str | None]:
    log = AuditLog.open_readonly(running.server.config.audit.path)
    try:
        return [log.show(item.id).get("sender_unit") for item in log.query(Filters()).items]
    finally:
        log.close()


def test_a_roster_mailbox_sends_as_itself_or_its_unit_and_is_attributed(outbound,
                                                                       next_hop) -> None:
    assert send(outbound, mail_from=f"nguyen.van.a@{D}",
                header_from=f"Nguyễn Văn A <nguyen.van.a@{D}>") == (250, b"")
    assert send(outbound, mail_from=f"nguyen.van.a@{D}", header_from=f"sotc@{D}") == (250, b"")
    next_hop.get()
    next_hop.get()
    assert sender_units(outbound) == ["sotc", "sotc"]


def test_a_roster_mailbox_of_another_unit_is_refused(outbound, next_hop) -> None:
    code, text = send(outbound, mail_from=f"le.van.c@{D}", header_from=f"sotc@{D}")
    assert (code, text) == (550, b"5.7.1 Thu bi tu choi: nguoi gui khong duoc dung dia chi From "
                                 b"nay / Message refused: the sender may not use this From "
                                 b"address (the From address sotc@lamdong.gov.vn belongs to "
                                 b"unit sotc, but the sender le.van.c@lamdong.gov.vn belongs "
                                 b"to unit snv)")
    next_hop.assert_empty()
    assert sender_units(outbound) == ["snv"]


def test_an_inactive_roster_mailbox_no_longer_speaks_for_its_unit(outbound, next_hop) -> None:
    with Directory.open(outbound.server.config.directory.path) as store:
        store.import_mailboxes("\n".join(ROSTER.splitlines()[:2]) + "\n", actor="test")
    outbound.server.runtime.units.index.refresh()
    code, text = send(outbound, mail_from=f"le.van.c@{D}", header_from=f"snv@{D}")
    assert code == 550 and text.endswith(b"but the sender le.van.c@lamdong.gov.vn belongs to "
                                         b"no unit)")


def test_an_official_cannot_write_as_a_colleague_of_the_same_unit(outbound, next_hop) -> None:
    code, text = send(outbound, mail_from=f"nguyen.van.a@{D}", header_from=f"tran.thi.b@{D}")
    assert code == 550
    assert b"is an official's own mailbox; only its owner may send as it" in text
    next_hop.assert_empty()


def test_an_official_signs_with_no_unit_identity_but_the_unit_address_does(
        filter_server, next_hop, tmp_path) -> None:
    # the unit's S/MIME certificate is the unit's seal: mail From an official's own
    # mailbox is not sealed with it, mail From the unit's address is
    people = cast()
    cert, key = people.alice.write(tmp_path / "smime", "unit")
    running = filter_server(signer={"smime": {"identities": [
        {"unit": "sotc", "cert": str(cert), "key": str(key)}]}})
    with Directory.open(running.server.config.directory.path) as store:
        store.import_csv(UNITS, actor="test")
        store.import_mailboxes(ROSTER, actor="test")
    running.server.runtime.units.index.refresh()
    assert send(running, mail_from=f"nguyen.van.a@{D}",
                header_from=f"nguyen.van.a@{D}") == (250, b"")
    assert b"multipart/signed" not in next_hop.get().content
    assert send(running, mail_from=f"nguyen.van.a@{D}", header_from=f"sotc@{D}") == (250, b"")
    assert b"multipart/signed" in next_hop.get().content
