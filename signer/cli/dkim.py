"""``congvu dkim keygen|sign|verify|check|rotate``: DKIM keys and signatures for admins.

Exit codes (ARCHITECTURE.md): 0 success (key written; message signed; a signature passes;
the published record matches the key); 1 the check found something (not signed,
no signature passes, the record differs or cannot be read); 2 usage, key or
configuration errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailbase import CommandFailed, UsageProblem, config_option, wired
from signer.cli.wiring import ConfigLoader, Wiring, pass_wiring
from signer.config import DkimConfig
from signer.errors import (
    DnsTemporaryError,
    KeyFileError,
    NoSigningKeyError,
    UnsignableMessageError,
)

# Each command imports its work when it runs (the keys' cryptography, dkimpy, dnspython,
# the shared rotation state's psycopg): `congvu dkim --help` and every other command of
# the root pay for none of it.
if TYPE_CHECKING:
    from signer.dkim_rotation import RotationState
    from signer.dns import DnsResolver

_FILE = click.Path(dir_okay=False, path_type=Path)
_DNS = click.option("--dns", "dns", default=None, metavar="HOST:PORT",
                    help="DNS resolver for key records (default: the configured one, "
                         "else /etc/resolv.conf).")


def _resolver(dns: str | None, config: DkimConfig | None, timeout: float | None) -> DnsResolver:
    from signer.dns import DnsResolver, parse_hostport

    if dns is not None:
        try:
            host, port = parse_hostport(dns)
        except ValueError as exc:
            raise UsageProblem(f"--dns: {exc}") from exc
        return DnsResolver(host, port=port, timeout=timeout or 5.0)
    if config is not None:
        return DnsResolver(config.resolver_nameserver, port=config.resolver_port,
                           timeout=timeout or config.resolver_timeout)
    return DnsResolver(None, timeout=timeout or 5.0)


@click.group("dkim")
def dkim() -> None:
    """DKIM keys, signing and verification (RFC 6376, RFC 8463)."""


@dkim.command("keygen")
@click.option("--domain", required=True, help="The signing domain (d=).")
@click.option("--selector", required=True, help="The selector (s=), e.g. s202611.")
@click.option("--algorithm", type=click.Choice(["rsa", "ed25519"]), default="rsa",
              show_default=True, help="Key type.")
@click.option("--bits", type=int, default=2048, show_default=True,
              help="RSA key size (2048-8192).")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the private key (created 0700 if missing).")
def keygen(domain: str, selector: str, algorithm: str, bits: int, out_dir: Path) -> None:
    """Make a key pair: write the private key (0600, PEM), print the DNS TXT record.

    The record is printed in zone-file form, split into 255-octet strings; publish
    it, wait for `congvu dkim check` to see it, then add the key to [signer.dkim].
    """
    from signer.keys import (
        Algorithm,
        generate_private_key,
        key_record,
        write_private_key,
        zone_file_entry,
    )

    chosen = Algorithm.from_name(algorithm)
    try:
        key = generate_private_key(chosen, bits=bits)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from exc
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = out_dir / f"{selector}.{domain}.pem"
    try:
        write_private_key(key, path)
    except FileExistsError as exc:
        raise UsageProblem(f"{path} exists; a key is never overwritten, "
                             "choose a new selector") from exc
    except OSError as exc:
        raise UsageProblem(f"cannot write {path}: {exc.strerror or exc}") from exc
    click.echo(zone_file_entry(selector, domain, key_record(key)))
    click.echo(f"private key written to {path} (mode 0600); key table entry:\n"
               f'  {{ domain = "{domain}", selector = "{selector}", '
               f'key_file = "{path}", algorithm = "{chosen.value}" }}', err=True)


@dkim.command("sign")
@click.option("--domain", required=True, help="The signing domain (d=).")
@click.option("--selector", required=True, help="The selector (s=).")
@click.option("--key", "key_file", required=True, type=_FILE,
              help="The private key (PEM, mode 0600 or 0400).")
@click.option("--refuse-repeated-headers", is_flag=True,
              help="Refuse a message with a repeated To, Cc, Subject, Date... "
                   "(they are oversigned otherwise).")
def sign(domain: str, selector: str, key_file: Path, refuse_repeated_headers: bool) -> None:
    """Sign the message on standard input; write it, signed, to standard output.

    A message whose From is missing, repeated, or does not name exactly one address
    is refused (exit 1) and nothing is written.
    """
    from signer.dkim import DkimSigner, load_signing_key

    try:
        signer = DkimSigner([load_signing_key(domain, selector, key_file)],
                            refuse_repeated_headers=refuse_repeated_headers)
    except KeyFileError as exc:
        raise UsageProblem(str(exc)) from exc
    raw = sys.stdin.buffer.read()
    try:
        headers = signer.sign(raw, domain=domain)
    except (UnsignableMessageError, NoSigningKeyError) as exc:
        raise CommandFailed(str(exc)) from exc
    sys.stdout.buffer.write(headers + raw)
    sys.stdout.buffer.flush()


@dkim.command("verify")
@_DNS
@click.option("--timeout", type=click.FloatRange(min=0.1, max=60), default=None,
              help="Seconds a key lookup may take (default: configured, else 5).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per signature.")
@config_option
@pass_wiring
def verify(wiring: Wiring, dns: str | None, timeout: float | None, as_json: bool,
           config_path: Path | None) -> None:
    """Verify every DKIM signature of the message on standard input.

    Prints one result per signature (pass, fail, neutral, permerror, temperror, or
    none when unsigned); exit 0 only when a signature passes.
    """
    from signer.authresults import authentication_results
    from signer.dkim_verify import AuthResult, DkimVerifier

    config = wiring.load(config_path).dkim if dns is None or config_path is not None else None
    resolver = _resolver(dns, config, timeout)
    verifier = DkimVerifier(resolver, max_signatures=config.max_signatures
                            if config is not None else 5)
    results = verifier.verify(sys.stdin.buffer.read())
    for result in results:
        if as_json:
            click.echo(json.dumps({
                "result": result.result.value, "reason": result.reason,
                "domain": result.domain, "selector": result.selector,
                "algorithm": result.algorithm}, ensure_ascii=False))
    if not as_json:
        authserv_id = config.authserv_id if config is not None else "localhost"
        header = authentication_results(authserv_id, results).decode("utf-8")
        click.echo(header.replace("\r\n", "\n"), nl=False)
    if not any(r.result is AuthResult.PASS for r in results):
        sys.exit(1)


@dkim.command("check")
@click.option("--domain", required=True, help="The signing domain to check.")
@click.option("--selector", default=None,
              help="Check only this selector (default: every selector of the domain "
                   "in the key table).")
@click.option("--key", "key_file", type=_FILE, default=None,
              help="Compare with this key file instead of the key table "
                   "(needs --selector).")
@_DNS
@config_option
@pass_wiring
def check(wiring: Wiring, domain: str, selector: str | None, key_file: Path | None,
          dns: str | None, config_path: Path | None) -> None:
    """Compare the published DNS key records of a domain with its keys.

    Says exactly what differs (missing record, another key, revoked, wrong type);
    exit 0 only when every checked selector publishes its key.
    """
    config = wiring.load(config_path).dkim if key_file is None or config_path is not None \
        else None
    state = _state(config) if key_file is None and config is not None else None
    pairs = _keys_to_check(domain, selector, key_file, config, state)
    resolver = _resolver(dns, config, None)
    # DNS is read first, outside any change of the state (a shared one is locked while
    # it changes); then the selectors seen published are activated
    published = [name for name, path in pairs if _publishes(resolver, domain, name, path)]
    if state is not None and config is not None:
        now = dt.datetime.now(dt.UTC)
        grace = dt.timedelta(days=config.rotation_grace_days)
        with _editing(config) as current:
            changes: list[str] = []
            for name in published:
                if any(k.selector == name for k in current.for_domain(domain)):
                    # a pending selector whose record is now seen starts signing
                    changes += current.activate(domain, name, now, grace)
            changes += current.expire(now)
        _record_rotation(changes, shared=config.url is not None)
    if len(published) < len(pairs):
        sys.exit(1)


def _publishes(resolver: DnsResolver, domain: str, selector: str, key_file: Path) -> bool:
    """Say whether ``selector``'s record in DNS publishes the key in ``key_file``, and
    what differs if it does not (with the record to publish)."""
    from signer.keys import compare_record, key_record, load_private_key, zone_file_entry

    owner = f"{selector}._domainkey.{domain}"
    try:
        key = load_private_key(key_file)
    except KeyFileError as exc:
        raise UsageProblem(str(exc)) from exc
    try:
        problems = compare_record(key, resolver.txt(owner))
    except DnsTemporaryError as exc:
        problems = [f"could not be read: {exc.reason}"]
    if not problems:
        click.echo(f"{owner}: OK, publishes the key in {key_file}")
        return True
    click.echo(f"{owner}: DIFFERS")
    for problem in problems:
        click.echo(f"  - {problem}")
    click.echo(f"  publish:\n{zone_file_entry(selector, domain, key_record(key))}")
    return False


def _record_rotation(changes: list[str], *, shared: bool) -> None:
    for change in changes:
        click.echo(f"rotation: {change}")
    if changes:
        click.echo("rotation: reload the filter (SIGHUP) "
                   + ("on every server sharing the state " if shared else "")
                   + "to sign with the new state")


@dkim.command("rotate")
@click.option("--domain", required=True, help="The signing domain (d=).")
@click.option("--algorithm", type=click.Choice(["rsa", "ed25519"]), default="rsa",
              show_default=True, help="Key type of the new selector.")
@click.option("--bits", type=int, default=2048, show_default=True,
              help="RSA key size (2048-8192).")
@config_option
@pass_wiring
def rotate(wiring: Wiring, domain: str, algorithm: str, bits: int,
           config_path: Path | None) -> None:
    """Start a key rotation: make a new dated selector and print its DNS record.

    The new key is pending: it signs only after `congvu dkim check --domain D` has
    read its record from DNS and found it matches. The key it replaces keeps signing
    for the grace period (rotation_grace_days), then retires.
    """
    from signer.dkim_rotation import RotationStateError
    from signer.keys import Algorithm, key_record, load_private_key, zone_file_entry

    config = wiring.load(config_path).dkim
    try:
        with _editing(config) as state:
            entry = state.rotate(domain, Algorithm.from_name(algorithm), config.key_dir,
                                 dt.datetime.now(dt.UTC), bits=bits)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from exc
    except RotationStateError as exc:
        raise CommandFailed(str(exc)) from exc
    click.echo(zone_file_entry(entry.selector, entry.domain,
                               key_record(load_private_key(Path(entry.key_file)))))
    click.echo(f"selector {entry.selector} is pending (key {entry.key_file}).\n"
               "1. Publish the record above (keep the old selector's record).\n"
               "2. Wait at least the TTL of the zone's negative answers (SOA minimum)\n"
               "   so resolvers that cached 'no such name' forget it.\n"
               + (f"   Copy {entry.key_file} to every server sharing the rotation state\n"
                  "   (the same path, mode 0600) before the next step.\n"
                  if config.url is not None else "")
               + f"3. Run `congvu dkim check --domain {entry.domain}`: when it sees the\n"
               "   record it activates the key, then reload the filter (SIGHUP).\n"
               f"4. The old key signs for {config.rotation_grace_days:g} more days, then "
               "retires; remove its record a week or more after that.", err=True)


def dkim_group(load: ConfigLoader) -> click.Group:
    """The ``congvu dkim`` command group, reading ``[signer]`` through ``load``."""
    return wired(dkim, Wiring(load))


def _state(config: DkimConfig) -> RotationState:
    """The state as it is now, for reading (the selectors to check)."""
    from signer.dkim_rotation import RotationState, RotationStateError
    from signer.rotation_store import read_shared

    try:
        if config.url is None:
            return RotationState.load(config.state_file)
        return RotationState(config.state_file, read_shared(config))
    except RotationStateError as exc:
        raise UsageProblem(str(exc)) from exc


@contextlib.contextmanager
def _editing(config: DkimConfig) -> Iterator[RotationState]:
    """The state to change (file, or the shared one under its lock), written back when
    the block ends; a store that cannot be read or written is a usage error (exit 2)."""
    from signer.dkim_rotation import RotationStateError
    from signer.rotation_store import editing_rotation

    in_block = False
    try:
        with editing_rotation(config) as state:
            in_block = True
            yield state
            in_block = False
    except RotationStateError as exc:
        if in_block:  # a verb's refusal (a pending key waits): the caller says it
            raise
        raise UsageProblem(str(exc)) from exc


def _keys_to_check(domain: str, selector: str | None, key_file: Path | None,
                   config: DkimConfig | None,
                   state: RotationState | None) -> list[tuple[str, Path]]:
    from signer.dkim_rotation import KeyState

    if key_file is not None:
        if selector is None:
            raise UsageProblem("--key needs --selector")
        return [(selector, key_file)]
    assert config is not None
    wanted = domain.lower().rstrip(".")
    pairs = [(e.selector, e.key_file) for e in config.keys
             if e.domain.lower() == wanted and (selector is None or e.selector == selector)]
    if state is not None:
        pairs += [(k.selector, Path(k.key_file)) for k in state.for_domain(domain)
                  if k.state is not KeyState.RETIRED
                  and (selector is None or k.selector == selector)]
    if not pairs:
        raise UsageProblem(f"no key for {domain}"
                             + (f" selector {selector}" if selector else "")
                             + " in [signer.dkim] keys; give --selector and --key FILE")
    return pairs
