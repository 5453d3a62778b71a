"""Hypothesis fuzzing of the MIME walk and of archive listing: no exception, ever.

Examples are bounded (and deadlines off: the machine is shared) so the suite stays fast.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from policies import PoliciesConfig, decide
from policies.archives import ArchiveLimits, expand_parts
from policies.detect import detect
from policies.model import Part
from policies.walk import walk

from .conftest import corpus_module as cm
from .decisions import assert_decision_follows_its_findings

POLICY = PoliciesConfig().resolve(["u"], "inbound")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_LINES = st.sampled_from([
    b"--b", b"--b--", b"--c", b"Content-Type: multipart/mixed; boundary=b",
    b"Content-Type: multipart/mixed; boundary=c", b"Content-Type: message/rfc822",
    b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1*=%B4.exe",
    b"Content-Type: text/plain", b"", b"TVqQAA==", b"=?utf-8?b?QQ==?=", b"begin 644 a.exe",
    b"end", b"\xff\xfe", b"Content-Type: application/ms-tnef",
])


@FUZZ
@given(st.lists(_LINES, max_size=40), st.sampled_from([b"\r\n", b"\n"]))
def test_walk_structured_noise(lines: list[bytes], eol: bytes) -> None:
    raw = eol.join(lines)
    found = walk(raw)
    for part in found.parts:
        assert isinstance(part.data, bytes)
    assert_decision_follows_its_findings(decide(raw, POLICY), POLICY)


@FUZZ
@given(st.binary(max_size=2000))
def test_walk_random_bytes(raw: bytes) -> None:
    walk(raw)
    assert_decision_follows_its_findings(decide(raw, POLICY), POLICY)


# built once: some cases (S/MIME signatures) differ from one build to the next.
_MESSAGES = {n: make() for n, (make, _, _) in sorted(cm.CASES.items())
             if "1000" not in n and "too-many" not in n and "bomb" not in n}


@FUZZ
@given(st.data())
def test_mutated_corpus_messages(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(_MESSAGES)))
    raw = bytearray(_MESSAGES[name])
    for _ in range(data.draw(st.integers(1, 8))):
        if raw:
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] = data.draw(st.integers(0, 255))
    assert_decision_follows_its_findings(decide(bytes(raw), POLICY), POLICY)


_ARCHIVES = [cm.zip_of({"a.pdf": cm.PDF, "b/c.exe": cm.EXE}), cm.tar_of({"a": cm.PDF}),
             cm.tar_of({"a": cm.EXE}, "w:gz"), cm.sevenzip_of({"a.pdf": cm.PDF}),
             cm.nested_zip(2, {"x": b"y"})]


class _Draws:
    """Stands in for ``st.data()`` in an ``@example``: its draws, in order."""

    def __init__(self, *values: object) -> None:
        self._values = iter(values)

    def draw(self, strategy: object) -> object:
        return next(self._values)


# found by the fuzz test: a member without a name (zipfile's is_dir() raised IndexError);
# drawn as one mutation that changes nothing, then no truncation
@example(cm.zip_of({"": cm.EXE}), _Draws(1, 0, ord("P"), False))
@FUZZ
@given(st.sampled_from(_ARCHIVES), st.data())
def test_archive_listing_of_mutated_archives(archive: bytes, data: st.DataObject) -> None:
    raw = bytearray(archive)
    for _ in range(data.draw(st.integers(1, 10))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    blob = bytes(raw)
    part = Part(path="1", content_type="", filenames=("a",), data=blob, size=len(blob),
                detection=detect(blob))
    listed = expand_parts([part], ArchiveLimits(max_total_size=1 << 20))
    # the part, then its members: each within it, none holding more bytes than its size
    assert listed[0] is part
    for member in listed[1:]:
        assert member.path.startswith("1")
        assert len(member.data) <= member.size
