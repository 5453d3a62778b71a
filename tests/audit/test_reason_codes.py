"""Reason codes in the record: each violation, authentication result and document
signature may carry the code and parameters its English ``reason`` was rendered from.
They are left out of the chained detail when absent, so records and stores written
before keep their exact bytes and hashes, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from audit import (
    Attachment,
    AuditLog,
    AuthResult,
    DocumentSignatureRecord,
    Violation,
)
from audit.config import AuditConfig
from audit.rows import message_rows
from support.audit import make_record, sha

CODED_PARAMS = {"reason": {"code": "name.blocked-extension",
                           "params": {"name": "'a.exe'", "ext": "exe"}},
                "member": "docs/a.exe"}


def _record(*, coded: bool, **overrides: Any) -> Any:
    code: dict[str, Any] = ({"code": "at-member", "params": CODED_PARAMS} if coded else {})
    signed: dict[str, Any] = ({"code": "trust.chained", "params": {"root": "CN=Root"}}
                              if coded else {})
    return make_record(
        violations=[Violation(rule="blocked-extension", filename="a.zip",
                              reason="the name 'a.exe' ends in .exe (at docs/a.exe)", **code)],
        authentication=[AuthResult(method="dkim", result="pass", reason="good signature",
                                   domain="stc.example.gov.vn", **signed)],
        attachments=[Attachment(path="2", filename="a.pdf", size=10, sha256=sha("a"),
                                document="valid", signatures=[DocumentSignatureRecord(
                                    verdict="valid", reason="chained to CN=Root", **signed)])],
        **overrides)


def test_a_record_without_codes_has_the_detail_the_previous_release_wrote() -> None:
    # as the release before reason codes wrote these three: a code would be a new key
    detail = message_rows(_record(coded=False)).event["detail"]
    assert '{"content_type":null,"detected_type":null,"filename":"a.zip","member":null,' \
           '"part":null,"reason":"the name \'a.exe\' ends in .exe (at docs/a.exe)",' \
           '"rule":"blocked-extension"}' in detail
    assert '{"domain":"stc.example.gov.vn","method":"dkim","operation":"verify",' \
           '"reason":"good signature","result":"pass","selector":null,"signer":null}' in detail
    assert '"code"' not in detail and '"params"' not in detail


def test_codes_are_kept_in_the_chained_detail() -> None:
    detail = message_rows(_record(coded=True)).event["detail"]
    assert detail.count('"code":"trust.chained"') == 2
    assert ('"code":"at-member","content_type":null,"detected_type":null,"filename":"a.zip",'
            '"member":null,"params":{"member":"docs/a.exe","reason":{"code":'
            '"name.blocked-extension","params":{"ext":"exe","name":"\'a.exe\'"}}}') in detail


def test_a_store_written_before_codes_keeps_its_hashes_and_takes_codes(
        backend_config: AuditConfig) -> None:
    with AuditLog.open(backend_config) as log:  # as the previous release wrote it
        old = log.record(_record(coded=False))
        before = [r["hash"] for r in log.db.query("SELECT hash FROM events ORDER BY seq")]
    with AuditLog.open(backend_config) as log:  # reopened, as after an upgrade
        assert [r["hash"] for r in log.db.query(
            "SELECT hash FROM events ORDER BY seq")][:len(before)] == before
        new = log.record(_record(coded=True, message_id="<b@stc.example.gov.vn>"))
        report = log.verify()
        shown_old, shown_new = log.show(old), log.show(new)
    assert report.is_intact, report.describe()
    assert "code" not in shown_old["violations"][0]
    assert "code" not in shown_old["authentication"][0]
    assert "code" not in shown_old["attachments"][0]["signatures"][0]
    assert shown_new["violations"][0]["code"] == "at-member"
    assert shown_new["violations"][0]["params"] == CODED_PARAMS
    assert shown_new["violations"][0]["reason"].endswith("(at docs/a.exe)")  # kept
    assert shown_new["authentication"][0]["params"] == {"root": "CN=Root"}
    assert shown_new["attachments"][0]["signatures"][0]["code"] == "trust.chained"


def test_a_code_changed_in_the_store_is_found(audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        record_id = log.record(_record(coded=True))
        log.db.conn.execute(
            "UPDATE events SET detail = replace(detail, 'name.blocked-extension', "
            "'name.double-extension') WHERE seq = ?", (record_id,))
        log.db.conn.commit()
        assert not log.verify().is_intact
