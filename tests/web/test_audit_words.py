"""The auditor's pages read in Vietnamese: once the data values are taken out (what
came with the mail or from the directory, marked ``data-value``, and code), every word
left on the log, record, trace and report pages is a word of the console's Vietnamese
catalogue or of a short list of names that have no Vietnamese (DKIM, S/MIME...); no
English verdict, outcome, field name or ``None`` is left."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit import (
    Attachment,
    AuditLog,
    Completion,
    DocumentSignatureRecord,
    Fate,
    Violation,
)
from support.audit import T0, make_record, sha
from support.pagewords import ALLOWED, VIETNAMESE, words
from support.webconsole import client, login


@pytest.fixture
def admin(env):
    with AuditLog.open(env.config.audit) as log:
        rid = log.record(make_record(
            received_at=T0 + timedelta(hours=5),
            violations=[Violation(rule="double-extension", reason="two extensions",
                                  filename="a.pdf.exe")],
            attachments=[Attachment(
                path="2", filename="QĐ.pdf", size=10, sha256=sha("qd"),
                detected_type="application/pdf", document="valid", complete=True,
                signatures=[DocumentSignatureRecord(
                    verdict="valid", signer="Nguyễn Văn A", signer_role="person",
                    signer_unit="stc", root_family="gov",
                    signing_time="2026-11-03T02:00:00+00:00")])]))
        log.complete(Completion(record_id=rid, outcome=Fate.RELAYED, reply="250 2.0.0 Ok",
                                at=T0 + timedelta(hours=5, minutes=1)))
    c = client(env.settings)
    login(c, "admin")
    c.rid = rid
    return c


PAGES = ["/audit", "/audit?since=31/02/2026", "/audit?until=2026-11-01&since=2026-11-05",
         "/audit/records/{rid}", "/audit/records/4", "/audit/records/5",
         f"/audit/trace?sha256={sha('qd')}", "/audit/trace?sha256=" + "0" * 64,
         "/audit/report?period=2026-11", "/audit/report?period=someday"]


@pytest.mark.parametrize("path", PAGES)
def test_no_english_left_on_the_page(admin, path) -> None:
    page = admin.get(path.format(rid=admin.rid)).text
    found = words(page)
    assert found, "nothing read"
    assert found - VIETNAMESE - ALLOWED == set(), path


def test_the_check_sees_english(admin) -> None:
    """The check itself: the English page has words the Vietnamese catalogue has not."""
    admin.get("/lang/en")
    english = words(admin.get(f"/audit/records/{admin.rid}").text)
    assert {"relayed", "valid", "person"} <= english - VIETNAMESE - ALLOWED
