"""A message's parts, read once and shared by the decision, the documents and the record."""

from __future__ import annotations

import threading
from email.message import EmailMessage

from mailbase import read_header
from policies import PoliciesConfig, SharedParts, decide, read_parts
from policies.archives import ArchiveLimits
from policies.walk import WalkLimits

LIMITS = {"walk_limits": WalkLimits(), "archive_limits": ArchiveLimits()}


def _message(*names: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@so-tc.province.gov.vn"
    msg.set_content("Kinh gui")
    for name in names:
        msg.add_attachment(b"%PDF-1.4 " + name.encode(), maintype="application",
                           subtype="pdf", filename=name)
    return msg.as_bytes()


def test_the_first_reading_is_kept_and_shared() -> None:
    raw = _message("a.pdf", "b.pdf")
    shared = SharedParts()
    assert shared.found is None
    first = shared.read(raw, **LIMITS)
    assert shared.found is first
    assert shared.read(bytes(raw), **LIMITS) is first  # equal bytes, another object
    policy = PoliciesConfig().resolve([], "inbound")
    decision = decide(raw, policy, parts=first)
    assert decision.attachments is first.attachments
    assert [a.filename for a in first.attachments] == ["a.pdf", "b.pdf"]


def test_other_bytes_or_limits_are_read_apart_and_not_kept() -> None:
    raw = _message("a.pdf", "b.pdf")
    shared = SharedParts()
    first = shared.read(raw, **LIMITS)
    other = shared.read(_message("c.pdf"), **LIMITS)
    assert [a.filename for a in other.attachments] == ["c.pdf"]
    narrow = shared.read(raw, walk_limits=WalkLimits(max_parts=2),
                         archive_limits=ArchiveLimits())
    assert narrow is not first and len(narrow.attachments) < len(first.attachments)
    assert shared.found is first


def test_readers_in_threads_get_one_reading() -> None:
    raw = _message(*(f"{k}.pdf" for k in range(50)))
    shared = SharedParts()
    got = []
    threads = [threading.Thread(target=lambda: got.append(shared.read(raw, **LIMITS)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(found is got[0] for found in got)


def test_read_parts_matches_what_decide_reads_alone() -> None:
    raw = _message("a.pdf")
    policy = PoliciesConfig().resolve([], "inbound")
    alone = decide(raw, policy)
    shared = decide(raw, policy, parts=read_parts(raw, walk_limits=policy.walk_limits,
                                                  archive_limits=policy.archive_limits))
    assert alone == shared


def test_the_header_read_at_the_door_is_the_one_the_rules_read() -> None:
    # the subject's classified marking is found in the header block handed in, which
    # the walk shares too: the same decision as the engine's own reading
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@x.gov.vn", "b@y.gov.vn", "MẬT: Báo cáo"
    msg.set_content("Kính gửi các đơn vị.")
    raw = msg.as_bytes()
    policy = PoliciesConfig().resolve([], "outbound")
    given = decide(raw, policy, header=read_header(raw))
    assert given == decide(raw, policy)
    assert [v.rule for v in given.violations] == ["classified-marking"]
