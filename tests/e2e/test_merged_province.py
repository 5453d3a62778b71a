"""After a merger of provinces, a real Postfix reads the virtual map `directory publish`
wrote: mail to an old unit's address in an old domain, whether the unit was made
inactive or its last day (`valid_until`) passed, reaches its successor's address.
(The filter's refusal of mail sent as an old address, naming the successor, is in
tests/directory/test_merge_service.py.)

Skipped with a loud reason when Postfix cannot run here (not root, package missing).
"""

from __future__ import annotations

import smtplib
from pathlib import Path
from typing import Any

import pytest

from directory import Directory
from support import postfix

pytestmark = [pytest.mark.e2e]

UNITS = (
    "id,name,parent,address,senders,active,valid_until,successor\n"
    "ubnd-lam-dong,Ủy ban nhân dân tỉnh Lâm Đồng,,ubnd.tinh@lamdong.gov.vn,,yes,,\n"
    "so-tai-chinh-lam-dong,Sở Tài chính,ubnd-lam-dong,taichinh@lamdong.gov.vn,"
    "taichinh@lamdong.gov.vn,yes,,\n"
    # ended by hand, and by its last day passing with no one marking it inactive
    "bt-so-tai-chinh,Sở Tài chính Bình Thuận,,stc@binhthuan.gov.vn,stc@binhthuan.gov.vn,"
    "no,,so-tai-chinh-lam-dong\n"
    "dn-so-tai-chinh,Sở Tài chính Đắk Nông,,stc@daknong.gov.vn,stc@daknong.gov.vn,"
    "yes,2025-06-30,so-tai-chinh-lam-dong\n"
)


@pytest.fixture
def maps(tmp_path: Path) -> Path:
    """The Postfix maps published from the merged directory."""
    reason = postfix.missing()
    if reason is not None:
        pytest.skip(f"LOUD SKIP: end-to-end tests need a real Postfix: {reason}")
    with Directory.open(tmp_path / "directory.sqlite3") as store:
        store.import_csv(UNITS, actor="e2e")
        store.publish(tmp_path / "www")
    return tmp_path / "www" / "postfix"


def test_mail_to_an_old_address_reaches_the_successor(maps: Path, next_hop: Any) -> None:
    mta = postfix.PostfixInstance(relayhost=f"[127.0.0.1]:{next_hop.port}",
                                  main_extra=f"virtual_alias_maps = texthash:{maps / 'virtual'}\n")
    mta.start()
    try:
        with smtplib.SMTP("127.0.0.1", mta.port, timeout=30) as client:
            client.sendmail("a@example.org", ["stc@binhthuan.gov.vn", "stc@daknong.gov.vn"],
                            b"From: a@example.org\r\nSubject: gui so cu\r\n\r\nbody\r\n")
        forwarded = next_hop.get(timeout=60)
    finally:
        mta.stop()
    # both old addresses are the one successor's (Postfix keeps each original
    # recipient, so it is named twice)
    assert (forwarded.mail_from, forwarded.recipients) == (
        "a@example.org", ["taichinh@lamdong.gov.vn"] * 2)
    next_hop.assert_empty()
