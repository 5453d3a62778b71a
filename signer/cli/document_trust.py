"""``congvu document trust list|fetch|add|refresh``: the pinned members of the trust
presets, and the CA material verifications rest on.

Exit codes: ``list`` 0 when every member of the configured presets is present, 1 when
some are missing; ``fetch`` 0 when every member is present afterwards, 1 when one could
not be fetched or did not match its pin; ``add`` 0 when every certificate in FILE was
a pinned member, 2 when one was not (nothing of that file is installed then);
``refresh`` 0 when everything due was fetched (or nothing was due, or fetching is
off), 1 when something could not be fetched or was refused, 2 on a configuration error.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from mailbase import UsageProblem, config_option
from signer.cli.wiring import Wiring, pass_wiring
from signer.errors import CertificateFileError, FetchError, SignerError
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.issuers import read_certificates
from signer.presets import (
    PresetMember,
    TrustPreset,
    fetch_member,
    install,
    load_member,
    member_of,
    members,
)
from signer.refresh import refresh as refresh_store


@click.group("trust")
def trust() -> None:
    """The pinned CA certificates of the trust presets (vgca, national)."""


def _presets(configured: tuple[TrustPreset, ...]) -> tuple[TrustPreset, ...] | None:
    """The configured presets, or every preset when none is configured."""
    return configured or None


def _state(member: PresetMember, store_dir: Path) -> str:
    try:
        cert = load_member(member, store_dir)
    except CertificateFileError as exc:
        return f"damaged: {exc.reason}"
    if cert is None:
        return "missing"
    return "shipped" if member.shipped else "installed"


@trust.command("list")
@config_option
@pass_wiring
def list_members(wiring: Wiring, config_path: Path | None) -> None:
    """Print each member of the configured presets (every preset when none is
    configured) as one JSON object: preset, name, sha256, url and state (shipped,
    installed, missing, damaged). Exit 1 when one is not present."""
    config = wiring.load(config_path)
    documents = config.documents
    is_complete = True
    for member in members(_presets(config.trust_presets)):
        state = _state(member, documents.store_dir)
        is_complete = is_complete and state in ("shipped", "installed")
        click.echo(json.dumps({"preset": member.preset.value, "name": member.name,
                               "sha256": member.sha256, "url": member.url,
                               "state": state}, ensure_ascii=False))
    sys.exit(0 if is_complete else 1)


@trust.command("fetch")
@click.option("--base-url", default=None,
              help="Fetch from this server instead of the CA's (the path of each "
                   "member's published URL is appended), e.g. a mirror inside the network.")
@config_option
@pass_wiring
def fetch(wiring: Wiring, base_url: str | None, config_path: Path | None) -> None:
    """Fetch the members of the configured presets that are neither shipped nor
    installed, from the CA's published URLs (or --base-url), and install each whose
    SHA-256 matches its pin. Exit 1 when one could not be fetched or did not match."""
    config = wiring.load(config_path)
    documents = config.documents
    fetcher = Fetcher(is_enabled=True)
    is_complete = True
    for member in members(_presets(config.trust_presets)):
        if _state(member, documents.store_dir) in ("shipped", "installed"):
            click.echo(f"{member.name}: present")
            continue
        try:
            url = fetch_member(member, fetcher, documents.store_dir, base_url=base_url)
        except FetchError as exc:
            click.echo(f"{member.name}: not fetched: {exc}", err=True)
            is_complete = False
            continue
        click.echo(f"{member.name}: installed from {url}")
    sys.exit(0 if is_complete else 1)


@trust.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@pass_wiring
def add(wiring: Wiring, file: Path, config_path: Path | None) -> None:
    """Install the certificates in FILE (PEM, DER or PKCS#7), each of which must be a
    pinned member of a trust preset: a certificate obtained elsewhere than the CA's
    URLs. Exit 2, installing nothing, when one is not pinned."""
    documents = wiring.load(config_path).documents
    try:
        certs = read_certificates(file.read_bytes())
    except OSError as exc:
        raise UsageProblem(f"{file}: cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageProblem(f"{file}: holds no readable certificate ({exc})") from exc
    try:
        for cert in certs:  # all or nothing: every certificate is checked first
            member_of(cert, source=file)
        for cert in certs:
            member = install(cert, documents.store_dir, source=file)
            click.echo(f"{member.name}: " + ("shipped in the package" if member.shipped
                                             else "installed"))
    except SignerError as exc:
        raise UsageProblem(str(exc)) from exc
    except OSError as exc:
        raise UsageProblem(f"{documents.store_dir}: cannot install: "
                           f"{exc.strerror or exc}") from exc


@trust.command("refresh")
@click.option("--base-url", default=None,
              help="Fetch missing preset members from this server instead of the CA's "
                   "(as for `trust fetch`); CRLs and OCSP answers come from their own URLs.")
@config_option
@pass_wiring
def refresh(wiring: Wiring, base_url: str | None, config_path: Path | None) -> None:
    """Fetch, ahead of need, the CRLs, OCSP answers and issuer certificates that
    document verifications used in the last 30 days and that are past half of their
    validity, and the members of the configured presets not yet installed (run hourly
    by the congvu-trust-refresh timer). What is fetched replaces what is kept only when
    it is signed by its issuer, current, and not older than the one kept; nothing is
    written partly. One JSON object per event on standard output, a summary last.
    Exit 0 when everything due was fetched (or fetching is off), 1 when something was
    not."""
    config = wiring.load(config_path)
    documents = config.documents
    if not documents.is_fetching:
        _event({"event": "refresh skipped", "reason": "[signer.documents] is_fetching "
                "is false"})
        sys.exit(0)
    is_complete = True
    for found in refresh_store(EvidenceStore(documents.store_dir), Fetcher(is_enabled=True),
                               config.trust_presets, base_url=base_url):
        _event({"event": found.event, **found.fields}, is_failure=found.is_failure)
        is_complete = is_complete and not found.is_failure
    sys.exit(0 if is_complete else 1)


def _event(fields: dict[str, object], *, is_failure: bool = False) -> None:
    line = {"ts": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "level": "warning" if is_failure else "info", **fields}
    click.echo(json.dumps(line, ensure_ascii=False))
