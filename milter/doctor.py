"""``congvu doctor``: check a running setup end to end, one line per check.

Where ``config check`` (and ``serve``) look only at what this host can check by itself,
the doctor also asks the outside world: DNS (DKIM key records, SPF, DMARC), the next
hop, Postfix's configuration (``postconf``), and how soon certificates, CA files and
CRLs expire. Each finding is OK, WARNING or ERROR, names its key path and says the
fix; the exit code is 0 when all is OK, 1 with warnings only, 2 with any error.
Nothing here changes state: stores are opened read-only or only stat'ed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import smtplib
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import click
from cryptography import x509

from audit import AuditError, AuditLog, fingerprint, own_public_key
from milter.checks import check_locally, spoof_guard_warnings
from milter.config import (
    CongvuConfig,
    ListenerConfig,
    NextHopKind,
    Protocol,
    QueuePosition,
    Role,
)
from milter.configsource import configured
from milter.errors import ConfigError
from signer import CachingResolver, DnsResolver, DnsTemporaryError, KeyFileError, published_problems
from signer.keys import Algorithm, compare_record, key_record, load_private_key, zone_file_entry

DEFAULT_POSTFIX_DIR = Path("/etc/postfix")
EXPIRY_DAYS = 30


class Level(IntEnum):
    """How bad one finding is; the worst one is the exit code."""

    OK = 0
    WARNING = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's outcome: its level, where (a key path or file), what, and the fix."""

    level: Level
    where: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """The one line the doctor prints for this finding."""
        text = f"{self.level.name:<7} {self.where}: {self.message}"
        return f"{text}; fix: {self.fix}" if self.fix else text


def _ok(where: str, message: str) -> Finding:
    return Finding(Level.OK, where, message)


def _warn(where: str, message: str, fix: str = "") -> Finding:
    return Finding(Level.WARNING, where, message, fix)


def _error(where: str, message: str, fix: str = "") -> Finding:
    return Finding(Level.ERROR, where, message, fix)


# -- local: configuration, keys, stores -------------------------------------------------


def check_local(config: CongvuConfig) -> Iterator[Finding]:
    """The same checks ``config check`` runs (they would stop ``serve``)."""
    problems = check_locally(config)
    for problem in problems:
        where, _, message = problem.partition(": ")
        yield _error(where, message or problem, "correct it in the configuration file, then "
                     "run `congvu config check`")
    if not problems:
        yield _ok("config", "valid; keys, certificates and stores load")


def check_spoof_guard(config: CongvuConfig) -> Iterator[Finding]:
    """A warning for each listener that takes inbound mail without the spoof guard."""
    warnings = spoof_guard_warnings(config)
    for warning in warnings:
        yield _warn(warning.where, warning.message, f"{warning.fix}, then reload (SIGHUP)")
    if not warnings:
        yield _ok("pipeline.stages", "the spoof guard (units, verify, dmarc) runs")


def _key_files(config: CongvuConfig) -> Iterator[tuple[str, Path]]:
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


def check_keys(config: CongvuConfig) -> Iterator[Finding]:
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


def check_audit_keys(config: CongvuConfig) -> Iterator[Finding]:
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
    if not config.audit.path.is_file() or not trust.roots:
        return
    try:
        with AuditLog.open_readonly(config.audit.path, trust=trust) as log:
            accepted = log.accepted_keys(trust)
    except AuditError:
        return  # check_stores and `audit verify` name store problems
    for key, why in sorted(accepted.items()):
        if key not in trust.roots:
            yield _warn(where, f"the audit store's checkpoints of {key} count without a "
                        f"pin: {why}", f"pin {key} if you know it (another server, or a "
                        "rotation), so that a store rewritten under it would be noticed")


def check_stores(config: CongvuConfig) -> Iterator[Finding]:
    """The data directory and each store are writable by this user."""
    stores = [("service.data_dir", config.data_dir),
              ("directory.path", config.directory.path),
              ("audit.path", config.audit.path),
              ("policies.quarantine.path", config.policies.quarantine.path)]
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


# -- DNS --------------------------------------------------------------------------------


def check_dkim_records(config: CongvuConfig) -> Iterator[Finding]:
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


def check_spf_dmarc(config: CongvuConfig, server_ips: Sequence[str]) -> Iterator[Finding]:
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


def check_next_hop(config: CongvuConfig) -> Iterator[Finding]:
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


# -- Postfix ----------------------------------------------------------------------------

_NEXT_HOP = re.compile(r"^(?P<transport>[^:]+):\[?(?P<host>[^\]]*?)\]?:(?P<port>\d+)$")


def _postconf(directory: Path, *args: str) -> str:
    done = subprocess.run(["postconf", "-c", str(directory), *args],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise OSError(done.stderr.strip() or f"postconf exited {done.returncode}")
    return done.stdout


def _service_params(directory: Path) -> dict[str, dict[str, str]]:
    """master.cf's ``-o`` overrides: service name -> parameter -> value."""
    services: dict[str, dict[str, str]] = {}
    for line in _postconf(directory, "-P").splitlines():
        name, eq, value = line.partition(" = ")
        if not eq and line.endswith(" ="):
            name, value = line[:-2], ""
        parts = name.split("/")
        if len(parts) == 3:
            services.setdefault(parts[0], {})[parts[2]] = value.strip()
    return services


def check_postfix(config: CongvuConfig, directory: Path) -> Iterator[Finding]:
    """Postfix sends mail to a congvu listener, takes it back with XFORWARD, and its size
    limit is not above congvu's; each listener sits where its ``queue`` says."""
    where = f"postfix {directory}"
    try:
        content_filter, size_text, bind_address = [*_postconf(
            directory, "-h", "content_filter", "message_size_limit", "smtp_bind_address",
        ).splitlines(), ""][:3]
        services = _service_params(directory)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        yield _error(where, f"postconf cannot read the configuration ({exc})",
                     "install Postfix or give --postfix-config DIR")
        return
    ports = {lst.port for lst in config.listeners if lst.protocol is Protocol.SMTP}
    filters = [("main.cf content_filter", content_filter.strip())] + [
        (f"master.cf {name} content_filter", params["content_filter"])
        for name, params in services.items() if params.get("content_filter")]
    to_congvu = []
    for label, value in filters:
        if not value:
            continue
        match = _NEXT_HOP.match(value)
        if match and int(match["port"]) in ports:
            to_congvu.append(match["transport"])
            yield _ok(where, f"{label} = {value} reaches a congvu listener")
            yield from _check_queue(config, where, label, int(match["port"]),
                                    QueuePosition.AFTER)
            yield from _check_clients(config, where, match["transport"], int(match["port"]),
                                      services.get(match["transport"], {}).get(
                                          "smtp_bind_address", bind_address.strip()))
        else:
            yield _warn(where, f"{label} = {value} is not a congvu listener (ports "
                        f"{', '.join(map(str, sorted(ports)))})",
                        "point it at a [[listeners]] port (deploy/postfix/main.cf.snippet)")
    proxies = [(name, params) for name, params in services.items()
               if params.get("smtpd_proxy_filter")]
    for name, params in proxies:
        value = params["smtpd_proxy_filter"]
        host_port = value.removeprefix("inet:").rpartition(":")
        if host_port[2].isdigit() and int(host_port[2]) in ports:
            to_congvu.append("")  # before-queue: smtpd sends XFORWARD by itself
            yield _ok(where, f"master.cf {name} smtpd_proxy_filter = {value} reaches a congvu "
                      "listener (before the queue)")
            label = f"master.cf {name} smtpd_proxy_filter"
            yield from _check_queue(config, where, label, int(host_port[2]),
                                    QueuePosition.BEFORE)
            yield from _check_proxy_clients(config, where, name, int(host_port[2]))
            yield from _check_proxy_timeout(config, where, name,
                                            params.get("smtpd_proxy_timeout", ""))
    if not to_congvu:
        yield _error(where, "no content_filter (or smtpd_proxy_filter) sends mail to congvu",
                     "add deploy/postfix/main.cf.snippet's content_filter and `postfix reload`")
    for transport in dict.fromkeys(filter(None, to_congvu)):
        if services.get(transport, {}).get("smtp_send_xforward_command") != "yes":
            yield _warn(where, f"master.cf transport {transport} does not send XFORWARD: "
                        "congvu sees Postfix, not the original client",
                        f"add -o smtp_send_xforward_command=yes under {transport}")
    yield from _check_port_25(config, where, directory, services, content_filter.strip())
    yield from _check_reinjection(config, where, services)
    yield from _check_size(config, where, size_text.strip())


def _listeners_on(config: CongvuConfig, port: int) -> list[ListenerConfig]:
    return [listener for listener in config.listeners
            if listener.port == port and listener.protocol is Protocol.SMTP]


def _check_queue(config: CongvuConfig, where: str, label: str, port: int,
                 position: QueuePosition) -> Iterator[Finding]:
    """A listener that takes inbound mail must sit where its ``queue`` says: behind the
    queue a 5xx becomes Postfix's bounce to a usually forged sender (backscatter), so
    there congvu holds or discards what it refuses; before the queue it answers the
    sending server, which holding would leave believing the mail was delivered. An
    outbound listener's ``queue`` changes nothing (its sender is ours) and is not checked.
    """
    for listener in _listeners_on(config, port):
        if listener.role is Role.OUTBOUND or listener.queue is position:
            continue
        if position is QueuePosition.AFTER:
            yield _error(where, f"{label} puts listener {listener.name} behind the queue, but "
                         'it has queue = "before": congvu answers its refusals 5xx and '
                         "Postfix bounces them to senders that are usually forged "
                         "(backscatter)",
                         f'set queue = "after" on listener {listener.name}, or reach it '
                         "with smtpd_proxy_filter instead")
        else:
            yield _error(where, f"{label} puts listener {listener.name} before the queue, but "
                         'it has queue = "after": congvu holds what it refuses and answers '
                         "250, so the sending server never learns of the refusal",
                         f'set queue = "before" on listener {listener.name}')


def _check_clients(config: CongvuConfig, where: str, transport: str, port: int,
                   bind_address: str) -> Iterator[Finding]:
    """The listener Postfix's transport reaches takes mail from it, and only from it."""
    for listener in config.listeners:
        if listener.port != port:
            continue
        if listener.clients is None:
            if listener.role is not Role.INBOUND:
                yield _warn(where, f"listener {listener.name} takes mail from any process on "
                            "this host, and its mail is signed as the province's",
                            f"add -o smtp_bind_address=127.0.0.25 under {transport} and "
                            f"clients = [\"127.0.0.25/32\"] to listener {listener.name}")
            continue
        try:
            source = ipaddress.ip_address(bind_address or "127.0.0.1")
        except ValueError:
            continue
        if not any(source in network for network in listener.clients):
            yield _error(where, f"master.cf {transport} connects from {source}, which "
                         f"listener {listener.name} refuses (clients)",
                         f"set -o smtp_bind_address under {transport} to an address in "
                         f"listener {listener.name}'s clients")
        else:
            yield _ok(where, f"listener {listener.name} takes mail only from {transport} "
                      f"({source})")


def _check_proxy_clients(config: CongvuConfig, where: str, service: str,
                         port: int) -> Iterator[Finding]:
    """Postfix's before-queue proxy cannot bind to an address of its own: it connects
    from 127.0.0.1, which the listener must take, and sends XFORWARD from there."""
    source = ipaddress.ip_address("127.0.0.1")
    for listener in _listeners_on(config, port):
        if listener.clients is not None and not any(
                source in network for network in listener.clients):
            yield _error(where, f"master.cf {service} smtpd_proxy_filter connects from "
                         f"{source}, which listener {listener.name} refuses (clients): every "
                         "message on that service is answered 451",
                         f'add "127.0.0.1/32" to listener {listener.name}\'s clients')
        elif listener.clients is None and listener.role is not Role.INBOUND:
            yield _warn(where, f"listener {listener.name} takes mail from any process on "
                        "this host, and its mail is signed as the province's",
                        f'set clients = ["127.0.0.1/32"] on listener {listener.name}')
        else:
            yield _ok(where, f"listener {listener.name} takes the proxy of master.cf "
                      f"{service} ({source})")
    if not any(source in network for network in config.service.xforward_hosts):
        yield _warn(where, f"service.xforward_hosts leaves out {source}, where master.cf "
                    f"{service}'s proxy connects from: congvu does not offer it XFORWARD and "
                    "never learns the original client (SPF, the audit record)",
                    'add "127.0.0.1/32" to service.xforward_hosts')


def _seconds(value: str) -> float | None:
    """A Postfix time value (``420s``, ``7m``; seconds without a unit) in seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    number, unit = (value[:-1], value[-1]) if value[-1:] in units else (value, "s")
    return float(number) * units[unit] if number.isdigit() else None


def _check_proxy_timeout(config: CongvuConfig, where: str, service: str,
                         value: str) -> Iterator[Finding]:
    """Postfix must wait for congvu's answer longer than congvu may wait for its next
    hop, or it answers 451 while congvu still relays (the sender's retry is a copy)."""
    seconds = _seconds(value or "100s")  # Postfix's default smtpd_proxy_timeout
    hop = config.next_hop.data_timeout
    if seconds is not None and seconds <= hop:
        yield _warn(where, f"master.cf {service} smtpd_proxy_timeout = {value or '100s'} is "
                    f"not above congvu's next_hop.data_timeout = {hop:g}s: Postfix may answer "
                    "451 while congvu still relays, and the sender's retry is delivered twice",
                    f"set -o smtpd_proxy_timeout= under {service} above {hop:g}s and below "
                    "600s (the sender's wait for the reply to its final dot)")


def _check_port_25(config: CongvuConfig, where: str, directory: Path,
                   services: dict[str, dict[str, str]],
                   content_filter: str) -> Iterator[Finding]:
    """Mail from the Internet (master.cf's smtp service, or the smtpd that postscreen
    passes it to) should reach congvu before the queue: behind it, what congvu refuses is
    held and the sending server is never told."""
    try:
        command = _postconf(directory, "-hF", "smtp/inet/command").strip()
    except (OSError, subprocess.SubprocessError):
        return
    if not command:  # no port-25 service on this host
        return
    front = "smtpd" if command == "postscreen" else "smtp"
    params = services.get(front, {})
    if params.get("smtpd_proxy_filter"):
        return
    match = _NEXT_HOP.match(params.get("content_filter", content_filter))
    if match is None:
        return
    for listener in _listeners_on(config, int(match["port"])):
        if listener.role is not Role.OUTBOUND and listener.queue is QueuePosition.AFTER:
            yield _warn(where, f"port 25 (master.cf {front}) reaches listener {listener.name} "
                        "behind the queue: what congvu refuses from the Internet is held, "
                        "never answered to the sending server",
                        f"give the {front} service deploy/postfix/master.cf.snippet's "
                        "smtpd_proxy_filter and content_filter= lines, and congvu.toml's "
                        "port-25 listener")


def _check_reinjection(config: CongvuConfig, where: str,
                       services: dict[str, dict[str, str]]) -> Iterator[Finding]:
    hop = config.next_hop
    if hop.kind is not NextHopKind.SMTP:
        return
    names = {f"{hop.host}:{hop.port}", f"[{hop.host}]:{hop.port}"}
    if hop.host in ("127.0.0.1", "localhost", "::1"):
        names.add(str(hop.port))
    found = [name for name in services if name in names]
    fix = "add deploy/postfix/master.cf.snippet's reinjection listener and `postfix reload`"
    if not found:
        yield _error(where, f"master.cf has no reinjection listener on {hop.host}:{hop.port} "
                     "with content_filter= (mail would loop through congvu)", fix)
        return
    params = services[found[0]]
    if params.get("content_filter", "missing") != "":
        yield _error(where, f"master.cf {found[0]} does not clear content_filter: checked mail "
                     "would go through congvu again", f"add -o content_filter= under {found[0]}")
    elif not params.get("smtpd_authorized_xforward_hosts"):
        yield _error(where, f"master.cf {found[0]} does not allow XFORWARD: the queue shows "
                     "congvu as every message's client",
                     f"add -o smtpd_authorized_xforward_hosts=127.0.0.0/8 under {found[0]}")
    else:
        yield _ok(where, f"reinjection listener {found[0]} clears content_filter and allows "
                  "XFORWARD")


def _check_size(config: CongvuConfig, where: str, size_text: str) -> Iterator[Finding]:
    limit = config.limits.max_message_size
    try:
        size = int(size_text)
    except ValueError:
        yield _warn(where, f"message_size_limit = {size_text!r} is not a number")
        return
    if size == 0 or size > limit:
        yield _error(where, f"message_size_limit = {size} is above congvu's "
                     f"limits.max_message_size = {limit}: Postfix would queue mail congvu "
                     "refuses", f"postconf -e message_size_limit={limit}")
    else:
        yield _ok(where, f"message_size_limit = {size} (congvu accepts {limit})")


# -- certificates, CA files, CRLs -------------------------------------------------------


def _certificate_files(config: CongvuConfig) -> Iterator[tuple[str, Path]]:
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


def check_certificates(config: CongvuConfig, *, now: dt.datetime,
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


def run_checks(config: CongvuConfig, *, postfix_dir: Path | None = None,
               server_ips: Sequence[str] = (), days: int = EXPIRY_DAYS,
               now: dt.datetime | None = None) -> list[Finding]:
    """Every check, in order; Postfix only when ``postfix_dir`` is given."""
    now = now or dt.datetime.now(dt.UTC)
    findings = [*check_local(config), *check_spoof_guard(config), *check_keys(config),
                *check_audit_keys(config), *check_stores(config),
                *check_dkim_records(config), *check_spf_dmarc(config, server_ips),
                *check_next_hop(config)]
    if postfix_dir is not None:
        findings.extend(check_postfix(config, postfix_dir))
    findings.extend(check_certificates(config, now=now, days=days))
    return findings


def _default_postfix_dir() -> Path | None:
    if (DEFAULT_POSTFIX_DIR / "main.cf").exists() and shutil.which("postconf"):
        return DEFAULT_POSTFIX_DIR
    return None


@click.command("doctor")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The congvu.toml file (default: the embedded defaults).")
@click.option("--postfix-config", "postfix_dir",
              type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Postfix's configuration directory (default: /etc/postfix if it exists).")
@click.option("--no-postfix", "skip_postfix", is_flag=True,
              help="Skip the Postfix checks (Postfix runs on another host).")
@click.option("--server-ip", "server_ips", multiple=True,
              help="An address our mail leaves from, for the SPF check (repeatable).")
@click.option("--days", type=click.IntRange(1, 365), default=EXPIRY_DAYS, show_default=True,
              help="Warn about certificates and CRLs that expire within this many days.")
def doctor_command(config_path: Path | None, postfix_dir: Path | None, skip_postfix: bool,
                   server_ips: tuple[str, ...], days: int) -> None:
    """Check a running setup: exit 0 all OK, 1 warnings only, 2 errors."""
    try:
        config, _ = configured(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(_error(exc.source, problem, "correct the configuration").line())
        sys.exit(Level.ERROR)
    for ip in server_ips:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
        except OSError as exc:
            raise click.BadParameter(f"{ip!r} is not an IP address",
                                     param_hint="--server-ip") from exc
    if not skip_postfix:
        postfix_dir = postfix_dir or _default_postfix_dir()
    findings = run_checks(config, postfix_dir=None if skip_postfix else postfix_dir,
                          server_ips=server_ips, days=days)
    for finding in findings:
        click.echo(finding.line())
    worst = max((finding.level for finding in findings), default=Level.OK)
    sys.exit(int(worst))
