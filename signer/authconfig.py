"""Settings of inbound authentication: the ``[signer.auth]`` table (SPF, DMARC, ARC).

DNS questions go to the resolver of ``[signer.dkim]`` (``resolver_nameserver``,
``resolver_port``, ``resolver_timeout``), through one cache shared with DKIM key lookups.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_ACTIONS = Literal["reject", "quarantine", "tag", "accept"]


class AuthConfig(BaseModel):
    """The ``[signer.auth]`` table: SPF, DMARC and ARC for inbound mail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trusted_arc_sealers: tuple[str, ...] = Field(
        default=(),
        description="Domains of mailing lists and forwarders whose ARC seals we believe: "
                    "when their chain passes and they recorded dmarc=pass, a DMARC failure "
                    "here (their changes broke DKIM and SPF) is tagged, not refused.")
    dns_budget: float = Field(
        default=10.0, gt=0, le=120,
        description="Seconds all the DNS lookups of one message's SPF check (and, "
                    "separately, its ARC check) may take together; then temperror / fail.")
    cache_max_entries: int = Field(
        default=10_000, ge=0, le=10_000_000,
        description="DNS answers kept in memory (SPF, DMARC, ARC and DKIM keys); 0 disables "
                    "the cache.")
    cache_max_ttl: float = Field(
        default=3600.0, ge=0,
        description="Longest time in seconds a DNS answer is kept, whatever its TTL says.")
    negative_ttl: float = Field(
        default=60.0, ge=0,
        description="Seconds a 'no such record' answer is kept.")
    on_dmarc_reject: _ACTIONS = Field(
        default="reject",
        description="What happens to mail failing DMARC whose domain publishes p=reject.")
    on_dmarc_quarantine: _ACTIONS = Field(
        default="quarantine",
        description="What happens to mail failing DMARC whose domain publishes p=quarantine.")
    on_dmarc_fail: _ACTIONS = Field(
        default="tag",
        description="What happens to other DMARC failures (p=none, or outside a pct= "
                    "sample) and to permerror (a broken DMARC record or From header).")
    on_dmarc_temperror: Literal["tempfail", "tag", "accept"] = Field(
        default="tag",
        description="What happens when the DMARC policy could not be looked up: "
                    "tempfail answers 451 so the sender retries; tag delivers with a header.")
    on_own_domain_spoof: Literal["reject", "quarantine"] = Field(
        default="reject",
        description="What happens to inbound mail from outside the trusted networks whose "
                    "From is one of the province's own domains but that has no DKIM "
                    "signature aligned with it, whatever that domain's DMARC policy says.")

    @field_validator("trusted_arc_sealers")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for domain in value:
            domain = domain.strip().lower().rstrip(".")
            if not domain or " " in domain or "." not in domain:
                raise ValueError(f"invalid sealer domain {domain!r}")
            out.append(domain)
        return tuple(out)
