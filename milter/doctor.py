"""``congvu doctor``: check a running setup end to end, one line per check.

Where ``config check`` (and ``serve``) look only at what this host can check by itself,
the doctor also asks the outside world: DNS (DKIM key records, SPF, DMARC), the next
hop, Postfix's configuration (``postconf``), and how soon certificates, CA files and
CRLs expire; whether congvu answers on its listeners and mail waits for it in Postfix's
queue (doctor_service.py); the Debian packages and the system libraries congvu loads
(doctor_system.py); the shared PostgreSQL store's connection, schema versions and clock
(doctor_store.py). Each finding is OK, WARNING or ERROR, names its key path and says the
fix; the exit code is 0 when all is OK, 1 with warnings only, 2 with any error.
Nothing here changes state: stores are opened read-only or only stat'ed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import smtplib
import stat
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography import x509

from audit import AuditError, AuditLog, fingerprint, own_public_key
from audit.summary import behind as summary_behind
from milter.checks import check_locally, spoof_guard_warnings
from milter.config import NextHopKind
from milter.doctor_postfix import Route, check_postfix, read_routes
from milter.doctor_service import check_listeners, check_queue
from milter.doctor_store import check_shared_store, check_users_file
from milter.doctor_system import check_system
from milter.findings import EXPIRY_DAYS, Finding
from milter.findings import error as _error
from milter.findings import ok as _ok
from milter.findings import warn as _warn
from milter.settings import Settings
from signer import CachingResolver, DnsResolver, DnsTemporaryError, KeyFileError, published_problems
from signer.keys import Algorithm, compare_record, key_record, load_private_key, zone_file_entry
from signer.presets import missing_members

# -- local: configuration, keys, stores -------------------------------------------------


def check_local(config: Settings) -> Iterator[Finding]:
    """The same checks ``config check`` runs (they would stop ``serve``)."""
    problems = check_locally(config)
    for problem in problems:
        where, _, message = problem.partition(": ")
        yield _error(where, message or problem, "correct it in the configuration file, then "
                     "run `congvu config check`")
    if not problems:
        yield _ok("config", "valid; keys, certificates and stores load")


def check_spoof_guard(config: Settings) -> Iterator[Finding]:
    """A warning for each listener that takes inbound mail without the spoof guard."""
    warnings = spoof_guard_warnings(config)
    for warning in warnings:
        yield _warn(warning.where, warning.message, f"{warning.fix}, then reload (SIGHUP)")
    if not warnings:
        yield _ok("pipeline.stages", "the spoof guard (units, verify, dmarc) runs")


def _key_files(config: Settings) -> Iterator[tuple[str, Path]]:
    for i, entry in enumerate(config.signer.dkim.keys):
        yield f"signer.dkim.keys[{i}].key_file", entry.key_file
    for i, identity in enumerate(config.signer.smime.identities):
        for name in ("key", "pkcs12", "passphrase_file"):
            path = getattr(identity, name)
            if path is not None:
                yield f"signer.smime.identities[{i}].{name}", path
    for where, path in (("audit.keys_dir", config.audit.keys_dir / "audit-checkpoint.key"),
                        ("web cookie key", config.data_dir / "keys" / "web-cookie.key")):
        if path.exists():
            yield where, path


def check_keys(config: Settings) -> Iterator[Finding]:
    """Every private key (and passphrase) file is readable and private (0600 or 0400)."""
    for where, path in _key_files(config):
        try:
            info = path.stat()
            with path.open("rb"):
                pass
        except OSError as exc:
            yield _error(where, f"{path}: cannot read it ({exc.strerror})",
                         f"check that the file exists and `chown congvu {path}`")
            continue
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            yield _error(where, f"{path} has mode {mode:04o}: group or others can read or "
                         "write the private key", f"chmod 600 {path}")
        else:
            yield _ok(where, f"{path} is readable and private ({mode:04o})")


def check_audit_keys(config: Settings) -> Iterator[Finding]:
    """Which checkpoint keys `audit verify` trusts: pinned, or only this server's own."""
    where = "audit.checkpoint_public_keys"
    pins = config.audit.checkpoint_public_keys
    try:
        own = own_public_key(config.audit.keys_dir)
        trust = config.audit.key_trust()
    except AuditError as exc:
        yield _error(where, str(exc), "run the doctor as the congvu user")
        return
    mine = fingerprint(own) if own else None
    if not pins:
        pin = f'checkpoint_public_keys = ["{mine}"]' if mine else "the key's fingerprint"
        yield _warn(where, "no checkpoint key is pinned: verify trusts whatever key is in "
                    f"{config.audit.keys_dir / 'audit-checkpoint.key'}, so whoever can "
                    "replace it and the store can re-sign the log",
                    f"pin it under [audit]: {pin}, and give inspectors the same "
                    "fingerprint (congvu audit verify --key)")
    elif mine is not None and mine not in pins:
        yield _warn(where, f"this server's checkpoint key {mine} is not pinned: its "
                    "checkpoints count only if a pinned key's checkpoint enrolled it",
                    f"add {mine} if it is yours (after `congvu audit key rotate`)")
    else:
        yield _ok(where, f"{len(pins)} pinned key(s)" + (", this server's among them"
                                                        if mine else ""))
    if (config.audit.url is None and not config.audit.path.is_file()) or not trust.roots:
        return
    try:
        with AuditLog.open_readonly(config.audit, trust=trust) as log:
            accepted = log.accepted_keys(trust)
    except AuditError:
        return  # check_stores and `audit verify` name store problems
    for key, why in sorted(accepted.items()):
        if key not in trust.roots:
            yield _warn(where, f"the audit store's checkpoints of {key} count without a "
                        f"pin: {why}", f"pin {key} if you know it (another server, or a "
                        "rotation), so that a store rewritten under it would be noticed")


def check_report_summary(config: Settings) -> Iterator[Finding]:
    """The report's summary describes the audit log as it stands (else the report reads
    every record of a period: right, but a quarter takes minutes)."""
    where = "audit report summary"
    if config.audit.url is None and not config.audit.path.is_file():
        return
    try:
        with AuditLog.open_readonly(config.audit) as log:
            why = summary_behind(log)
    except AuditError:
        return  # check_stores, the shared store's check and `audit verify` name it
    if why is None:
        yield _ok(where, "the report's summary counts the whole log")
    else:
        yield _warn(where, f"the report's summary is behind the log: {why}; until it is "
                    "counted again the report reads every record (slow over a quarter)",
                    "run `congvu audit summary rebuild` (mail keeps flowing meanwhile)")


def check_stores(config: Settings) -> Iterator[Finding]:
    """The data directory and each store that is a file are writable by this user (the
    shared store's: doctor_store.py)."""
    stores = [("service.data_dir", config.data_dir)]
    if config.directory.url is None:
        stores.append(("directory.path", config.directory.path))
    if config.audit.url is None:
        stores.append(("audit.path", config.audit.path))
    if config.policies.quarantine.url is None:
        stores.append(("policies.quarantine.path", config.policies.quarantine.path))
    if config.next_hop.kind is NextHopKind.MAILDIR:
        stores.append(("next_hop.maildir", config.next_hop.maildir))
    for where, path in stores:
        target = path if path.exists() else path.parent
        if not target.exists():
            yield _warn(where, f"{path} does not exist yet",
                        "run `congvu serve` once (it creates the stores)")
        elif not os.access(target, os.W_OK):
            yield _error(where, f"{target} is not writable by this user",
                         f"chown -R congvu {target} (and check it is not mounted read-only)")
        else:
            yield _ok(where, f"{path} is writable")


#: Below this share of its filesystem free, a store's disk is a warning.
LOW_SPACE = 0.10


def check_disk_space(config: Settings) -> Iterator[Finding]:
    """Each filesystem the data directory and the file stores are on has room: less than
    the largest message congvu takes (``limits.max_message_size``) free, or no inode, and
    congvu answers 451 to mail it cannot record or keep (Postfix retries it; nothing moves
    until space is freed); less than a tenth free is a warning. One finding per filesystem,
    named by the first key on it."""
    stores = [("service.data_dir", config.data_dir)]
    if config.audit.url is None:
        stores.append(("audit.path", config.audit.path))
    if config.policies.quarantine.url is None:
        stores.append(("policies.quarantine.path", config.policies.quarantine.path))
    seen: set[int] = set()
    for where, path in stores:
        target = next((p for p in (path, *path.parents) if p.exists()), None)
        if target is None:
            continue
        space = os.statvfs(target)
        device = target.stat().st_dev
        if device in seen:
            continue
        seen.add(device)
        free = space.f_bavail * space.f_frsize
        size = space.f_blocks * space.f_frsize
        said = f"{_size(free)} free of {_size(size)}"
        fix = ("free space there (docs/runbooks.md, Disk full), then postqueue -f to retry "
               "the mail waiting in Postfix's queue")
        if free < config.limits.max_message_size or (space.f_files and not space.f_favail):
            what = "no inode left" if free >= config.limits.max_message_size else (
                "less than limits.max_message_size")
            yield _error(where, f"{target}: the disk is full ({said}, {what}): congvu answers "
                         "451 to mail it cannot record", fix)
        elif size and free < size * LOW_SPACE:
            yield _warn(where, f"{target}: {said}, less than {LOW_SPACE:.0%}", fix)
        else:
            yield _ok(where, f"{target}: {said}")


def _size(count: int) -> str:
    """Bytes for people: 512 B, 3.4 MB, 120.0 GB."""
    amount = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"


# -- DNS --------------------------------------------------------------------------------


def check_dkim_records(config: Settings) -> Iterator[Finding]:
    """Every key's record is published at its selector and publishes that key."""
    dkim = config.signer.dkim
    resolver = DnsResolver(dkim.resolver_nameserver, port=dkim.resolver_port,
                           timeout=dkim.resolver_timeout)
    for i, entry in enumerate(dkim.keys):
        where = f"signer.dkim.keys[{i}]"
        name = f"{entry.selector}._domainkey.{entry.domain}"
        try:
            key = load_private_key(entry.key_file, algorithm=Algorithm.from_name(entry.algorithm))
        except KeyFileError:
            continue  # check_keys and check_local name the key problem
        try:
            records = resolver.txt(name)
        except DnsTemporaryError as exc:
            yield _warn(where, f"selector {entry.selector}: {name} could not be looked up "
                        f"({exc.reason})", "check signer.dkim.resolver_nameserver and DNS")
            continue
        problems = compare_record(key, records)
        if problems:
            entry_text = zone_file_entry(entry.selector, entry.domain, key_record(key))
            yield _error(where, f"selector {entry.selector} of {entry.domain}: "
                         + "; ".join(problems),
                         f"publish {' '.join(entry_text.split())}")
        else:
            yield _ok(where, f"selector {entry.selector}: {name} publishes this key")


def check_spf_dmarc(config: Settings, server_ips: Sequence[str]) -> Iterator[Finding]:
    """SPF (for ``server_ips``) and DMARC of every signing domain."""
    dkim = config.signer.dkim
    resolver = CachingResolver(dkim.resolver_nameserver, port=dkim.resolver_port,
                               timeout=dkim.resolver_timeout)
    domains = dict.fromkeys(entry.domain.lower() for entry in dkim.keys)
    for domain in domains:
        problems = published_problems(domain, resolver=resolver, server_ips=server_ips)
        for problem in problems:
            yield _warn(f"dns {domain}", problem, "see deploy/dns/README.md")
        if not problems:
            checked = "SPF and DMARC" if server_ips else "DMARC (SPF: give --server-ip)"
            yield _ok(f"dns {domain}", f"{checked} published and consistent")


# -- next hop ---------------------------------------------------------------------------


def check_next_hop(config: Settings) -> Iterator[Finding]:
    """The next hop answers EHLO (smtp) or LHLO (lmtp) with 250."""
    hop = config.next_hop
    if hop.kind is NextHopKind.MAILDIR:
        return  # check_stores covers the maildir
    greeting = "LHLO" if hop.kind is NextHopKind.LMTP else "EHLO"
    try:
        # smtplib.LMTP's ehlo() sends LHLO (RFC 2033 4.1).
        client = (smtplib.LMTP if hop.kind is NextHopKind.LMTP else smtplib.SMTP)(
            timeout=hop.connect_timeout)
        client.connect(hop.host, hop.port)
        code, text = client.ehlo(config.service.hostname)
        try:
            client.quit()
        except smtplib.SMTPException:
            client.close()
    except (OSError, smtplib.SMTPException) as exc:
        yield _error("next_hop", f"{hop.kind.value} {hop.host}:{hop.port} is not reachable "
                     f"({exc})", "start Postfix's reinjection listener (deploy/postfix/"
                     "master.cf.snippet) or correct next_hop.host/port")
        return
    if code != 250:
        yield _error("next_hop", f"{hop.host}:{hop.port} answers {code} "
                     f"{text.decode('utf-8', 'replace')} to {greeting}",
                     "check the next hop's log")
    else:
        yield _ok("next_hop", f"{hop.kind.value} {hop.host}:{hop.port} answers 250")


# -- Postfix: milter/doctor_postfix.py ---------------------------------------------------


# -- certificates -----------------------------------------------------------------------

def _certificate_files(config: Settings) -> Iterator[tuple[str, Path]]:
    smime, documents = config.signer.smime, config.signer.documents
    for i, identity in enumerate(smime.identities):
        if identity.cert is not None:
            yield f"signer.smime.identities[{i}].cert", identity.cert
    for name, paths in (("signer.smime.trust_anchors", smime.trust_anchors),
                        ("signer.smime.intermediates", smime.intermediates),
                        ("signer.documents.trust_anchors", documents.trust_anchors),
                        ("signer.documents.intermediates", documents.intermediates)):
        for i, path in enumerate(paths):
            yield f"{name}[{i}]", path


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def check_certificates(config: Settings, *, now: dt.datetime,
                       days: int = EXPIRY_DAYS) -> Iterator[Finding]:
    """Certificates, CA files and CRLs: an error when expired, a warning within ``days``."""
    horizon = now + dt.timedelta(days=days)
    seen: set[Path] = set()
    for where, path in _certificate_files(config):
        if path in seen:
            continue
        seen.add(path)
        try:
            certs = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            yield _error(where, f"{path}: cannot read the certificates ({exc})",
                         "replace the file with the PEM the CA issued")
            continue
        yield from _expiry(where, path, [(c.subject.rfc4514_string(), c.not_valid_after_utc)
                                         for c in certs], now, horizon, "renew")
    crls = [*config.signer.smime.crls, *config.signer.documents.crls]
    for i, path in enumerate(dict.fromkeys(crls)):
        where = f"signer.crls[{i}]"
        try:
            crl = _load_crl(path.read_bytes())
        except (OSError, ValueError) as exc:
            yield _error(where, f"{path}: cannot read the CRL ({exc})",
                         "download the CRL from the CA again")
            continue
        if crl.next_update_utc is None:
            yield _warn(where, f"{path} has no next update time", "ask the CA for its CRL")
            continue
        yield from _expiry(where, path, [(crl.issuer.rfc4514_string(), crl.next_update_utc)],
                           now, horizon, "fetch a fresh CRL for")


def check_document_trust(config: Settings) -> Iterator[Finding]:
    """The members of the ``[signer.documents]`` and ``[signer.smime]`` trust presets:
    a warning for each one neither shipped nor installed (signatures under it cannot
    be valid)."""
    documents = config.signer.documents
    presets = config.signer.trust_presets
    if not presets:
        return
    where = "signer.documents.trust" if documents.trust else "signer.smime.trust"
    missing = missing_members(presets, documents.store_dir)
    for member in missing:
        yield _warn(where, f"{member.name} ({member.preset.value}) is not installed: "
                    "signatures (documents, S/MIME) under it cannot be valid",
                    "run `congvu document trust fetch` (or `trust add FILE` with the "
                    f"certificate, SHA-256 {member.sha256})")
    if not missing:
        names = ", ".join(p.value for p in presets)
        yield _ok(where, f"every member of the trust presets ({names}) is installed")


def _expiry(where: str, path: Path, items: list[tuple[str, dt.datetime]], now: dt.datetime,
            horizon: dt.datetime, verb: str) -> Iterator[Finding]:
    for subject, until in items:
        when = until.strftime("%Y-%m-%d %H:%M UTC")
        if until <= now:
            yield _error(where, f"{path}: {subject} expired on {when}", f"{verb} it")
        elif until <= horizon:
            left = (until - now).days
            yield _warn(where, f"{path}: {subject} expires on {when} (in {left} days)",
                        f"{verb} it before then")
        else:
            yield _ok(where, f"{path}: {subject} valid until {when}")


# -- the whole check --------------------------------------------------------------------


def run_checks(config: Settings, *, postfix_dir: Path | None = None,
               server_ips: Sequence[str] = (), days: int = EXPIRY_DAYS,
               now: dt.datetime | None = None) -> list[Finding]:
    """Every check, in order; Postfix only when ``postfix_dir`` is given."""
    now = now or dt.datetime.now(dt.UTC)
    findings = [*check_local(config), *check_spoof_guard(config), *check_keys(config),
                *check_audit_keys(config), *check_report_summary(config),
                *check_stores(config), *check_disk_space(config),
                *check_shared_store(config), *check_users_file(config), *check_system(),
                *check_dkim_records(config), *check_spf_dmarc(config, server_ips),
                *check_next_hop(config)]
    routes: list[Route] = []
    if postfix_dir is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            routes = read_routes(postfix_dir)  # check_postfix says why it cannot
    findings.extend(check_listeners(config.listeners, routes))
    if postfix_dir is not None:
        findings.extend(check_postfix(config, postfix_dir))
        findings.extend(check_queue(config.listeners, routes, postfix_dir, now=now))
    findings.extend(check_certificates(config, now=now, days=days))
    findings.extend(check_document_trust(config))
    return findings
