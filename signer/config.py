"""Settings of signer/: the ``[signer]`` table of congvu.toml and its sub-tables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mailbase import check_store_url
from signer.authconfig import AuthConfig
from signer.documents.config import DocumentsConfig
from signer.smime.config import SmimeConfig
from signer.trustsettings import TrustPreset


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_DNS_LABELS = rf"^({_LABEL})(\.{_LABEL})*$"


class DkimKeyEntry(_Strict):
    """One row of the DKIM key table: a domain's selector and its private key file."""

    domain: str = Field(pattern=_DNS_LABELS, max_length=253,
                        description="The signing domain (d=), e.g. 'sotc.example.gov.vn'.")
    selector: str = Field(pattern=_DNS_LABELS,
                          description="The selector (s=); the key record is at "
                                      "<selector>._domainkey.<domain>.")
    key_file: Path = Field(description="The private key, PEM, mode 0600 or 0400; relative "
                                       "paths are under the data directory.")
    algorithm: Literal["rsa-sha256", "ed25519-sha256"] = Field(
        default="rsa-sha256", description="rsa-sha256 (2048 bits or more) or ed25519-sha256.")
    is_signing: bool = Field(default=True, description="Sign with this key; false keeps its "
                                                       "selector published but unused.")


class DkimConfig(_Strict):
    """The ``[signer.dkim]`` table: keys, signing and verification."""

    keys: tuple[DkimKeyEntry, ...] = Field(
        default=(), description="The key table; a domain with both an RSA and an Ed25519 "
                                "signing key gets two signatures.")
    authserv_id: str = Field(
        default="localhost", pattern=_DNS_LABELS,
        description="Our authserv-id in Authentication-Results (RFC 8601), usually the "
                    "mail server's host name; incoming headers claiming it are removed.")
    resolver_nameserver: str | None = Field(
        default=None, description="IP address of the DNS resolver for key lookups; "
                                  "unset uses /etc/resolv.conf.")
    resolver_port: int = Field(default=53, ge=1, le=65535,
                               description="Port of the DNS resolver.")
    resolver_timeout: float = Field(
        default=5.0, gt=0, le=60,
        description="Seconds a key lookup may take in all; then the result is temperror.")
    max_signatures: int = Field(
        default=5, ge=1, le=50,
        description="DKIM-Signature headers evaluated per message (a flood of them is a "
                    "known denial of service); the rest are not evaluated.")
    on_unsignable: Literal["pass-unsigned", "refuse"] = Field(
        default="refuse",
        description="What to do with outbound mail DKIM must not sign (no From, several "
                    "From headers, a From naming not exactly one address): refuse it, or "
                    "pass it on unsigned with the reason logged.")
    refuse_repeated_headers: bool = Field(
        default=False,
        description="Also treat repeated To, Cc, Subject, Date... as unsignable (they are "
                    "always oversigned, so later additions break the signature anyway).")
    expire_after: int | None = Field(
        default=None, ge=3600,
        description="Seconds after signing at which signatures expire (x=); unset: never.")
    state_file: Path = Field(
        default=Path("dkim/rotation.json"),
        description="Key rotation state (written only by the `congvu dkim` commands; read "
                    "at startup and on SIGHUP); relative paths are under the data directory. "
                    "With url, this server's copy of the shared state, used only when the "
                    "database cannot be reached at a start or reload. Not together with url.")
    url: str | None = Field(
        default=None,
        description="The key rotation state in PostgreSQL, postgresql://USER@HOST:PORT/"
                    "DATABASE (never with a password: see [store] password_file), so every "
                    "server sharing it signs with the same selectors; the key files "
                    "themselves stay files, at the same path on every server (key_dir). "
                    "Overrides [store] url for the rotation state; not together with "
                    "state_file.")
    password_file: Path | None = Field(
        default=None,
        description="The PostgreSQL password of url's user, alone in a file of mode 0600 "
                    "(default: [store] password_file, else libpq's passfile ~/.pgpass); "
                    "relative to the data directory.")
    key_dir: Path = Field(
        default=Path("dkim/keys"),
        description="Where `congvu dkim rotate` writes new private keys (0700 directory).")
    rotation_grace_days: float = Field(
        default=7, ge=0, le=90,
        description="Days the replaced key keeps signing beside its successor after "
                    "`congvu dkim check` activates the new one.")

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return None if value is None else check_store_url(value)

    @model_validator(mode="after")
    def _one_state(self) -> DkimConfig:
        if self.url is not None and "state_file" in self.model_fields_set:
            raise ValueError("state_file and url name two rotation states: set one of them "
                             "(state_file for a file on this server, url for a shared "
                             "PostgreSQL store)")
        return self

    @model_validator(mode="after")
    def _unique_selectors(self) -> DkimConfig:
        seen: set[tuple[str, str]] = set()
        for entry in self.keys:
            key = (entry.domain.lower(), entry.selector.lower())
            if key in seen:
                raise ValueError(f"selector {entry.selector!r} of {entry.domain!r} "
                                 "appears twice in the key table")
            seen.add(key)
        return self


class SendAs(_Strict):
    """One ``[[signer.send_as]]`` entry: a unit whose staff may send as other units."""

    unit: str = Field(min_length=1, description="The unit whose senders (envelope sender, "
                                                "bound to the login by Postfix) may use the "
                                                "From of the units below, e.g. a shared "
                                                "secretariat 'van-phong-ubnd'.")
    as_units: list[str] = Field(min_length=1, description="The units it may send as; such "
                                                          "mail is signed and counted as theirs, "
                                                          "and the record keeps the submitting "
                                                          "unit.")


class SignerConfig(_Strict):
    """The ``[signer]`` table."""

    dkim: DkimConfig = Field(default_factory=DkimConfig)
    smime: SmimeConfig = Field(default_factory=SmimeConfig)
    auth: AuthConfig = Field(
        default_factory=AuthConfig,
        description="Inbound SPF, DMARC and ARC; DNS through [signer.dkim]'s resolver.")
    documents: DocumentsConfig = Field(
        default_factory=DocumentsConfig,
        description="Signatures inside attached documents; trust defaults to [signer.smime]'s.")
    send_as: list[SendAs] = Field(
        default_factory=list,
        description="Outbound, the header From must belong to the envelope sender's unit; "
                    "these entries allow a unit to send as others (a shared secretariat).")

    @property
    def trust_presets(self) -> tuple[TrustPreset, ...]:
        """The presets [signer.documents] and [signer.smime] name, each once, in order
        (`document trust list|fetch|refresh` and `doctor` look after their members)."""
        return tuple(dict.fromkeys((*self.documents.trust, *self.smime.trust)))

    def may_send_as(self, unit: str, as_unit: str) -> bool:
        """Whether senders of ``unit`` may send with a From of ``as_unit``."""
        return unit == as_unit or any(
            entry.unit == unit and as_unit in entry.as_units for entry in self.send_as)
