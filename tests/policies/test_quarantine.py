"""The quarantine store: durable put, list, get, read, delete, expire, restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policies import (
    Action,
    Decision,
    Quarantine,
    QuarantineError,
    QuarantineNotFound,
    Violation,
)
from policies.model import Finding

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
DECISION = Decision(Action.QUARANTINE, (Finding(Violation("macro", "VBA", "a.docm"),
                                                Action.QUARANTINE, None),))


def _put(store: Quarantine, raw: bytes = b"Subject: x\r\n\r\nhi\r\n", **kw: object) -> str:
    args: dict[str, object] = dict(envelope_from="a@sotc.gov.vn", recipients=["b@x.gov.vn"],
                                   direction="outbound", unit_id="sotc", decision=DECISION,
                                   now=NOW)
    args.update(kw)
    return store.put(raw, **args)  # type: ignore[arg-type]


def test_put_get_read_survive_a_restart(tmp_path: Path) -> None:
    with Quarantine(tmp_path / "q") as store:
        qid = _put(store)
    with Quarantine(tmp_path / "q") as store:
        entry = store.get(qid)
        assert store.read(qid) == b"Subject: x\r\n\r\nhi\r\n"
        assert [e.id for e in store.list()] == [qid]
    assert entry.envelope_from == "a@sotc.gov.vn"
    assert entry.recipients == ("b@x.gov.vn",)
    assert entry.unit_id == "sotc"
    assert entry.expires == NOW + timedelta(days=30)
    assert entry.decision["violations"][0]["rule"] == "macro"
    assert entry.as_json()["violations"][0]["filename"] == "a.docm"


def test_content_addressed_and_compressed(tmp_path: Path) -> None:
    raw = b"Subject: x\r\n\r\n" + b"A" * 100_000
    with Quarantine(tmp_path) as store:
        first, second = _put(store, raw), _put(store, raw)
        files = list((tmp_path / "objects").rglob("*.eml.gz"))
        assert len(files) == 1 and files[0].stat().st_size < 2000
        store.delete(first)
        assert store.read(second) == raw  # still there: the other entry holds it
        store.delete(second)
        assert list((tmp_path / "objects").rglob("*.eml.gz")) == []


def test_expire(tmp_path: Path) -> None:
    with Quarantine(tmp_path, retention_days=7) as store:
        old = _put(store, now=NOW - timedelta(days=8))
        new = _put(store, b"other", now=NOW)
        assert store.expire(NOW) == [old]
        assert [e.id for e in store.list()] == [new]


def test_unknown_id(tmp_path: Path) -> None:
    with Quarantine(tmp_path) as store, pytest.raises(QuarantineNotFound) as info:
        store.get("nope")
    assert info.value.id == "nope"


def test_corrupt_object_is_an_error_not_wrong_bytes(tmp_path: Path) -> None:
    with Quarantine(tmp_path) as store:
        qid = _put(store)
        obj = next((tmp_path / "objects").rglob("*.eml.gz"))
        obj.write_bytes(b"not gzip")
        with pytest.raises(QuarantineError, match="cannot read held message"):
            store.read(qid)


def test_unwritable_store_is_a_quarantine_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(QuarantineError, match="cannot open the quarantine"):
        Quarantine(blocker / "q")


def test_naive_time_is_misuse(tmp_path: Path) -> None:
    with Quarantine(tmp_path) as store, pytest.raises(ValueError, match="timezone"):
        store.expire(datetime(2026, 1, 1))


def test_held_notice_goes_to_sender_or_recipients(tmp_path: Path) -> None:
    import email
    from email import policy as email_policy

    from policies import held_notice

    with Quarantine(tmp_path) as store:
        outbound = store.get(_put(store))
        inbound = store.get(_put(store, direction="inbound"))
    to, raw = held_notice(outbound, from_address="postmaster@tinh.gov.vn")
    assert to == ["a@sotc.gov.vn"]
    assert held_notice(inbound, from_address="postmaster@tinh.gov.vn")[0] == ["b@x.gov.vn"]
    parsed = email.message_from_bytes(raw, policy=email_policy.default)
    text = parsed.get_body().get_content()  # type: ignore[union-attr]
    assert "bị giữ lại" in text and "is held" in text and "a.docm" in text
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_headline_reads_subject_from_and_reasons_from_the_head(tmp_path: Path) -> None:
    from policies import HeldReason, headline
    big = b"From: =?utf-8?b?VsSDbiB0aMawIFPhu58=?= <a@sotc.gov.vn>\r\nSubject: T\xe1\xbb\x9d\r\n"
    with Quarantine(tmp_path / "q") as store:
        qid = _put(store, big + b"\r\n" + b"x" * 300_000)
        head = headline(store, store.get(qid))
        assert (head.subject, head.header_from) == ("Tờ", "Văn thư Sở <a@sotc.gov.vn>")
        assert head.reasons == (HeldReason("macro", "VBA", "a.docm"),)
        assert len(store.read_head(qid, 100)) == 100
        # bytes gone: the envelope's reasons are still shown, Subject and From are not
        next((tmp_path / "q" / "objects").rglob("*.eml.gz")).unlink()
        gone = headline(store, store.get(qid))
        assert (gone.subject, gone.header_from, gone.reasons) == (None, None, head.reasons)
        with pytest.raises(QuarantineError, match="cannot read held message"):
            store.read_head(qid, 100)


@pytest.mark.parametrize(("given", "kept"), [
    ("checked with the sender", "checked with the sender"),
    ("  two\r\nlines\tand\x00 a NUL ", "two lines and a NUL"),
    ("Đã xác minh", "Đã xác minh"),
])
def test_a_reason_is_kept_as_one_line(given: str, kept: str) -> None:
    from policies import act_reason
    assert act_reason(given) == kept


@pytest.mark.parametrize(("given", "message"), [
    (None, "a reason is required"), ("", "a reason is required"),
    (" \r\n\t", "a reason is required"), ("x" * 501, "501 characters long; at most 500"),
])
def test_no_reason_is_refused(given: str | None, message: str) -> None:
    from policies import MissingReason, act_reason
    with pytest.raises(MissingReason, match=message):
        act_reason(given)
