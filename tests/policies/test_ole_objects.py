"""Objects inside legacy Office documents and other OLE compound files (.doc, .xls,
.ppt, an OLE2 object inside an RTF) are judged as if attached directly, under the
archive budget, and a broken or oversized one is a defined decision."""

from __future__ import annotations

import struct
import zlib

import pytest

from policies import Action, Decision, PoliciesConfig, Policy, decide
from policies.archives import ArchiveLimits
from policies.parts import read_parts

from .conftest import corpus_module as cm
from .test_embedded_files import ole1, rtf_with

WORD_CLSID = "00020906-0000-0000-C000-000000000046"
EXCEL_CLSID = "00020820-0000-0000-C000-000000000046"


def _policy() -> Policy:
    return PoliciesConfig().resolve(["u"], "inbound")


def _decide(data: bytes, name: str) -> Decision:
    return decide(cm.message(cm.attachment(data, name)), _policy())


def _blocked(decision: Decision) -> set[tuple[str, str | None]]:
    return {(v.rule, v.member) for v in decision.violations}


def native(label: str, data: bytes) -> bytes:
    """An \\x01Ole10Native stream: a file packaged by the Packager."""
    path = b"C:\\Users\\a\\" + label.encode()
    body = (struct.pack("<H", 2) + label.encode() + b"\0" + path + b"\0" + b"\0" * 8
            + path + b"\0" + struct.pack("<I", len(data)) + data)
    stream = struct.pack("<I", len(body)) + body
    return stream + b"\0" * (-len(stream) % 512)  # cm.ole stores whole sectors only


def word(objects: dict[str, bytes]) -> bytes:
    return cm.ole({"WordDocument": b"\xec\xa5" + b"\0" * 30, "1Table": b"\0" * 16, **objects},
                  clsid=WORD_CLSID)


def test_a_program_packaged_in_a_legacy_word_document_is_blocked() -> None:
    doc = word({"ObjectPool/_1234567/\x01Ole10Native": native("setup.exe", cm.EXE)})
    decision = _decide(doc, "cong-van.doc")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "cong-van.doc/ObjectPool/_1234567/setup.exe") in _blocked(decision)


def test_an_object_in_a_renamed_storage_is_found_all_the_same() -> None:
    doc = word({"Hidden/Deeper/\x01Ole10Native": native("run.js", cm.JS)})
    decision = _decide(doc, "cong-van.doc")
    assert ("blocked-type", "cong-van.doc/Hidden/Deeper/run.js") in _blocked(decision)


def test_an_excel_workbook_object_is_judged() -> None:
    book = cm.ole({"Workbook": b"\x09\x08\x10\x00" + b"\0" * 16,
                   "MBD0012AB34/CONTENTS": cm.EXE}, clsid=EXCEL_CLSID)
    decision = _decide(book, "so-lieu.xls")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "so-lieu.xls/MBD0012AB34") in _blocked(decision)


def test_a_legacy_document_without_objects_has_no_members() -> None:
    decision = _decide(word({}), "cong-van.doc")
    assert decision.action is Action.ACCEPT, decision.violations
    assert not [a for a in decision.attachments if a.member]


def _record(rec_type: int, body: bytes, *, instance: int = 0, version: int = 0) -> bytes:
    return struct.pack("<HHI", version | instance << 4, rec_type, len(body)) + body


def powerpoint(*objects: bytes, compressed: bool = True) -> bytes:
    records = b""
    for obj in objects:
        if compressed:
            records += _record(0x1011, struct.pack("<I", len(obj)) + zlib.compress(obj),
                               instance=1)
        else:
            records += _record(0x1011, obj)
    # the objects sit inside a container record (version 0xF), after an unrelated atom
    stream = _record(0x03E8, _record(0x0FF0, b"\0" * 12) + records, version=0xF)
    return cm.ole({"PowerPoint Document": stream, "Current User": b"\0" * 20})


def test_a_program_packaged_in_a_powerpoint_object_is_blocked() -> None:
    package = cm.ole({"\x01Ole10Native": native("setup.exe", cm.EXE)})
    decision = _decide(powerpoint(package), "bao-cao.ppt")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "bao-cao.ppt/object1/setup.exe") in _blocked(decision)


def test_a_powerpoint_object_that_does_not_inflate_is_a_defined_decision() -> None:
    stream = _record(0x1011, struct.pack("<I", 100) + b"not zlib at all", instance=1)
    slides = cm.ole({"PowerPoint Document": stream})
    found = read_parts(cm.message(cm.attachment(slides, "bao-cao.ppt")))
    part = next(p for p in found.parts if p.filename == "bao-cao.ppt")
    assert [d.kind for d in part.defects] == ["unreadable-archive"]
    assert "does not inflate" in part.defects[0].reason


def test_more_objects_than_the_limit_are_reported_not_read() -> None:
    slides = powerpoint(*[b"x" * 8] * 101, compressed=False)
    found = read_parts(cm.message(cm.attachment(slides, "bao-cao.ppt")))
    members = [p for p in found.parts if p.member]
    part = next(p for p in found.parts if p.filename == "bao-cao.ppt")
    assert len(members) == 100
    assert any(d.kind == "archive-limits" and "more than 100" in d.reason for d in part.defects)


def test_an_object_larger_than_the_member_limit_is_not_read() -> None:
    doc = word({"ObjectPool/_1/\x01Ole10Native": native("big.bin", b"\0" * 8192)})
    found = read_parts(cm.message(cm.attachment(doc, "cong-van.doc")),
                       archive_limits=ArchiveLimits(max_member_read=4096))
    part = next(p for p in found.parts if p.filename == "cong-van.doc")
    assert any(d.kind == "archive-limits" and "ObjectPool/_1" in d.reason for d in part.defects)
    assert not any(p.member and p.data for p in found.parts)


@pytest.mark.parametrize(("size", "reason"), [
    (1500, "the compound file is damaged"),  # its directory cut: objects unseen
    (4000, "embedded object 'ObjectPool/_1' is cut short"),  # read past the end as b""
])
def test_a_truncated_compound_file_is_quarantined_as_unreadable(size: int, reason: str) -> None:
    doc = word({"ObjectPool/_1/\x01Ole10Native": native("setup.exe", cm.EXE)})[:size]
    decision = _decide(doc, "cong-van.doc")
    assert decision.action is Action.QUARANTINE
    assert any(v.rule == "unreadable-archive" and v.reason.startswith(reason)
               for v in decision.violations), decision.violations


def test_an_ole2_object_inside_an_rtf_gives_up_its_package() -> None:
    storage = cm.ole({"\x01Ole10Native": native("setup.exe", cm.EXE)})
    rtf = rtf_with(ole1(b"Word.Document.8", storage))
    decision = _decide(rtf, "letter.rtf")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "letter.rtf/object1/setup.exe") in _blocked(decision)


def test_an_installer_is_judged_whole_not_opened() -> None:
    msi = cm.ole({"\u4840\u3f3f": b"\0" * 16, "x/\x01Ole10Native": native("a.txt", b"hi")},
                 clsid="000C1084-0000-0000-C000-000000000046")
    decision = _decide(msi, "setup.msi")
    assert decision.action is Action.REJECT
    assert not [a for a in decision.attachments if a.member]
