"""``congvu document verify``: the digital signatures inside documents, one JSON per file.

Exit codes (ARCHITECTURE.md): 0 every file has at least one valid signature; 1 any file has
none (unsigned, invalid, untrusted...); 2 usage, certificate-file or configuration
errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import click

from mailbase import DEFAULT_ZONE, PeriodError, UsageProblem, config_option, wired, zone
from signer.cli.document_trust import trust
from signer.cli.wiring import ConfigLoader, TimeZoneName, UnitsOpener, Wiring, pass_wiring
from signer.config import SignerConfig
from signer.documents import DocumentResult, DocumentVerifier
from signer.documents.explain import LANGUAGES, explain
from signer.errors import SignerError
from signer.presets import missing_members

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group("document")
def document() -> None:
    """Digital signatures inside documents (PDF; Office files detected)."""


@document.command("verify")
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option("--ca", "anchors", type=_FILE, multiple=True,
              help="A trusted CA certificate file (PEM or DER), trusted by its bytes; "
                   "repeatable; adds to the configured trust anchors ([signer.documents], "
                   "else [signer.smime]).")
@click.option("--intermediate", "intermediates", type=_FILE, multiple=True,
              help="An intermediate CA certificate file to build paths with (trusted only "
                   "through a trust anchor); repeatable; adds to the configured ones.")
@click.option("--offline", "is_offline", is_flag=True,
              help="Fetch nothing: revocation from configured and cached CRLs and OCSP "
                   "answers only, issuers from configured and cached certificates only.")
@click.option("--explain", "is_explained", is_flag=True,
              help="Instead of JSON, explain each signature to a person: issuer, signer, "
                   "managing unit (name and id), signing time and its source, integrity, "
                   "validity at the signing time, the certificate's validity period, "
                   "revocation and its evidence; times in the province's zone ([audit] "
                   "time_zone, Asia/Ho_Chi_Minh by default), named.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="vi", show_default=True,
              help="The language of --explain: vi (Vietnamese) or en.")
@config_option
@pass_wiring
def verify(wiring: Wiring, files: tuple[Path, ...], anchors: tuple[Path, ...],
           intermediates: tuple[Path, ...], is_offline: bool, is_explained: bool,
           lang: str, config_path: Path | None) -> None:
    """Verify the signatures inside each FILE; print one JSON object per file.

    Each object has the file's kind (pdf, ooxml, odf, none), an overall verdict,
    ``complete`` and every signature with its verdict (valid, invalid, untrusted,
    expired, revoked, modified-after-signing, unverifiable), signer, organisation,
    signing time, ``revocation`` (status good, revoked or unknown; method crl or none;
    the CRL used) and ``role`` (organisation, person, unknown) and ``unit``, read from
    the configured directory (without one every role is unknown). CRLs and missing
    issuer certificates are fetched from the URLs in the certificates unless --offline.
    Exit 0 when every file has at least one valid signature, 1 otherwise, 2 on a usage
    or certificate-file error.
    """
    config = wiring.load(config_path)
    for warning in config.documents.renamed_keys:
        click.echo(f"warning: {warning}", err=True)
    time_zone = wiring.time_zone(config_path) if is_explained else DEFAULT_ZONE
    try:
        zone(time_zone)
    except PeriodError as exc:
        raise UsageProblem(str(exc)) from exc
    with wiring.units(config_path) as units:
        try:
            verifier = DocumentVerifier.from_config(
                config.documents, config.smime, extra_anchors=anchors,
                extra_intermediates=intermediates, is_offline=is_offline, directory=units)
        except SignerError as exc:
            raise UsageProblem(str(exc)) from exc
        names = {u.id: u.name for u in units.units()} if units is not None else {}
        _verify_files(verifier, files, config, is_explained=is_explained, lang=lang,
                      unit_names=names, time_zone=time_zone)


def _verify_files(verifier: DocumentVerifier, files: tuple[Path, ...], config: SignerConfig,
                  *, is_explained: bool, lang: str, unit_names: Mapping[str, str],
                  time_zone: str) -> None:
    if not verifier.trust.anchors:
        click.echo("warning: no trust anchors (give --ca FILE, or configure "
                   "[signer.documents] trust or trust_anchors, or [signer.smime] "
                   "trust_anchors): no signature can be valid", err=True)
    documents = config.documents
    # the presets the verifier took: its own, else (with no trust of its own) S/MIME's
    presets = (documents.trust if documents.trust or documents.trust_anchors
               else config.smime.trust)
    for member in missing_members(presets, documents.store_dir):
        click.echo(f"warning: {member.name} ({member.preset.value}) is not installed: "
                   "run `congvu document trust fetch` or `trust add FILE`", err=True)
    is_all_valid = True
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageProblem(
                f"{path}: cannot be read: {exc.strerror or exc}") from exc
        result: DocumentResult = verifier.verify(data, path.name)
        record = {"file": str(path), **result.as_json()}
        if is_explained:
            click.echo(explain(record, lang=lang, has_directory=verifier.roles is not None,
                               unit_names=unit_names, time_zone=time_zone) + "\n")
        else:
            click.echo(json.dumps(record, ensure_ascii=False))
        is_all_valid = is_all_valid and result.is_validly_signed
    sys.exit(0 if is_all_valid else 1)


document.add_command(trust)


def document_group(load: ConfigLoader, *, units: UnitsOpener | None = None,
                   time_zone: TimeZoneName | None = None) -> click.Group:
    """The ``document`` command group, reading ``[signer]`` through ``load``, the
    directory through ``units`` and the province's time zone through ``time_zone``."""
    wiring = Wiring(load)
    if units is not None:
        wiring = replace(wiring, units=units)
    if time_zone is not None:
        wiring = replace(wiring, time_zone=time_zone)
    return wired(document, wiring)
