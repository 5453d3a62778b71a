"""audit/rows.py reads a record's nested models from their validated fields, not through
a pydantic dump, and folds its search text word by word: the detail and the search text
must be exactly what ``model_dump(mode="json")`` and folding the joined text give."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel

from audit.records import (
    Attachment,
    AuditRecord,
    AuthResult,
    DocumentSignatureRecord,
    EdXmlRecord,
    Operation,
    Violation,
)
from audit.rows import iso, message_rows
from mailbase import fold
from support.audit import make_record, sha
from support.stored_events import batches


def _dumped(model: BaseModel, later: set[str]) -> dict[str, Any]:
    """The recipe the detail was made by: pydantic's JSON dump, the fields added later
    left out when None."""
    return model.model_dump(mode="json", exclude={n for n in later if getattr(model, n) is None})


_REASON = {"code", "params"}


def _attachment(a: Attachment) -> dict[str, Any]:
    out = _dumped(a, {"document", "signatures", "complete", "edxml"})
    if a.signatures is not None:
        out["signatures"] = [_dumped(s, {"root_family", "revocation_status",
                                         "revocation_evidence", "signer_role",
                                         "signer_unit", *_REASON}) for s in a.signatures]
    return out


def _expected_detail(rec: AuditRecord) -> dict[str, Any]:
    detail = json.loads(message_rows(rec).event["detail"])
    return {**detail,
            "attachments": [_attachment(a) for a in rec.attachments],
            "violations": [_dumped(v, _REASON) for v in rec.violations],
            "authentication": [_dumped(r, {"policy", "disposition", *_REASON})
                               for r in rec.authentication]}


class _Kind(StrEnum):
    SEAL = "seal"


# parameters our code could hand over that are not JSON values as they are
_ODD_PARAMS: dict[str, Any] = {
    "when": datetime(2026, 12, 1, 8, 0, tzinfo=UTC), "pair": ("a", 1), "kind": _Kind.SEAL,
    "nested": {"code": "x", "params": {"at": datetime(2026, 1, 2, tzinfo=UTC)}},
    "n": 2, "ratio": 0.5, "none": None, "flag": True, "words": ["ký", "số"],
}


def _every_field() -> AuditRecord:
    """Every nested field set, the parameters with values JSON has no form for."""
    signature = DocumentSignatureRecord(
        verdict="valid", reason="ok", code="document.valid", params=_ODD_PARAMS,
        field="S", format="pades", signer="A", organisation="O", subject="CN=A", issuer="I",
        serial="01", signing_time="2026-12-01T08:00:00+07:00", time_source="timestamp",
        digest_algorithm="sha256", coverage="whole", modification_level="none",
        chain=["CN=A"], is_timestamp=False, notes=["n"], root_family="gov",
        revocation_status="good", revocation_evidence=sha("e"), signer_role="organisation",
        signer_unit="stc")
    return make_record(
        attachments=[Attachment(
            path="1", filename="a.pdf", declared_type="application/pdf",
            detected_type="application/pdf", size=1, sha256=sha("a"), document="valid",
            signatures=[signature], complete=True,
            edxml=EdXmlRecord(document_id="d", organ_id="o", code_number="1",
                              code_notation="QĐ"))],
        violations=[Violation(rule="r", reason="x", filename="f", content_type="c",
                              detected_type="d", part="1", member="m", code="c",
                              params=_ODD_PARAMS)],
        authentication=[AuthResult(method="dmarc", operation=Operation.SIGN, result="pass",
                                   reason="r", code="c", params=_ODD_PARAMS, domain="d",
                                   selector="s", signer="x", policy="p",
                                   disposition="none")])


_RECORDS = [item for batch in batches() for item in batch if isinstance(item, AuditRecord)]


@pytest.mark.parametrize("rec", [*_RECORDS, _every_field()])
def test_the_detail_is_the_models_json_dump(rec: AuditRecord) -> None:
    assert json.loads(message_rows(rec).event["detail"]) == _expected_detail(rec)


def test_parameters_without_a_json_form_are_stored_as_pydantic_dumps_them() -> None:
    [auth] = json.loads(message_rows(_every_field()).event["detail"])["authentication"]
    assert auth["params"]["when"] == "2026-12-01T08:00:00Z"
    assert auth["params"]["pair"] == ["a", 1]
    assert auth["params"]["kind"] == "seal"
    assert auth["params"]["nested"]["params"]["at"] == "2026-01-02T00:00:00Z"
    assert auth["operation"] == "sign"


@pytest.mark.parametrize("subject", [
    "Công văn số 123", "Co\u0302ng va\u0306n (decomposed)", "\u0301a mark first",
    "ΟΔΟΣ ὈΔΥΣΣΕΎΣ final sigma", "İstanbul Straße ﬁle", "Đảng ủy đ Đ", "\udcfe raw",
    "a \u0323\u0302b marks to reorder", "",
])
def test_the_search_text_is_the_joined_texts_folding(subject: str) -> None:
    rec = make_record(subject=subject, header_from="Ông \u0301A <a@b.vn>",
                      header_cc="Bà B <B@C.VN>", attachments=[
                          Attachment(path="2", filename="Tờ trình.PDF", size=1,
                                     sha256=sha("t"))])
    words = [rec.subject, rec.header_from, rec.header_to, rec.header_cc, rec.envelope_sender,
             *rec.envelope_recipients, "Tờ trình.PDF"]
    assert message_rows(rec).search == fold(" ".join(w for w in words if w))


@pytest.mark.parametrize(("at", "stored"), [
    (datetime(2026, 12, 1, 8, 0, tzinfo=UTC), "2026-12-01T08:00:00.000000+00:00"),
    (datetime(2026, 12, 1, 8, 0, 0, 1, tzinfo=UTC), "2026-12-01T08:00:00.000001+00:00"),
    (datetime(2026, 12, 1, 15, 0, 0, 500000, tzinfo=timezone(timedelta(hours=7))),
     "2026-12-01T08:00:00.500000+00:00"),
])
def test_a_time_is_stored_in_utc_with_its_microseconds_even_when_none(
        at: datetime, stored: str) -> None:
    assert iso(at) == stored
