"""The ``[signer.smime]`` table: signing identities, trust anchors, CRLs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from signer.trustsettings import TrustPreset


class MissingIdentity(StrEnum):
    """What the service does with outbound mail from a sender without an identity."""

    SEND_UNSIGNED = "send-unsigned"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class SmimeIdentity(BaseModel):
    """One signing identity: who it signs for, and its certificate and key.

    Exactly one of ``address``, ``unit`` and ``pattern`` says whose mail it signs;
    either ``cert`` and ``key`` (PEM) or ``pkcs12`` holds the material. A PKCS#12
    passphrase comes from ``passphrase_file`` or ``passphrase_env``, never from
    this file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = Field(
        default=None, description="The sender address this identity signs for (exact match)."
    )
    unit: str | None = Field(
        default=None, description="The directory unit id whose senders this identity signs for."
    )
    pattern: str | None = Field(
        default=None,
        description="A shell-style pattern over sender addresses, e.g. '*@so-tc.province.gov.vn'.",
    )
    cert: Path | None = Field(
        default=None,
        description="PEM certificate file: the signer's certificate, then its intermediates.",
    )
    key: Path | None = Field(
        default=None, description="PEM private key file (mode 0600 or 0400)."
    )
    pkcs12: Path | None = Field(
        default=None, description="PKCS#12 file with key, certificate and chain (mode 0600)."
    )
    passphrase_file: Path | None = Field(
        default=None, description="File holding the PKCS#12 passphrase (mode 0600 or 0400)."
    )
    passphrase_env: str | None = Field(
        default=None, description="Environment variable holding the PKCS#12 passphrase."
    )

    @model_validator(mode="after")
    def _one_selector_one_source(self) -> SmimeIdentity:
        selectors = [s for s in (self.address, self.unit, self.pattern) if s]
        if len(selectors) != 1:
            raise ValueError("give exactly one of address, unit and pattern")
        if self.pkcs12 is not None:
            if self.cert is not None or self.key is not None:
                raise ValueError("give either pkcs12 or cert and key, not both")
            if self.passphrase_file is not None and self.passphrase_env is not None:
                raise ValueError("give at most one of passphrase_file and passphrase_env")
        elif self.cert is None or self.key is None:
            raise ValueError("give cert and key (PEM files), or pkcs12")
        elif self.passphrase_file is not None or self.passphrase_env is not None:
            raise ValueError("a passphrase is only used with pkcs12")
        return self

    @property
    def selector(self) -> str:
        """How this identity is chosen, for messages: ``address=...``, ``unit=...``."""
        if self.address:
            return f"address={self.address}"
        if self.unit:
            return f"unit={self.unit}"
        return f"pattern={self.pattern}"


class SmimeConfig(BaseModel):
    """The ``[signer.smime]`` table: identities, trust anchors, CRLs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identities: tuple[SmimeIdentity, ...] = Field(
        default=(),
        description="Signing identities, chosen by exact address, then unit, then the first "
        "matching pattern in this order.",
    )
    on_missing_identity: MissingIdentity = Field(
        default=MissingIdentity.SEND_UNSIGNED,
        description="Outbound mail from a sender with no identity: send-unsigned, "
        "quarantine or reject.",
    )
    trust: tuple[TrustPreset, ...] = Field(
        default=(),
        description="Trust presets, as [signer.documents] trust: vgca (the Government "
        "Cipher Committee's CA, whose officials' certificates carry emailProtection) and "
        "national (the Vietnam National Root CA). Pinned members trusted by their bytes; "
        "the ones `congvu document trust fetch` installs, and the issuer certificates, "
        "CRLs and OCSP answers document verification keeps, are read from "
        "[signer.documents] store_dir (S/MIME verification fetches nothing itself). "
        "Adds to trust_anchors.",
    )
    trust_anchors: tuple[Path, ...] = Field(
        default=(),
        description="PEM files of trusted root certificates (the national government CA and "
        "any others); inbound signatures must chain to one of them.",
    )
    intermediates: tuple[Path, ...] = Field(
        default=(),
        description="PEM files of intermediate CA certificates, used when a signature does "
        "not carry its own chain.",
    )
    crls: tuple[Path, ...] = Field(
        default=(),
        description="CRL files (PEM or DER) from the CAs; a certificate they revoke never "
        "passes.",
    )
    is_crl_required: bool = Field(
        default=False,
        description="Give temperror, not pass, when no configured CRL covers a certificate's "
        "issuer.",
    )

    @model_validator(mode="after")
    def _presets_once(self) -> SmimeConfig:
        if len(set(self.trust)) != len(self.trust):
            raise ValueError("a trust preset is listed twice")
        return self
