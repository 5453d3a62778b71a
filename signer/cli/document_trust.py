"""``congvu document trust list|fetch|add``: the pinned members of the trust presets.

Exit codes: ``list`` 0 when every member of the configured presets is present, 1 when
some are missing; ``fetch`` 0 when every member is present afterwards, 1 when one could
not be fetched or did not match its pin; ``add`` 0 when every certificate in FILE was
a pinned member, 2 when one was not (nothing of that file is installed then).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mailbase import UsageProblem, config_option
from signer.cli.wiring import Wiring, pass_wiring
from signer.errors import CertificateFileError, FetchError, SignerError
from signer.fetch import MAX_CERTIFICATE, Fetcher
from signer.issuers import read_certificates
from signer.presets import (
    PresetMember,
    TrustPreset,
    install,
    load_member,
    member_of,
    members,
    pinned,
)


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
    documents = wiring.load(config_path).documents
    is_complete = True
    for member in members(_presets(documents.trust)):
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
    documents = wiring.load(config_path).documents
    fetcher = Fetcher(is_enabled=True)
    is_complete = True
    for member in members(_presets(documents.trust)):
        if _state(member, documents.store_dir) in ("shipped", "installed"):
            click.echo(f"{member.name}: present")
            continue
        url = member.url if base_url is None else base_url.rstrip("/") + member.path
        try:
            certs = read_certificates(fetcher.get(url, max_bytes=MAX_CERTIFICATE))
        except FetchError as exc:
            click.echo(f"{member.name}: not fetched: {exc}", err=True)
            is_complete = False
            continue
        except ValueError as exc:
            click.echo(f"{member.name}: {url} holds no readable certificate ({exc})", err=True)
            is_complete = False
            continue
        match = next((c for c in certs if pinned(c) == member), None)
        if match is None:
            click.echo(f"{member.name}: {url} does not hold the pinned certificate "
                       f"(SHA-256 {member.sha256}); refused", err=True)
            is_complete = False
            continue
        install(match, documents.store_dir, source=url)
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
