"""Settings of policies/: the `[policies]` table of congvu.toml.

The built-in default policy (`DEFAULT_ACTIONS` and the default lists) is overlaid
first by the top-level `[policies]` values, then by `[[policies.overrides]]` for a
unit's ancestors (farthest first) and the unit itself, each first for both
directions and then for the message's direction. A descendant's own override wins;
what it does not say, it inherits (ARCHITECTURE.md: "whatever is given to a unit covers
its descendants unless a descendant has its own").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from mailbase import check_store_url
from policies.model import Action, Direction

if TYPE_CHECKING:  # the rules and what they read with: imported when a policy is built
    from policies.archives import ArchiveLimits
    from policies.policy import Policy
    from policies.walk import WalkLimits

#: The built-in default: rule name -> action, in the order rules run. "accept" = off.
DEFAULT_ACTIONS: dict[str, Action] = {
    "blocked-extension": Action.REJECT,
    "double-extension": Action.REJECT,
    "bidi-in-name": Action.REJECT,
    "blocked-type": Action.REJECT,
    "lookalike-in-name": Action.QUARANTINE,
    "extension-mismatch": Action.QUARANTINE,
    "allowed-types": Action.ACCEPT,
    "attachment-size": Action.REJECT,
    "message-size": Action.REJECT,
    "attachment-count": Action.QUARANTINE,
    "encrypted-archive": Action.QUARANTINE,
    "encrypted-office": Action.QUARANTINE,
    "macro": Action.QUARANTINE,
    "pdf-javascript": Action.QUARANTINE,
    "pdf-embedded-file": Action.TAG,
    "html-smuggling": Action.QUARANTINE,
    "onenote": Action.REJECT,
    "archive-limits": Action.QUARANTINE,
    "unreadable-archive": Action.QUARANTINE,
    "malformed-mime": Action.QUARANTINE,
    "ambiguous-mime": Action.QUARANTINE,
    "smime-encrypted": Action.TAG,
    # the document-signature rules need the verdicts milter passes to decide(); off by default
    "unsigned-document": Action.ACCEPT,
    "invalid-document-signature": Action.ACCEPT,
    # classified documents must not leave by official e-mail (sent, or between units,
    # both on the trusted path); mail from outside is the sender's business: off inbound
    "classified-marking": Action.QUARANTINE,
    # scanned PDFs are the rule in provincial mail: noting each one (tag) is a choice
    "marking-not-checkable": Action.ACCEPT,
    # text typed in TCVN3 or VNI fonts instead of Unicode (TCVN 6909:2001): noted
    "legacy-encoding": Action.TAG,
}

#: The built-in default for inbound mail, where it differs: it applies unless the
#: top-level [policies] actions give the rule another action than the built-in one (an
#: override with direction "inbound" sets it for inbound mail whatever the default).
DEFAULT_INBOUND_ACTIONS: dict[str, Action] = {
    "classified-marking": Action.ACCEPT,
}

DEFAULT_BLOCKED_EXTENSIONS = [
    "ade",
    "adp",
    "app",
    "appref-ms",
    "application",
    "appx",
    "appxbundle",
    "bas",
    "bat",
    "bgi",
    "cer",
    "chm",
    "cmd",
    "com",
    "cpl",
    "crt",
    "diagcab",
    "dll",
    "exe",
    "gadget",
    "hlp",
    "hta",
    "htt",
    "img",
    "inf",
    "ins",
    "isp",
    "jar",
    "jnlp",
    "js",
    "jse",
    "ksh",
    "lnk",
    "mad",
    "maf",
    "mag",
    "mam",
    "maq",
    "mar",
    "mas",
    "mat",
    "mau",
    "mav",
    "maw",
    "mda",
    "mdb",
    "mde",
    "mdt",
    "mdw",
    "mdz",
    "msc",
    "msh",
    "msh1",
    "msh2",
    "mshxml",
    "msh1xml",
    "msh2xml",
    "msi",
    "msix",
    "msixbundle",
    "msp",
    "mst",
    "ocx",
    "ops",
    "pcd",
    "pif",
    "plg",
    "prf",
    "prg",
    "ps1",
    "ps1xml",
    "ps2",
    "ps2xml",
    "psc1",
    "psc2",
    "psd1",
    "psdm1",
    "psm1",
    "pst",
    "reg",
    "scf",
    "scr",
    "sct",
    "settingcontent-ms",
    "shb",
    "shs",
    "sys",
    "url",
    "vb",
    "vbe",
    "vbs",
    "vhd",
    "vhdx",
    "vxd",
    "website",
    "ws",
    "wsc",
    "wsf",
    "wsh",
    "xbap",
    "xll",
    "xnk",
    "library-ms",
]

DEFAULT_ALLOWED_EXTENSIONS = [
    "pdf",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "ppt",
    "pptx",
    "odt",
    "ods",
    "odp",
    "rtf",
    "txt",
    "csv",
    "xml",
    "jpg",
    "jpeg",
    "png",
    "gif",
    "tif",
    "tiff",
    "zip",
    "rar",
    "7z",
]


#: The actions a unit may choose for inbound DMARC failures (strip makes no sense there).
DmarcAction = Literal["accept", "tag", "quarantine", "reject"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _extensions(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [v.strip().lstrip(".").lower() for v in values if v.strip().lstrip(".")]


def _check_actions(actions: dict[str, Action] | None) -> dict[str, Action] | None:
    if actions:
        unknown = sorted(set(actions) - set(DEFAULT_ACTIONS))  # every rule has a default
        if unknown:
            from policies.rules import REGISTRY

            raise ValueError(
                f"unknown rule name(s) {', '.join(unknown)}; the rules are: "
                + ", ".join(REGISTRY) + " (docs/policies.md describes each, with examples)"
            )
    return actions


def _check_ascii(text: str | None) -> str | None:
    if text is not None and not (text.isascii() and text.isprintable()):
        raise ValueError(
            "SMTP reply text must be printable ASCII (RFC 5321 4.2); write "
            "Vietnamese without diacritics here"
        )
    return text


class Overlay(_Strict):
    """Values a policy layer may set; what it leaves out (None) it inherits."""

    actions: dict[str, Action] = Field(
        default_factory=dict,
        description="Rule name -> action (accept, reject, quarantine, strip, tag); "
        "accept turns the rule off. Unknown rule names are configuration errors.",
    )
    blocked_extensions: list[str] | None = Field(
        default=None, description="Extensions blocked by blocked-extension (replaces the list)."
    )
    allowed_extensions: list[str] | None = Field(
        default=None, description="Extensions allowed by allowed-types (replaces the list)."
    )
    blocked_types: list[str] | None = Field(
        default=None, description="Extra detected MIME types blocked by blocked-type."
    )
    max_attachment_size: int | None = Field(
        default=None, gt=0, description="attachment-size limit, bytes of decoded content."
    )
    max_message_size: int | None = Field(
        default=None, gt=0, description="message-size limit, bytes of the raw message."
    )
    max_attachments: int | None = Field(default=None, gt=0, description="attachment-count limit.")
    reject_text_vi: str | None = Field(
        default=None, description="Vietnamese reject reply text (ASCII, no diacritics)."
    )
    reject_text_en: str | None = Field(default=None, description="English reject reply text.")
    # what to do with inbound mail that fails DMARC, per unit; None inherits,
    # and where no layer sets it milter uses [signer.auth]'s on_dmarc_* value.
    on_dmarc_reject: DmarcAction | None = Field(
        default=None, description="Inbound DMARC fail where the owner asks p=reject: "
        "accept, tag, quarantine or reject (unset: inherit, then [signer.auth]).")
    on_dmarc_quarantine: DmarcAction | None = Field(
        default=None, description="Inbound DMARC fail where the owner asks p=quarantine: "
        "accept, tag, quarantine or reject (unset: inherit, then [signer.auth]).")
    on_dmarc_fail: DmarcAction | None = Field(
        default=None, description="Inbound DMARC fail with p=none, or a broken record "
        "(permerror): accept, tag, quarantine or reject (unset: inherit, then [signer.auth]).")

    @field_validator("actions")
    @classmethod
    def _known_rules(cls, value: dict[str, Action]) -> dict[str, Action]:
        return _check_actions(value) or {}

    @field_validator("blocked_extensions", "allowed_extensions")
    @classmethod
    def _dotless(cls, value: list[str] | None) -> list[str] | None:
        return _extensions(value)

    @field_validator("reject_text_vi", "reject_text_en")
    @classmethod
    def _ascii(cls, value: str | None) -> str | None:
        return _check_ascii(value)


class Override(Overlay):
    """A policy for one unit (and its descendants), optionally for one direction."""

    unit: str = Field(description="The unit id (from directory/) this override applies to.")
    direction: Direction | None = Field(
        default=None, description="inbound or outbound; omitted: both directions."
    )


class QuarantineConfig(_Strict):
    """Where held messages live and for how long (`[policies.quarantine]`)."""

    path: Path = Field(
        default=Path("quarantine"),
        description="Quarantine directory (relative: under the data directory). Not "
        "together with url.",
    )
    url: str | None = Field(
        default=None,
        description="The quarantine in PostgreSQL, postgresql://USER@HOST:PORT/DATABASE "
        "(never with a password: see [store] password_file): the index and the held "
        "messages themselves, so any server sharing it (or its console) can release them. "
        "Overrides [store] url for the quarantine; not together with path.",
    )
    password_file: Path | None = Field(
        default=None,
        description="The PostgreSQL password of url's user, alone in a file of mode 0600 "
        "(default: [store] password_file, else libpq's passfile ~/.pgpass); relative to the "
        "data directory.",
    )
    retention_days: int = Field(
        default=30, ge=1, description="Held messages expire after this many days."
    )
    notify: bool = Field(
        default=False,
        description="Tell the sender (outbound) or recipient (inbound) that a message is held.",
    )

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return None if value is None else check_store_url(value)

    @model_validator(mode="after")
    def _one_store(self) -> QuarantineConfig:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("path and url name two quarantines: set one of them (path for "
                             "a directory on this server, url for a shared PostgreSQL store)")
        return self


class LimitsConfig(_Strict):
    """How far the MIME walk and archive listing go (`[policies.limits]`)."""

    max_mime_depth: int = Field(default=20, ge=1, le=200, description="MIME nesting depth.")
    max_mime_parts: int = Field(default=1000, ge=1, description="MIME parts per message.")
    max_archive_depth: int = Field(default=5, ge=1, le=50, description="Archive nesting depth.")
    max_archive_members: int = Field(
        default=10_000, ge=1, description="Archive members per message, all archives together."
    )
    max_archive_size: int = Field(
        default=200 * 1024 * 1024,
        ge=1,
        description="Uncompressed bytes per message, all archives together.",
    )
    max_compression_ratio: float = Field(
        default=100.0, gt=1, description="Uncompressed/compressed ratio of a member (over 1 MiB)."
    )

    def walk(self) -> WalkLimits:
        """The MIME walk's limits."""
        from policies.walk import WalkLimits

        return WalkLimits(max_depth=self.max_mime_depth, max_parts=self.max_mime_parts)

    def archives(self) -> ArchiveLimits:
        """The archive lister's limits."""
        from policies.archives import ArchiveLimits

        return ArchiveLimits(
            max_depth=self.max_archive_depth,
            max_members=self.max_archive_members,
            max_total_size=self.max_archive_size,
            max_ratio=self.max_compression_ratio,
        )


DEFAULT_MAX_ATTACHMENT_SIZE = 25 * 1024 * 1024
DEFAULT_MAX_MESSAGE_SIZE = 50 * 1024 * 1024
DEFAULT_MAX_ATTACHMENTS = 50
DEFAULT_REJECT_TEXT_VI = ("Thu bi tu choi: tep dinh kem khong duoc phep theo quy dinh "
                          "an toan thong tin")
DEFAULT_REJECT_TEXT_EN = "Message rejected: an attachment is not allowed by the security policy"


class PoliciesConfig(Overlay):
    """The `[policies]` table: the default policy, overrides and stores.

    Unlike an override, the top-level table holds the built-in default policy's values
    (so ``config show`` and the configuration reference print them): a list or limit
    given here replaces the built-in one, and ``actions`` given here are laid over the
    built-in table rule by rule.
    """

    actions: dict[str, Action] = Field(
        default_factory=lambda: dict(DEFAULT_ACTIONS),
        description="Rule name -> action (accept, reject, quarantine, strip, tag) of the "
        "default policy; accept turns the rule off. Rules not named keep their built-in "
        "action. Unknown rule names are configuration errors. classified-marking is off "
        "for inbound mail unless given here with another action than its built-in one, "
        "or in an override with direction inbound.",
    )
    blocked_extensions: list[str] | None = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_EXTENSIONS),
        description="Extensions blocked by blocked-extension (replaces the list).",
    )
    allowed_extensions: list[str] | None = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_EXTENSIONS),
        description="Extensions allowed by allowed-types (replaces the list).",
    )
    blocked_types: list[str] | None = Field(
        default_factory=list, description="Extra detected MIME types blocked by blocked-type."
    )
    max_attachment_size: int | None = Field(
        default=DEFAULT_MAX_ATTACHMENT_SIZE, gt=0,
        description="attachment-size limit, bytes of decoded content.",
    )
    max_message_size: int | None = Field(
        default=DEFAULT_MAX_MESSAGE_SIZE, gt=0,
        description="message-size limit, bytes of the raw message.",
    )
    max_attachments: int | None = Field(
        default=DEFAULT_MAX_ATTACHMENTS, gt=0, description="attachment-count limit."
    )
    reject_text_vi: str | None = Field(
        default=DEFAULT_REJECT_TEXT_VI,
        description="Vietnamese reject reply text (ASCII, no diacritics).",
    )
    reject_text_en: str | None = Field(
        default=DEFAULT_REJECT_TEXT_EN, description="English reject reply text."
    )
    tag_header: str = Field(
        default="X-Congvu-Policy", description="Header added to tagged messages."
    )
    overrides: list[Override] = Field(
        default_factory=list, description="Per-unit and per-direction policies."
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Walk limits.")
    quarantine: QuarantineConfig = Field(
        default_factory=QuarantineConfig, description="The quarantine store."
    )
    _cache: dict[tuple[tuple[str, ...], str], Policy] = PrivateAttr(default_factory=dict)

    @field_validator("actions")
    @classmethod
    def _over_builtin(cls, value: dict[str, Action]) -> dict[str, Action]:
        return {**DEFAULT_ACTIONS, **value}

    @field_validator("tag_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not value or not all(33 <= ord(c) <= 126 and c != ":" for c in value):
            raise ValueError(f"{value!r} is not a header field name (RFC 5322 2.2)")
        return value

    def resolve(self, unit_chain: Sequence[str], direction: str | Direction) -> Policy:
        """The policy for a unit (`unit_chain`: the unit id, then its ancestors) and a
        direction; built once per (chain, direction) and kept."""
        way = Direction(direction)
        key = (tuple(unit_chain), way.value)
        found = self._cache.get(key)
        if found is None:
            from policies.policy import build_policy

            layers: list[Overlay] = [self]
            if way is Direction.INBOUND:  # unless the top-level table changed them
                layers.append(Overlay(actions={
                    rule: action for rule, action in DEFAULT_INBOUND_ACTIONS.items()
                    if self.actions.get(rule) == DEFAULT_ACTIONS[rule]}))
            for unit in reversed(key[0]):
                layers += [o for o in self.overrides if o.unit == unit and o.direction is None]
                layers += [o for o in self.overrides if o.unit == unit and o.direction == way]
            found = build_policy(
                _merge(layers),
                self.tag_header,
                self.limits.walk(),
                self.limits.archives(),
                unit=key[0][0] if key[0] else None,
                direction=way,
            )
            self._cache[key] = found
        return found


def _merge(layers: list[Overlay]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "actions": dict(DEFAULT_ACTIONS),
        "blocked_extensions": DEFAULT_BLOCKED_EXTENSIONS,
        "allowed_extensions": DEFAULT_ALLOWED_EXTENSIONS,
        "blocked_types": [],
        "max_attachment_size": DEFAULT_MAX_ATTACHMENT_SIZE,
        "max_message_size": DEFAULT_MAX_MESSAGE_SIZE,
        "max_attachments": DEFAULT_MAX_ATTACHMENTS,
        "reject_text_vi": DEFAULT_REJECT_TEXT_VI,
        "reject_text_en": DEFAULT_REJECT_TEXT_EN,
        "on_dmarc_reject": None,
        "on_dmarc_quarantine": None,
        "on_dmarc_fail": None,
    }
    for layer in layers:
        merged["actions"].update(layer.actions)
        for key in merged:
            value = getattr(layer, key)
            if key != "actions" and value is not None:
                merged[key] = value
    return merged
