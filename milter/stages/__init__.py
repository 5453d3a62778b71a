"""The pipeline's stages: which there are, what each does, and the order they run in.

:data:`STAGES` is the one table. The order is fixed here, not in the configuration:
``[pipeline] stages`` is a set of switches (a stage left out is off), and a stage also
needs what it works with (a key to sign with, documents switched on). The table feeds
:func:`build_stages`, the order check (the same one :class:`~milter.pipeline.Pipeline`
makes), the ``[pipeline] stages`` reference and ARCHITECTURE.md's table of stages
(``markdown()``; a test holds the two together). One module per stage family beside it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from milter.pipeline import AddHeader, Stage, StageKind, check_order

if TYPE_CHECKING:
    # milter.config reads this table for [pipeline] stages: the stages' modules and what
    # they work with (signer/, policies/, the archive) are imported when stages are built
    from milter.settings import Settings
    from milter.stages.units import UnitLookup
    from signer import AuthChecker


@dataclass(frozen=True, slots=True)
class Materials:
    """What the stages of one configuration are built from."""

    config: Settings
    units: UnitLookup
    #: DKIM keys, SPF and DMARC records share one TTL-respecting DNS cache
    checker: AuthChecker

    def is_on(self, name: str) -> bool:
        """Whether ``[pipeline] stages`` switches ``name`` on."""
        return name in self.config.pipeline.stages


@dataclass(frozen=True, slots=True)
class StageRow:
    """One stage: its name in ``[pipeline] stages``, its class (which gives its kind),
    what it does, how it is built and what it needs besides its switch."""

    name: str
    #: its class, ``module:Class``, imported when it is built (a test holds the class's
    #: kind and the row's together)
    home: str
    #: where it may sit (verify, decide, change, sign, keep)
    kind: StageKind
    what: str
    #: the stages of this row for one configuration; none when ``needs`` does not hold
    build: Callable[[Materials], Sequence[Stage]]
    #: what it needs to be built besides its switch
    needs: str = ""
    #: a switch in ``[pipeline] stages`` (add-header is on when headers are configured)
    is_switch: bool = True
    #: quarantine release runs it again on the held message (who sent it, then signing)
    is_run_on_release: bool = False

    @property
    def stage(self) -> type[Stage]:
        """The stage's class (imported now)."""
        module, _, name = self.home.partition(":")
        found: type[Stage] = getattr(importlib.import_module(module), name)
        return found

    @property
    def when(self) -> str:
        """When the stage is built, in words."""
        if not self.is_switch:
            return self.needs
        return f"switched on, and {self.needs}" if self.needs else "switched on"

    @property
    def module(self) -> str:
        """The file the stage's class is in."""
        return self.home.partition(":")[0].replace(".", "/") + ".py"


def _units(materials: Materials) -> Sequence[Stage]:
    from milter.stages.units import UnitsStage

    return [UnitsStage(materials.units, materials.config.signer.may_send_as)]


def _verify(materials: Materials) -> Sequence[Stage]:
    from milter.stages.authentication import VerifyStage
    from signer import DkimVerifier, SmimeVerifier

    signer = materials.config.signer
    dkim = DkimVerifier(materials.checker.resolver,
                        max_signatures=signer.dkim.max_signatures,
                        dns_budget=2 * signer.dkim.resolver_timeout)
    smime = SmimeVerifier.from_config(signer.smime, store_dir=signer.documents.store_dir)
    return [VerifyStage(dkim, smime, materials.checker)]


def _documents(materials: Materials) -> Sequence[Stage]:
    from milter.stages.documents import DocumentsStage
    from signer import DocumentVerifier

    documents = materials.config.signer.documents
    if not documents.is_enabled:
        return []
    verifier = DocumentVerifier.from_config(documents, materials.config.signer.smime,
                                            directory=materials.units.index)
    return [DocumentsStage(verifier, timeout=documents.timeout,
                           policies=materials.config.policies)]


def _add_headers(materials: Materials) -> Sequence[Stage]:
    headers = materials.config.pipeline.add_headers
    return [AddHeader(header.name, header.value) for header in headers]


def _dmarc(materials: Materials) -> Sequence[Stage]:
    from milter.stages.authentication import DmarcStage, unit_dmarc_actions

    if not materials.is_on("verify"):
        return []
    config, checker = materials.config, materials.checker
    actions_for = unit_dmarc_actions(config.policies, materials.units.chain, checker.actions)
    return [DmarcStage(checker, on_spoof=config.signer.auth.on_own_domain_spoof,
                       actions_for=actions_for)]


def _authentication_results(materials: Materials) -> Sequence[Stage]:
    from milter.stages.authentication import AuthResultsStage

    return [AuthResultsStage(materials.config.signer.dkim.authserv_id)]


def _policy(materials: Materials) -> Sequence[Stage]:
    from milter.stages.policy import PolicyStage

    return [PolicyStage(materials.config.policies, materials.units.chain)]


# Signing stages exist only where something is configured to sign: with no key at all,
# a message is neither signed nor refused for being unsignable.

def _smime_sign(materials: Materials) -> Sequence[Stage]:
    from milter.stages.signing import SmimeSignStage
    from signer import SmimeSigner

    smime = materials.config.signer.smime
    if not smime.identities:
        return []
    return [SmimeSignStage(SmimeSigner.from_config(smime), smime.on_missing_identity.value)]


def _dkim_sign(materials: Materials) -> Sequence[Stage]:
    from milter.stages.signing import DkimSignStage
    from signer import DkimSigner

    dkim = materials.config.signer.dkim
    signer = DkimSigner.from_config(dkim)
    if not signer.domains:
        return []
    return [DkimSignStage(signer, materials.units, on_unsignable=dkim.on_unsignable)]


def _archive(materials: Materials) -> Sequence[Stage]:
    from archive import Archive
    from milter.stages.archive import ArchiveStage
    from policies import searchable_text

    config = materials.config.archive
    if not config.enabled or not materials.is_on("units"):  # whose mail is it
        return []
    return [ArchiveStage(Archive.from_config(config, create=True, reader=searchable_text),
                         directions=config.directions, units=config.units,
                         chain=materials.units.chain)]


#: Every stage, in the order they run.
STAGES: tuple[StageRow, ...] = (
    StageRow("units", "milter.stages.units:UnitsStage", StageKind.VERIFY,
             "the sender's and recipients' units (directory/'s in-memory index); outbound, "
             "binds the header From to the envelope sender's unit (`[[signer.send_as]]`)",
             _units, is_run_on_release=True),
    StageRow("verify", "milter.stages.authentication:VerifyStage", StageKind.VERIFY,
             "inbound: DKIM, S/MIME, SPF, DMARC, ARC on the bytes as received (signer/)",
             _verify),
    StageRow("documents", "milter.stages.documents:DocumentsStage", StageKind.VERIFY,
             "signatures inside attached PDFs and Office files (signer/documents/)",
             _documents, needs="`[signer.documents]` is enabled"),
    StageRow("add-header", "milter.pipeline:AddHeader", StageKind.DECIDE,
             "prepends one `[pipeline] add_headers` line (named `add-header:<name>`)",
             _add_headers, needs="one per `[pipeline] add_headers` entry (not a switch)",
             is_switch=False),
    StageRow("dmarc", "milter.stages.authentication:DmarcStage", StageKind.DECIDE,
             "the spoof guard for the province's own domains; DMARC dispositions, per unit",
             _dmarc, needs="`verify` is on too (dmarc acts on its results)"),
    StageRow("authentication-results", "milter.stages.authentication:AuthResultsStage",
             StageKind.CHANGE,
             "inbound: removes forged Authentication-Results, prepends ours",
             _authentication_results),
    StageRow("policy", "milter.stages.policy:PolicyStage", StageKind.CHANGE,
             "policies/ `decide`, then accept, tag, strip, quarantine or reject",
             _policy),
    StageRow("smime-sign", "milter.stages.signing:SmimeSignStage", StageKind.CHANGE,
             "outbound: multipart/signed with the sender's identity",
             _smime_sign, needs="an S/MIME identity is configured", is_run_on_release=True),
    StageRow("dkim-sign", "milter.stages.signing:DkimSignStage", StageKind.SIGN,
             "outbound: DKIM over the exact bytes that leave",
             _dkim_sign, needs="a DKIM key is configured", is_run_on_release=True),
    StageRow("archive", "milter.stages.archive:ArchiveStage", StageKind.KEEP,
             "keeps the bytes that leave, once, named by their SHA-256 in the record "
             "(archive/); a unit's mail, by `[archive] directions` and `units`",
             _archive, needs="`[archive] enabled` (the default) and `units` is on (whose "
             "mail it is)", is_switch=False,
             is_run_on_release=True),
)
check_order((row.name, row.kind) for row in STAGES)

#: The names ``[pipeline] stages`` may list, in the order they run.
SWITCHES: tuple[str, ...] = tuple(row.name for row in STAGES if row.is_switch)
#: The stages quarantine release runs again: outbound mail is still signed.
ON_RELEASE: frozenset[str] = frozenset(row.name for row in STAGES if row.is_run_on_release)


def build_stages(config: Settings, units: UnitLookup) -> list[Stage]:
    """The stages ``config`` switches on, in the table's order.

    :raises KeyFileError: a DKIM or S/MIME key cannot be used (refuse to start).
    """
    from signer import AuthChecker

    materials = Materials(config, units, AuthChecker.from_config(config.signer))
    return [stage for row in STAGES if not row.is_switch or materials.is_on(row.name)
            for stage in row.build(materials)]


def describe_switches() -> str:
    """``[pipeline] stages`` as the configuration reference explains it."""
    stages = "; ".join(
        f"`{row.name}` ({row.kind.name.lower()}): {row.what}"
        + (f"; only when {row.needs}" if row.needs else "")
        for row in STAGES if row.is_switch)
    return ("Switches, not an order: the stages listed are on, those left out are off. "
            "On stages always run in the order fixed in code (milter/stages/), "
            f"verification first and DKIM signing last: {stages}.")


def markdown() -> str:
    """The table as ARCHITECTURE.md shows it: stage, file (class), kind, what, when."""
    lines = ["| stage | file (class) | kind | what it does | built when |",
             "|---|---|---|---|---|"]
    lines += [f"| `{row.name}` | `{row.module}` (`{row.home.partition(':')[2]}`) | "
              f"{row.kind.name.lower()} | {row.what} | {row.when} |" for row in STAGES]
    return "\n".join(lines)
