"""``congvu smime sign|verify|inspect``: S/MIME from the command line.

Exit codes (ARCHITECTURE.md): 0 success (signed; a passing signature); 1 the check found
something (not signed; anything but pass); 2 usage, key, certificate or configuration
errors.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailbase import UsageProblem, config_option, read_from, read_header, wired
from signer.cli.wiring import ConfigLoader, Wiring, pass_wiring
from signer.errors import SignerError

# Each command imports its work when it runs (CMS, asn1crypto, the keys' cryptography):
# `congvu smime --help` and every other command pay for none of it.
if TYPE_CHECKING:
    from signer.smime import SigningIdentity, SmimeResult, SmimeVerifier

_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


def _trust_options(func: Callable[..., None]) -> Callable[..., None]:
    for option in reversed([
        click.option("--ca", "anchors", type=_FILE, multiple=True,
                     help="Trusted root certificate file (PEM); repeatable. Default: the "
                          "configured trust anchors."),
        click.option("--intermediate", "intermediates", type=_FILE, multiple=True,
                     help="Intermediate CA certificate file (PEM); repeatable."),
        click.option("--crl", "crls", type=_FILE, multiple=True,
                     help="CRL file (PEM or DER); repeatable."),
    ]):
        func = option(func)
    return config_option(func)


def _verifier(wiring: Wiring, config_path: Path | None, anchors: Sequence[Path],
              intermediates: Sequence[Path], crls: Sequence[Path]) -> SmimeVerifier:
    from signer.smime import SmimeVerifier
    from signer.trust import TrustStore

    try:
        if anchors:
            return SmimeVerifier(TrustStore.from_files(anchors, intermediates, crls))
        signer = wiring.load(config_path)
        config = signer.smime
        if not config.trust_anchors and not config.trust:
            raise UsageProblem("no trust anchors: give --ca FILE or set [signer.smime] "
                               "trust (presets) or trust_anchors in the configuration")
        config = config.model_copy(update={
            "intermediates": (*config.intermediates, *intermediates),
            "crls": (*config.crls, *crls)})
        return SmimeVerifier.from_config(config, store_dir=signer.documents.store_dir)
    except SignerError as exc:
        raise UsageProblem(str(exc)) from exc


def _signing_identity(cert: Path | None, key: Path | None, pkcs12: Path | None,
                      passphrase_file: Path | None, passphrase_env: str | None) -> SigningIdentity:
    from signer.smime import load_pem_identity
    from signer.smime.keys import load_pkcs12_identity, read_secret

    try:
        if pkcs12 is not None:
            if cert is not None or key is not None:
                raise UsageProblem("give either --pkcs12 or --cert and --key")
            passphrase: bytes | None = None
            if passphrase_file is not None:
                passphrase = read_secret(passphrase_file).rstrip(b"\r\n")
            elif passphrase_env is not None:
                if passphrase_env not in os.environ:
                    raise UsageProblem(f"the environment variable {passphrase_env} is not set")
                passphrase = os.environ[passphrase_env].encode("utf-8")
            return load_pkcs12_identity(pkcs12, passphrase)
        if cert is None or key is None:
            raise UsageProblem("give --cert FILE and --key FILE (or --pkcs12 FILE)")
        return load_pem_identity(cert, key)
    except SignerError as exc:
        raise UsageProblem(str(exc)) from exc


@click.group("smime")
def smime() -> None:
    """Sign mail with S/MIME, verify S/MIME signatures, explain a signed message."""


@smime.command("sign")
@click.option("--cert", type=_FILE, help="The signer's PEM certificate, then its "
              "intermediates.")
@click.option("--key", type=_FILE, help="The signer's PEM private key (mode 0600).")
@click.option("--pkcs12", type=_FILE, help="A PKCS#12 file instead of --cert and --key.")
@click.option("--passphrase-file", type=_FILE, help="File holding the PKCS#12 passphrase.")
@click.option("--passphrase-env", metavar="VAR",
              help="Environment variable holding the PKCS#12 passphrase.")
def sign(cert: Path | None, key: Path | None, pkcs12: Path | None,
         passphrase_file: Path | None, passphrase_env: str | None) -> None:
    """Sign the message on standard input; write the signed message to standard output.

    Exit 0 when signed; 1 when the message is already signed or encrypted (it is
    written unchanged); 2 on a key or certificate problem.
    """
    from signer.smime import SmimeSigner

    identity = _signing_identity(cert, key, pkcs12, passphrase_file, passphrase_env)
    raw = sys.stdin.buffer.read()
    result = SmimeSigner.single(identity).sign(raw, identity)
    sys.stdout.buffer.write(result.message)
    if not result.is_signed:
        click.echo(result.reason, err=True)
        sys.exit(1)
    sender = read_from(read_header(raw)).addr_spec or ""
    if sender and not identity.names(sender):
        named = ", ".join(identity.addresses) or "no address"
        click.echo(f"warning: the certificate names {named}, not the sender {sender}: "
                   "recipients will not see a pass", err=True)


@smime.command("verify")
@_trust_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_wiring
def verify(wiring: Wiring, anchors: tuple[Path, ...], intermediates: tuple[Path, ...],
           crls: tuple[Path, ...], config_path: Path | None, as_json: bool) -> None:
    """Verify the S/MIME signature of the message on standard input.

    Prints the result as an Authentication-Results method (smime=...). Exit 0 only
    on a valid signature by a certificate for the From address, chained to a
    trusted CA and not revoked; 1 otherwise; 2 on a usage or certificate-file error.
    """
    verifier = _verifier(wiring, config_path, anchors, intermediates, crls)
    result = verifier.verify(sys.stdin.buffer.read())
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        click.echo(result.authentication_results())
    sys.exit(0 if result.is_pass else 1)


@smime.command("inspect")
@click.argument("file", type=_EXISTING)
@_trust_options
@pass_wiring
def inspect(wiring: Wiring, file: Path, anchors: tuple[Path, ...], intermediates: tuple[Path, ...],
            crls: tuple[Path, ...], config_path: Path | None) -> None:
    """Explain FILE's S/MIME signature in plain words: signers, chain and verdict.

    Exit 0 when the signature passes, 1 otherwise, 2 on a usage error.
    """
    verifier = _verifier(wiring, config_path, anchors, intermediates, crls)
    raw = file.read_bytes()
    header = read_header(raw)
    result = verifier.verify(raw, header=header)
    sender = ", ".join(f.text for f in header.fields if f.key == b"from")
    click.echo(describe(result, file=str(file), sender=sender or "(none)"))
    sys.exit(0 if result.is_pass else 1)


def smime_group(load: ConfigLoader) -> click.Group:
    """The ``smime`` command group, reading ``[signer]`` through ``load``."""
    return wired(smime, Wiring(load))


_VERDICTS = {
    "pass": "PASS: the signature is valid and vouches for the sender",
    "fail": "FAIL: the signature is broken or its certificate cannot be trusted",
    "policy": "NOT THE SENDER: a valid signature, but not by the sender's certificate",
    "neutral": "NEUTRAL: there is a signature, but it does not sign this message",
    "none": "NONE: the message is not S/MIME signed",
    "temperror": "TEMPORARY ERROR: revocation could not be checked; try again later",
    "permerror": "PERMANENT ERROR: the signature cannot be read",
}


def describe(result: SmimeResult, *, file: str, sender: str) -> str:
    """The plain-words account ``smime inspect`` prints."""
    lines = [
        f"Message:  {file}",
        f"From:     {sender}",
        f"Verdict:  {_VERDICTS[result.status.value]}",
        f"Why:      {result.reason}",
    ]
    for number, signer in enumerate(result.signers, 1):
        lines += [
            "",
            f"Signer {number} of {len(result.signers)}: {signer.status.value}",
            f"  why:        {signer.reason}",
            f"  subject:    {signer.subject or '(unknown)'}",
            f"  addresses:  {', '.join(signer.addresses) or '(none)'}",
            f"  serial:     {signer.serial or '(unknown)'}",
            f"  issuer:     {signer.issuer or '(unknown)'}",
            "  signed at:  " + (f"{signer.signing_time:%Y-%m-%d %H:%M:%S} UTC (as the signer "
                                "claims)" if signer.signing_time else "(not stated)"),
        ]
        if signer.chain:
            lines.append("  chain:      " + "\n              -> ".join(signer.chain))
        else:
            lines.append("  chain:      (no trusted path was found)")
    return "\n".join(lines)
