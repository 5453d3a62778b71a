"""What audit/ records: one message, its completion, and administrative events.

These are the edge models milter/ and web/ build (pydantic, validated once). One
message has one :class:`AuditRecord`, written before the relay; its fate is a
:class:`Completion` written afterwards and linked by record id, because the store is
append-only (writes only through the store's batch write). Administrative acts are
:class:`AdminEvent`\\ s in the same hash chain.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time must carry its offset (naive datetimes are ambiguous)")
    return value.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_to_utc)]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def now_utc() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def _storable(value: str) -> str:
    """Text SQLite and UTF-8 can hold: undecodable bytes kept visibly as ``\\xNN``.

    Headers the stdlib decoded with ``surrogateescape`` carry lone surrogates, which no
    UTF-8 store accepts; they become backslash escapes of the original bytes.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_escape(ch) if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    return value


def _escape(ch: str) -> str:
    code = ord(ch)
    # U+DC80-U+DCFF is how surrogateescape carries one undecodable byte.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


class _Edge(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _text_is_storable(cls, value: object) -> object:
        if isinstance(value, str):
            return _storable(value)
        if isinstance(value, list) and any(isinstance(v, str) for v in value):
            return [_storable(v) if isinstance(v, str) else v for v in value]
        return value


def _storable_params(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A reason's parameters with their text storable, nested reasons alike."""
    if value is None:
        return None
    return {name: _storable(v) if isinstance(v, str)
            else _storable_params(v) if isinstance(v, dict) else v
            for name, v in value.items()}


#: a reason's parameters as stored: data values, and nested reasons as
#: ``{"code": ..., "params": {...}}`` (mailbase/reasons.py)
ReasonParams = Annotated[dict[str, Any] | None, AfterValidator(_storable_params)]
_CODE = Field(default=None, description="The reason's code (policies/ or signer/ "
              "registry), which ``reason`` is the English of; None in records written "
              "before reasons had codes, whose ``reason`` is only English.")
_PARAMS = Field(default=None, description="The parameters of ``code``'s template; None "
                "when there is no code.")


class Direction(StrEnum):
    """Which way one message travels."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Role(StrEnum):
    """The role of the listener the message arrived on."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    AUTO = "auto"


class Action(StrEnum):
    """The policy decision's action (policies/ vocabulary)."""

    ACCEPT = "accept"
    REJECT = "reject"
    QUARANTINE = "quarantine"
    STRIP = "strip"
    TAG = "tag"
    TEMPFAIL = "tempfail"


class Fate(StrEnum):
    """What finally happened to a recorded message: the one name for it from the
    filter's act to its completion, its log line and its metrics.

    The values are stored (the completion's ``outcome`` column): never rename one.
    """

    RELAYED = "relayed"
    #: relayed with attachments removed (the policy's strip)
    STRIPPED = "stripped"
    QUARANTINED = "quarantined"
    #: refused: a 5xx, or behind the queue dropped without a bounce
    REJECTED = "rejected"
    #: deferred: a 4xx, and the client keeps the message
    TEMPFAILED = "tempfailed"


class Operation(StrEnum):
    """Whether an authentication result comes from verifying or from signing."""

    VERIFY = "verify"
    SIGN = "sign"


class AdminKind(StrEnum):
    """The administrative acts that go into the chain."""

    QUARANTINE_RELEASE = "quarantine-release"
    QUARANTINE_DELETE = "quarantine-delete"
    DIRECTORY_CHANGE = "directory-change"
    KEY_ROTATION = "key-rotation"
    USER_GRANT = "user-grant"
    PRUNE = "prune"
    SERVICE_STOP = "service-stop"
    KEY_ENROLLED = "audit-key-enrolled"
    #: retention removed archived messages (their ledger's SHA-256 in the details)
    ARCHIVE_PRUNE = "archive-prune"
    #: a legal hold on archived messages placed, and released (target: the hold's id)
    ARCHIVE_HOLD = "archive-hold"
    ARCHIVE_HOLD_RELEASE = "archive-hold-release"
    #: archived message content read in the console, before it was shown (details:
    #: ``action`` download, with the record and its SHA-256, or search, with the
    #: query and what it matched)
    ARCHIVE_READ = "archive-read"
    #: unit ids renamed for the records before it, as a merger of provinces renamed
    #: them (details: old id -> new id; audit/renames.py)
    UNITS_RENAMED = "units-renamed"
    #: a log copied into this store as a read-only chain beside the live one (target:
    #: the chain's id; details: its source, head and the keys that signed it;
    #: audit/chains.py)
    CHAIN_IMPORTED = "chain-imported"


class DocumentSignatureRecord(_Edge):
    """One digital signature inside an attached document, as signer/ judged it."""

    verdict: str = Field(description="valid, invalid, untrusted, expired, revoked, "
                         "modified-after-signing or unverifiable.")
    reason: str = Field(default="", description="Why, in English words.")
    code: str | None = _CODE
    params: ReasonParams = _PARAMS
    field: str | None = Field(default=None, description="PDF field or Office part name.")
    format: str | None = Field(default=None, description="pades, adbe.pkcs7.detached...")
    signer: str | None = Field(default=None, description="The certificate's common name.")
    organisation: str | None = Field(default=None, description="The certificate's O=.")
    subject: str | None = None
    issuer: str | None = None
    serial: str | None = None
    signing_time: str | None = Field(default=None, description="ISO 8601, as stated.")
    time_source: str = Field(default="none", description="timestamp, claimed or none.")
    digest_algorithm: str | None = None
    coverage: str | None = None
    modification_level: str | None = None
    chain: list[str] = Field(default_factory=list)
    is_timestamp: bool = False
    notes: list[str] = Field(default_factory=list)
    root_family: str | None = Field(
        default=None,
        description="For a valid signature: the family of its trust anchor (gov, public "
        "or other; signer/'s RootFamily). None when not valid, and in records written "
        "before families were recorded (the report counts those as other).")
    revocation_status: str | None = Field(
        default=None,
        description="The signer certificate's revocation status when judged: good, "
        "revoked or unknown (signer/'s RevocationStatus). None in records written before "
        "revocation was recorded.")
    revocation_evidence: str | None = Field(
        default=None,
        description="The SHA-256 of the CRL or OCSP answer that status rests on, kept "
        "under [signer.documents] store_dir/evidence/. None when there was none, and in "
        "records written before.")
    signer_role: str | None = Field(
        default=None,
        description="Whose signature, from the directory: organisation, person or "
        "unknown (only a valid signature is more than unknown). None in records written "
        "before roles were recorded.")
    signer_unit: str | None = Field(
        default=None,
        description="The directory unit id of an organisation's seal or of the person's "
        "mailbox; None when there is none, and in records written before.")


class EdXmlRecord(_Edge):
    """What an attached edXML package's header (QCVN 102:2016) says of its document."""

    document_id: str | None = Field(default=None, description="MessageHeader/DocumentId.")
    organ_id: str | None = Field(
        default=None, description="From/OrganId: the sending agency's identifier code.")
    code_number: str | None = Field(default=None, description="Code/CodeNumber.")
    code_notation: str | None = Field(default=None, description="Code/CodeNotation.")


class Attachment(_Edge):
    """One attachment as found in the message."""

    path: str = Field(description="MIME path of the part, e.g. '1.2'.")
    filename: str | None = Field(default=None, description="Decoded filename, if any.")
    declared_type: str | None = Field(default=None, description="Content-Type as declared.")
    detected_type: str | None = Field(default=None, description="Type detected from bytes.")
    size: int = Field(ge=0, description="Decoded size in bytes.")
    sha256: str = Field(description="SHA-256 of the decoded bytes, lower-case hex.")
    document: str | None = Field(
        default=None,
        description="For a PDF or Office document: the document's signature verdict "
        "(valid, unsigned, invalid, untrusted, expired, revoked, modified-after-signing, "
        "unverifiable); None for other attachments or when not verified.")
    signatures: list[DocumentSignatureRecord] | None = Field(
        default=None, description="Each signature inside the document.")
    complete: bool | None = Field(
        default=None,
        description="For a document: a valid person's signature followed by a valid "
        "organisation signature of a directory unit covering the whole document. None "
        "for other attachments, when not verified, and in records written before.")
    edxml: EdXmlRecord | None = Field(
        default=None,
        description="For an edXML package (the document exchange's envelope): its "
        "header's document id, sending agency and document number. None otherwise, and "
        "in records written before.")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.lower()
        if not _SHA256.match(value):
            raise ValueError("sha256 must be 64 hexadecimal digits")
        return value


class Violation(_Edge):
    """One policy finding (policies/ vocabulary)."""

    rule: str
    reason: str
    filename: str | None = None
    content_type: str | None = None
    detected_type: str | None = None
    part: str | None = None
    member: str | None = None
    code: str | None = _CODE
    params: ReasonParams = _PARAMS


class AuthResult(_Edge):
    """One DKIM or S/MIME result, from verification or signing (RFC 8601 words)."""

    method: str = Field(description="dkim, smime, spf, dmarc, arc.")
    operation: Operation = Field(default=Operation.VERIFY)
    result: str = Field(description="pass, fail, neutral, none, temperror, permerror.")
    reason: str = ""
    code: str | None = _CODE
    params: ReasonParams = _PARAMS
    domain: str | None = None
    selector: str | None = None
    signer: str | None = None
    policy: str | None = Field(default=None, description="DMARC: the policy applied (p/sp).")
    disposition: str | None = Field(
        default=None, description="DMARC: what congvu did about the result.")


class AuditRecord(_Edge):
    """Everything the filter knows about one message, written before the relay."""

    received_at: UtcTime = Field(description="When the filter received the message.")
    decided_at: UtcTime = Field(description="When the pipeline decided.")
    listener: str = Field(description="The listener's name.")
    role: Role
    direction: Direction
    client_address: str | None = Field(default=None, description="XFORWARD ADDR.")
    client_helo: str | None = Field(default=None, description="XFORWARD HELO.")
    queue_id: str | None = Field(default=None, description="Postfix queue id (XFORWARD IDENT).")
    message_id: str | None = None
    envelope_sender: str = Field(default="", description="MAIL FROM; '' for the null sender.")
    envelope_recipients: list[str] = Field(default_factory=list)
    header_from: str | None = None
    header_to: str | None = None
    header_cc: str | None = None
    subject: str | None = None
    header_date: str | None = None
    size: int = Field(ge=0)
    attachments: list[Attachment] = Field(default_factory=list)
    action: Action
    violations: list[Violation] = Field(default_factory=list)
    authentication: list[AuthResult] = Field(default_factory=list)
    processing_ms: float = Field(ge=0)
    sender_unit: str | None = Field(
        default=None,
        description="The unit of the header From: the sender's unit on the trusted path "
        "(direction outbound), only the unit the From claims on inbound mail "
        "(audit/attribution.py reads it so).")
    submitted_by_unit: str | None = Field(
        default=None,
        description="The envelope sender's unit when it differs from sender_unit: a shared "
        "secretariat sending as another unit ([[signer.send_as]]). None otherwise, as in "
        "records written before.")
    raw_headers: dict[str, str] | None = Field(
        default=None,
        description="Header fields whose bytes are not valid UTF-8: field name -> the raw "
        "bytes of its value, base64 (the text fields hold U+FFFD where they did not "
        "decode). None when every field decoded, as in records written before.")
    archived_sha256: str | None = Field(
        default=None,
        description="The SHA-256 of the message's bytes as relayed, under which the "
        "archive keeps them (lower-case hex); chained with the record, so the chain "
        "proves the archived bytes. None when not archived, as in records written before.")
    recipient_units: list[str] = Field(default_factory=list, description="Recipients' units.")
    recipient_unit_of: dict[str, str] = Field(
        default_factory=dict,
        description="For each envelope recipient that belongs to a unit: its unit id "
        "(gives the per-mailbox received counts; its units join recipient_units).",
    )

    @field_validator("recipient_units")
    @classmethod
    def _each_unit_once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("archived_sha256")
    @classmethod
    def _archived_hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError("archived_sha256 must be 64 lower-case hexadecimal digits")
        return value

    @field_validator("raw_headers")
    @classmethod
    def _base64(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, encoded in (value or {}).items():
            try:
                base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"raw_headers[{name!r}] is not base64") from exc
        return value or None

    @model_validator(mode="after")
    def _mapped_recipients_exist(self) -> AuditRecord:
        unknown = set(self.recipient_unit_of) - set(self.envelope_recipients)
        if unknown:
            raise ValueError(f"recipient_unit_of names addresses that are not envelope "
                             f"recipients: {sorted(unknown)}")
        missing = [u for u in dict.fromkeys(self.recipient_unit_of.values())
                   if u not in self.recipient_units]
        if missing:
            object.__setattr__(self, "recipient_units", [*self.recipient_units, *missing])
        return self


class Completion(_Edge):
    """The fate of a recorded message (written after the relay)."""

    record_id: int = Field(ge=1)
    outcome: Fate
    reply: str | None = Field(default=None, description="The next hop's reply.")
    ms: float = Field(default=0.0, ge=0, description="Milliseconds the relay took.")
    at: UtcTime = Field(default_factory=now_utc)


class AdminEvent(_Edge):
    """An administrative act: quarantine release or delete, directory change, etc."""

    kind: AdminKind
    actor: str = Field(description="Who did it (user name or 'system').")
    target: str = Field(default="", description="What it was done to (id, address, key).")
    unit_id: str | None = Field(default=None, description="The unit concerned, if any.")
    details: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    at: UtcTime = Field(default_factory=now_utc)
