"""OneNote sections: blocked by default (by content or name), and the files inside
listed as members so a policy that lets OneNote through still judges them."""

from __future__ import annotations

import struct

from policies import Action, Decision, PoliciesConfig, decide
from policies.archives import ArchiveLimits
from policies.onenote import ONENOTE_MAGIC
from policies.parts import read_parts

from .conftest import corpus_module as cm

_FILE_DATA = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
_FOOTER = bytes.fromhex("22a7fb71790f0b4abb13899256426b24")


def onenote_with(*files: bytes) -> bytes:
    """A OneNote section: the format GUID, padding, then FileDataStoreObjects."""
    out = ONENOTE_MAGIC + b"\0" * 1008
    for data in files:
        pad = b"\0" * (-len(data) % 8)
        out += _FILE_DATA + struct.pack("<QIQ", len(data), 0, 0) + data + pad + _FOOTER
    return out


def _decide(data: bytes, name: str, **actions: str) -> Decision:
    policy = PoliciesConfig.model_validate({"actions": actions}).resolve(["u"], "inbound")
    return decide(cm.message(cm.attachment(data, name)), policy)


def test_a_onenote_section_is_rejected_by_default_even_renamed() -> None:
    decision = _decide(onenote_with(b"hello"), "bien-ban.pdf")
    assert decision.action is Action.REJECT
    assert "onenote" in {v.rule for v in decision.violations}


def test_a_onenote_name_is_rejected() -> None:
    decision = _decide(b"not really onenote", "notes.onepkg")
    assert "onenote" in {v.rule for v in decision.violations}


def test_files_inside_are_judged_when_onenote_is_allowed() -> None:
    decision = _decide(onenote_with(cm.PNG, cm.HTA), "notes.one", onenote="accept")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "notes.one/file2") in {(v.rule, v.member)
                                                   for v in decision.violations}
    assert "onenote" not in {v.rule for v in decision.violations}


def test_a_cut_short_onenote_file_is_a_defined_decision() -> None:
    data = onenote_with(cm.EXE)[:1100]
    decision = _decide(data, "notes.one", onenote="accept")
    assert decision.action is Action.REJECT  # the head of a program is still a program
    assert {"unreadable-archive", "blocked-type"} <= {v.rule for v in decision.violations}


def test_a_onenote_file_past_the_member_limit_is_not_read() -> None:
    found = read_parts(cm.message(cm.attachment(onenote_with(b"\0" * 4096), "n.one")),
                       archive_limits=ArchiveLimits(max_member_read=1024))
    section = next(p for p in found.parts if p.filename == "n.one")
    assert any(d.kind == "archive-limits" for d in section.defects)
