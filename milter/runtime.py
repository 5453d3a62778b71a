"""Everything built from one configuration that serves messages: pipeline, next hop.

A reload builds a new Runtime and swaps it in; transactions already open keep the
one they started with, so a SIGHUP never changes a message half-way.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from audit import AuditWriter
from directory import DirectoryIndex
from milter.config import NextHopKind
from milter.lmtp import LmtpNextHop
from milter.nexthop import MaildirNextHop, NextHop, SmtpNextHop
from milter.pipeline import AddHeader, Pipeline, Stage
from milter.settings import Settings
from milter.stages.authentication import (
    AuthResultsStage,
    DmarcStage,
    VerifyStage,
    unit_dmarc_actions,
)
from milter.stages.documents import DocumentsStage
from milter.stages.policy import PolicyStage
from milter.stages.signing import DkimSignStage, SmimeSignStage
from milter.stages.units import UnitLookup, UnitsStage
from policies import Quarantine
from signer import (
    AuthChecker,
    DkimSigner,
    DkimVerifier,
    DocumentVerifier,
    SmimeSigner,
    SmimeVerifier,
)


@dataclass(frozen=True, slots=True)
class Runtime:
    """The pipeline, next hop and stores of one configuration."""

    config: Settings
    pipeline: Pipeline
    next_hop: NextHop
    units: UnitLookup
    quarantine: Quarantine
    audit: AuditWriter | None

    async def close(self) -> None:
        """Release what this runtime holds open (the audit writer commits what is queued)."""
        await self.next_hop.close()
        for stage in self.pipeline.stages:  # thread pools of the verifying stages
            close = getattr(stage, "close", None)
            if callable(close):
                close()
        if self.audit is not None:
            await self.audit.close()
        self.quarantine.close()
        self.units.index.close()


def build_stages(config: Settings, units: UnitLookup) -> list[Stage]:
    """The configured stages, in the order fixed here (Pipeline checks it).

    :raises KeyFileError: a DKIM or S/MIME key cannot be used (refuse to start).
    """
    dkim, smime = config.signer.dkim, config.signer.smime
    enabled = set(config.pipeline.stages)
    stages: list[Stage] = []
    if "units" in enabled:
        stages.append(UnitsStage(units, config.signer.may_send_as))
    checker = AuthChecker.from_config(config.signer)
    if "verify" in enabled:
        # DKIM keys, SPF and DMARC records share one TTL-respecting DNS cache.
        verifier = DkimVerifier(checker.resolver, max_signatures=dkim.max_signatures,
                                dns_budget=2 * dkim.resolver_timeout)
        stages.append(VerifyStage(verifier, SmimeVerifier.from_config(smime), checker))
    documents = config.signer.documents
    if "documents" in enabled and documents.is_enabled:
        stages.append(DocumentsStage(DocumentVerifier.from_config(documents, smime),
                                     timeout=documents.timeout))
    stages += [AddHeader(header.name, header.value) for header in config.pipeline.add_headers]
    if "dmarc" in enabled and "verify" in enabled:
        stages.append(DmarcStage(checker, on_spoof=config.signer.auth.on_own_domain_spoof,
                                 actions_for=unit_dmarc_actions(config.policies, units.chain,
                                                                checker.actions)))
    if "authentication-results" in enabled:
        stages.append(AuthResultsStage(dkim.authserv_id))
    if "policy" in enabled:
        stages.append(PolicyStage(config.policies, units.chain))
    # Signing stages exist only where something is configured to sign: with no key at
    # all, a message is neither signed nor refused for being unsignable.
    if "smime-sign" in enabled and smime.identities:
        stages.append(
            SmimeSignStage(SmimeSigner.from_config(smime), smime.on_missing_identity.value)
        )
    dkim_signer = DkimSigner.from_config(dkim)
    if "dkim-sign" in enabled and dkim_signer.domains:
        stages.append(DkimSignStage(dkim_signer, units, on_unsignable=dkim.on_unsignable))
    return stages


def build_next_hop(config: Settings) -> NextHop:
    """The next hop the configuration names."""
    hop = config.next_hop
    if hop.kind is NextHopKind.MAILDIR:
        return MaildirNextHop(hop.maildir)
    hostname = config.service.hostname
    if hostname == "localhost":
        hostname = socket.getfqdn()
    if hop.kind is NextHopKind.LMTP:
        return LmtpNextHop(hop, local_hostname=hostname)
    return SmtpNextHop(hop, local_hostname=hostname)


def build_runtime(config: Settings) -> Runtime:
    """Build everything a configuration needs to serve (stores open and keys load here, once)."""
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    units = UnitLookup(
        DirectoryIndex.open(config.directory.path, domains=config.directory.domains)
    )
    quarantine = Quarantine(
        config.policies.quarantine.path,
        retention_days=config.policies.quarantine.retention_days,
    )
    audit = AuditWriter(config.audit) if config.pipeline.audit else None
    if audit is not None:
        audit.start()
    return Runtime(
        config=config,
        audit=audit,
        pipeline=Pipeline(build_stages(config, units)),
        next_hop=build_next_hop(config),
        units=units,
        quarantine=quarantine,
    )
