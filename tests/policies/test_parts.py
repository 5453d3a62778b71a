"""A message's parts, read once and shared by the decision, the documents and the record."""

from __future__ import annotations

import threading
from email.message import EmailMessage

from mailbase import read_header
from policies import (
    PoliciesConfig,
    SharedParts,
    decide,
    read_parts,
    reads_pdf,
    searchable_text,
    text_of,
    walked_leaves,
)
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


def test_the_reading_kept_says_its_bytes_and_limits() -> None:
    raw = _message("a.pdf")
    shared = SharedParts()
    assert shared.kept(raw) is None
    first = shared.read(raw, **LIMITS)
    assert shared.kept(raw) == (first, WalkLimits())
    assert shared.kept(bytes(raw)) == (first, WalkLimits())  # equal bytes will do
    assert shared.kept(raw + b"\r\n") is None


def test_the_leaves_walked_stand_in_only_for_the_default_walk_with_room() -> None:
    raw = _message("a.pdf")
    shared = SharedParts()
    assert walked_leaves(shared, raw, size=len(raw), is_signed=False) is None  # not read
    found = shared.read(raw, **LIMITS)
    assert walked_leaves(shared, raw, size=len(raw) + 100, is_signed=True) == found.walk.parts
    assert walked_leaves(shared, raw + b"x", size=len(raw), is_signed=False) is None
    # room for a signed message's twice its bytes of work, not more
    room = found.walk.work_left // 2
    assert walked_leaves(shared, raw, size=room, is_signed=True) is not None
    assert walked_leaves(shared, raw, size=room + 1, is_signed=True) is None
    other = SharedParts()
    other.read(raw, walk_limits=WalkLimits(max_parts=999), archive_limits=ArchiveLimits())
    assert walked_leaves(other, raw, size=len(raw), is_signed=False) is None


def test_the_text_of_a_reading_is_searchable_texts() -> None:
    raw = _message("a.pdf", "b.txt")
    header = read_header(raw)
    leaves = read_parts(raw, header=header).walk.parts
    assert text_of(header.fields, leaves) == searchable_text(raw)
    signed = text_of(header.fields, leaves, names_after=("smime.p7s",))
    names = "a.pdf\nb.txt\n"
    assert signed == searchable_text(raw).replace(names, names + "smime.p7s\n")
    assert reads_pdf(leaves) and not reads_pdf(leaves, pdf_max=8)
    assert not reads_pdf(read_parts(_message()).walk.parts)
