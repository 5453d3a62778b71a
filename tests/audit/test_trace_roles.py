"""`congvu audit trace`: each document signature with its role and unit."""

from __future__ import annotations

import json
from typing import Any

import click
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import Attachment, Completion, Fate
from audit.store import AuditLog
from support.audit import make_record, sha

PERSON: dict[str, Any] = {
    "verdict": "valid", "signer": "Nguyễn Văn A", "organisation": "Sở Tài chính",
    "time_source": "claimed", "signer_role": "person", "signer_unit": "stc"}
SEAL: dict[str, Any] = {
    "verdict": "valid", "signer": "Sở Tài chính", "organisation": "UBND tỉnh",
    "time_source": "claimed", "signer_role": "organisation", "signer_unit": "stc"}
# a certificate named like the unit but not in the directory: unknown, no unit
LOOK_ALIKE: dict[str, Any] = {
    "verdict": "valid", "signer": "Sở Tài chính", "time_source": "claimed",
    "signer_role": "unknown", "signer_unit": None}
REVOKED_SEAL: dict[str, Any] = {
    "verdict": "revoked", "signer": "Sở Tài chính", "time_source": "claimed",
    "signer_role": "unknown", "signer_unit": None, "revocation_status": "revoked"}


def _cli(config: AuditConfig, names: dict[str, str] | None) -> click.Group:
    [group] = commands(lambda _path: config, descendants=lambda unit: [unit],
                       unit_names=(lambda: names) if names is not None else None)
    assert isinstance(group, click.Group)
    return group


def _fill(config: AuditConfig) -> None:
    with AuditLog.open(config) as log:
        for name, signatures in (("sealed.pdf", [PERSON, SEAL]),
                                 ("look-alike.pdf", [LOOK_ALIKE]),
                                 ("revoked.pdf", [REVOKED_SEAL])):
            rid = log.record(make_record(attachments=[Attachment(
                path="2", filename=name, declared_type="application/pdf",
                detected_type="application/pdf", size=100, sha256=sha(name),
                document=signatures[-1]["verdict"], signatures=signatures)]))
            log.complete(Completion(record_id=rid, outcome=Fate.RELAYED))


def test_trace_shows_each_signatures_role_and_unit_by_name(
        audit_config: AuditConfig) -> None:
    _fill(audit_config)
    group = _cli(audit_config, {"stc": "Sở Tài chính"})
    out = CliRunner().invoke(group, ["trace", "--lang", "en", sha("sealed.pdf")]).output
    assert ("1: signature 1: Nguyễn Văn A, Sở Tài chính: valid; role person, unit "
            "Sở Tài chính (stc)\n") in out
    assert ("1: signature 2: Sở Tài chính, UBND tỉnh: valid; role organisation, unit "
            "Sở Tài chính (stc)\n") in out
    # in Vietnamese by default
    vietnamese = CliRunner().invoke(group, ["trace", sha("sealed.pdf")]).output
    assert ("1: chữ ký 1: Nguyễn Văn A, Sở Tài chính: hợp lệ; vai trò cá nhân, đơn vị "
            "Sở Tài chính (stc)\n") in vietnamese
    # named like the unit but not its certificate, or a revoked seal: no unit
    look_alike = CliRunner().invoke(group, ["trace", "--lang", "en", sha("look-alike.pdf")]).output
    assert look_alike.endswith(": signature 1: Sở Tài chính: valid; role unknown\n")
    revoked = CliRunner().invoke(group, ["trace", "--lang", "en", sha("revoked.pdf")]).output
    assert revoked.endswith(": signature 1: Sở Tài chính: revoked; role unknown\n")
    entries = json.loads(CliRunner().invoke(
        group, ["trace", "--format", "json", sha("sealed.pdf")]).output)
    assert [(s["signer_role"], s["signer_unit"]) for s in entries[0]["signatures"]] == [
        ("person", "stc"), ("organisation", "stc")]


def test_without_a_directory_units_are_shown_by_id(audit_config: AuditConfig) -> None:
    _fill(audit_config)
    out = CliRunner().invoke(_cli(audit_config, None),
                             ["trace", "--lang", "en", sha("sealed.pdf")]).output
    assert "signature 2: Sở Tài chính, UBND tỉnh: valid; role organisation, unit stc\n" in out


def test_records_written_before_roles_say_nothing_of_them(audit_config: AuditConfig) -> None:
    old = {k: v for k, v in PERSON.items() if not k.startswith("signer_")}
    with AuditLog.open(audit_config) as log:
        rid = log.record(make_record(attachments=[Attachment(
            path="2", filename="old.pdf", declared_type="application/pdf",
            detected_type="application/pdf", size=100, sha256=sha("old.pdf"),
            document="valid", signatures=[old])]))
        log.complete(Completion(record_id=rid, outcome=Fate.RELAYED))
    out = CliRunner().invoke(_cli(audit_config, {}),
                             ["trace", "--lang", "en", sha("old.pdf")]).output
    assert out.endswith("1: signature 1: Nguyễn Văn A, Sở Tài chính: valid\n")
