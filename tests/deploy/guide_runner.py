"""deploy/README.md run as written, on a server of its own: the runner of
tests/deploy/test_guide.py, started by it as

    unshare --mount --net --pid --fork --kill-child --mount-proc -- \
        sh -c '"$@"; exit $?' sh PYTHON guide_runner.py WORK TARBALL PREVIOUS

Inside those namespaces the paths the guide names are the real ones and so are the
ports (25, 587, 993, congvu's 10024 to 10027), and its processes end with it (a pid
namespace whose first process is the runner): /etc, /var, /opt and /usr/local are
overlays whose writes land in a tmpfs, and loopback is the namespace's own. So the
guide's commands run unchanged, as root, and afterwards the overlays' upper layers
say exactly what they changed on the "server"; nothing outside WORK changes on the
machine running the test.

Before the guide the runner sets up what its first paragraph assumes: a Postfix
(Debian's configuration, submission with SASL through Dovecot, STARTTLS) and a Dovecot
(IMAP over TLS, LMTP) for binhthuan.gov.vn, the national CA's files, a DNS server the
host resolves with, the bundle's tarball and the units' CSV in the administrator's
folder. Each ``sh`` block then runs with ``bash -e`` after the page's variable block,
with three stand-ins first on PATH: ``apt-get`` checks that the packages it is asked
for are installed instead of installing them, ``systemctl`` runs a unit's
ExecStartPre and ExecStart as its User (a timer's service once, at once), and
``journalctl`` prints what a unit logged. What the prose asks between the blocks
(append a ``toml`` block, edit Postfix's files with the snippets, publish the DNS
records) the runner does as the prose says, around the block it belongs to.

After the guide, the blocks of docs/runbooks.md run on the same server, the upgrade and
rollback last: the runner first puts the previous release (PREVIOUS, the tarball of a
bundle built from an earlier commit) in place with the rollback block's own commands,
then runs the page's upgrade to TARBALL and its rollback, sending a message from outside
after each step.

Everything it saw goes to WORK/result.json: each block's exit status, output and
duration, the mail checks after the last block, the files the guide created or
changed, and how long each stage took (``timings``).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from cryptography.hazmat.primitives import serialization  # noqa: E402

from support.dns import DnsServer  # noqa: E402
from support.docblocks import blocks  # noqa: E402
from support.dovecot import common_conf  # noqa: E402
from support.pki import TestPki  # noqa: E402

PAGE = ROOT / "deploy" / "README.md"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
DOMAIN = "binhthuan.gov.vn"
HOSTNAME = f"mail.{DOMAIN}"
CONSOLE = f"congvu.{DOMAIN}"
SERVER_IP = "203.0.113.25"
PASSWORDS = {f"{name}@{DOMAIN}": f"mat-khau-{name}" for name in ("sotc", "ubnd", "kiemtra")}
OVERLAID = ("/etc", "/var", "/opt", "/usr/local", "/run")
INSPECTORS = "# on the inspectors' machine"
PLACEHOLDER = "sha256:4869e8a1..."
DOCTOR = "runuser -u congvu -- congvu doctor"
UNITS_CSV = f"""id,name,parent,address,senders,dkim_domain
ubnd,Ủy ban nhân dân tỉnh Bình Thuận,,ubnd@{DOMAIN},ubnd@{DOMAIN},{DOMAIN}
sotc,Sở Tài chính,ubnd,sotc@{DOMAIN},sotc@{DOMAIN},{DOMAIN}
kiemtra,Hộp thư kiểm tra,ubnd,kiemtra@{DOMAIN},kiemtra@{DOMAIN},{DOMAIN}
"""


# -- the server's namespaces ------------------------------------------------------------

def overlay(work: Path) -> Path:
    """/etc, /var, /opt and /usr/local as overlays over a tmpfs; returns the tmpfs."""
    layers = work / "layers"
    layers.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "layers", str(layers)],
                   check=True)
    for path in OVERLAID:
        name = path.strip("/").replace("/", "-")
        upper, scratch = layers / name / "upper", layers / name / "work"
        upper.mkdir(parents=True)
        scratch.mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={path},upperdir={upper},workdir={scratch}", path], check=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return layers


def changed(layers: Path) -> list[str]:
    """The paths the overlays' upper layers hold, what was created or changed, each cut
    to its first four parts (/var/lib/congvu/audit.sqlite3, /opt/congvu/venvs/VERSION)."""
    found = set()
    for path in OVERLAID:
        upper = layers / path.strip("/").replace("/", "-") / "upper"
        for entry in upper.rglob("*"):
            if not entry.is_dir() or not any(entry.iterdir()):
                found.add("/".join(f"{path}/{entry.relative_to(upper)}".split("/")[:5]))
    return sorted(found)


class DnsOn53:
    """The test's DNS server, reached on port 53 as /etc/resolv.conf says (the support
    server takes a port the kernel picks): UDP and TCP passed through as they come."""

    def __init__(self, dns: DnsServer) -> None:
        self.target = ("127.0.0.1", dns.port)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 53))
        self.tcp = socket.create_server(("127.0.0.1", 53))
        for serve in (self._udp, self._tcp):
            threading.Thread(target=serve, daemon=True).start()

    def _udp(self) -> None:
        while True:
            query, client = self.udp.recvfrom(65535)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
                upstream.settimeout(5)
                upstream.sendto(query, self.target)
                self.udp.sendto(upstream.recv(65535), client)

    def _tcp(self) -> None:
        while True:
            client, _ = self.tcp.accept()
            with client, socket.create_connection(self.target, timeout=5) as upstream:
                length = client.recv(2)
                query = client.recv(int.from_bytes(length, "big"), socket.MSG_WAITALL)
                upstream.sendall(length + query)
                answer_length = upstream.recv(2, socket.MSG_WAITALL)
                answer = upstream.recv(int.from_bytes(answer_length, "big"), socket.MSG_WAITALL)
                client.sendall(answer_length + answer)


def wait_for_port(port: int, what: str, log: Path) -> None:
    deadline = time.monotonic() + 120  # a loaded machine starts Python slowly
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port}; see {log}") from None
            time.sleep(0.05)  # polling for a daemon to bind, not synchronization


# -- what the guide's first paragraph assumes: the province's mail server ------------------

def trust(cert: Path) -> None:
    """The server's certificate in the system's CA store, as one from a public or the
    government CA would be."""
    shutil.copy(cert, "/usr/local/share/ca-certificates/congvu-guide-test.crt")
    subprocess.run(["update-ca-certificates"], check=True, capture_output=True)


def tls_certificate(work: Path) -> tuple[Path, Path]:
    """The server's TLS certificate for mail and the console (self-signed: the probe and
    the test trust it as its own CA)."""
    tls = work / "tls"
    tls.mkdir()
    cert, key = tls / "mail.pem", tls / "mail.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                    "-subj", f"/CN={HOSTNAME}", "-addext",
                    f"subjectAltName=DNS:{HOSTNAME},DNS:{CONSOLE}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def start_dovecot(work: Path, cert: Path, key: Path) -> subprocess.Popen[bytes]:
    """Dovecot as a province runs it: IMAP over TLS on 993, LMTP and SASL for Postfix
    through sockets in Postfix's queue directory."""
    root = work / "dovecot"
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(parents=True)
    shutil.chown(root / "mail", "nobody", "nogroup")
    (root / "users").write_text("".join(f"{user}:{{PLAIN}}{password}\n"
                                        for user, password in PASSWORDS.items()))
    conf = root / "dovecot.conf"
    conf.write_text(common_conf(root, mail=root / "mail", log=root / "dovecot.log",
                                instance="guide",
                                tls=f"ssl = required\nssl_cert = <{cert}\nssl_key = <{key}") + f"""
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = 993
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener /var/spool/postfix/private/dovecot-lmtp {{
    mode = 0600
    user = postfix
    group = postfix
  }}
}}
service auth {{
  unix_listener /var/spool/postfix/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@{DOMAIN}
}}
""")
    process = subprocess.Popen(["dovecot", "-c", str(conf), "-F"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_port(993, "dovecot", root / "dovecot.log")
    return process


def start_postfix(cert: Path, key: Path) -> None:
    """Debian's Postfix as the province runs it before congvu: mail for the domain into
    Dovecot, submission with a login over STARTTLS."""
    conf = Path("/etc/postfix")
    Path("/var/spool/postfix/private").mkdir(parents=True, exist_ok=True)
    (conf / "main.cf").write_text(f"""compatibility_level = 3.6
myhostname = {HOSTNAME}
mydomain = {DOMAIN}
myorigin = $mydomain
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination = localhost
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
maillog_file = /var/log/postfix.log
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination
virtual_mailbox_domains = {DOMAIN}
virtual_transport = lmtp:unix:private/dovecot-lmtp
""")
    master = (conf / "master.cf").read_text()
    (conf / "master.cf").write_text(master + """
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
""")
    for action in ("check", "start"):
        subprocess.run(["script", "-qec", f"postfix {action}", "/dev/null"], check=True,
                       capture_output=True)
    wait_for_port(25, "postfix", Path("/var/log/postfix.log"))


def national_ca(pki: TestPki) -> None:
    """The files the government CA gives the province, where step 2's table names them:
    its root and issuing certificates, the issuing CA's CRL, and each signing unit's
    S/MIME certificate and key (the probe's test unit's among them)."""
    etc = Path("/etc/congvu")
    files = pki.write(etc / "ca")
    files.root.rename(etc / "ca" / "root.pem")
    files.intermediate.rename(etc / "ca" / "issuing.pem")
    crl = Path("/var/lib/congvu/crl/issuing.crl")
    crl.parent.mkdir(parents=True)
    # a CRL as the CA publishes it, valid beyond doctor's 30 days of notice
    crl.write_bytes(pki.crl(next_update=pki.now + dt.timedelta(days=60)).public_bytes(
        serialization.Encoding.PEM))
    files.crl.unlink()
    files.root_crl.unlink()
    for unit in ("sotc", "kiemtra"):
        pki.issue(f"{unit}@{DOMAIN}").write(etc / "smime", unit)


# -- the stand-ins for a booted system ----------------------------------------------------

def stand_ins(work: Path) -> Path:
    """apt-get, systemctl and journalctl, first on PATH for the blocks."""
    bin_ = work / "bin"
    bin_.mkdir()
    for name in ("apt-get", "systemctl", "journalctl"):
        (bin_ / name).write_text(
            f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(__file__)} "
            f"--stand-in {name} {shlex.quote(str(work))} \"$@\"\n")
        (bin_ / name).chmod(0o755)
    return bin_


def apt_get(args: list[str]) -> int:
    """Package installation is checked, not run: every package asked for is installed."""
    assert args[0] == "install", args
    missing = [name for name in args[1:] if not name.startswith("-") and subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True,
        check=False).stdout != "install ok installed"]
    print(f"apt-get (checked, not run): {len(args) - 1} packages, missing: {missing}")
    return 1 if missing else 0


def unit_file(name: str) -> dict[str, list[str]]:
    """The [Service] settings of an installed unit, each key's values in order."""
    settings: dict[str, list[str]] = {}
    section = ""
    path = Path("/etc/systemd/system", name)
    if not path.exists():
        path = Path("/lib/systemd/system", name)  # a Debian package's unit (nginx)
    for line in path.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#") and section == "Service":
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def exec_line(value: str) -> list[str]:
    """A systemd Exec line as argv: its own escapes undone, no shell."""
    return shlex.split(value.lstrip("-").replace("%%", "%").replace("$$", "$"))


def as_user(settings: dict[str, list[str]], argv: list[str]) -> list[str]:
    env = [f"{assignment}" for line in settings.get("Environment", [])
           for assignment in shlex.split(line)]
    return ["runuser", "-u", settings.get("User", ["root"])[0], "--", "env", *env, *argv]


def state_directories(settings: dict[str, list[str]]) -> None:
    """What systemd makes before it starts a unit: its StateDirectory, owned by User."""
    if "StateDirectory" not in settings:
        return
    mode = int(settings.get("StateDirectoryMode", ["0755"])[0], 8)
    for name in " ".join(settings.get("StateDirectory", [])).split():
        path = Path("/var/lib", name)
        path.mkdir(parents=True, exist_ok=True)
        shutil.chown(path, settings["User"][0], settings["Group"][0])
        path.chmod(mode)


def start(work: Path, name: str) -> int:
    settings = unit_file(name)
    state_directories(settings)
    log = work / "journal" / f"{name}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("ab") as out:
        for pre in settings.get("ExecStartPre", []):
            done = subprocess.run(as_user(settings, exec_line(pre)), stdout=out, stderr=out,
                                  check=False)
            if done.returncode != 0:
                print(f"{name}: ExecStartPre failed ({done.returncode}); see journalctl")
                return 1
        argv = as_user(settings, exec_line(settings["ExecStart"][0]))
        if settings.get("Type", ["simple"])[0] == "oneshot":
            return subprocess.run(argv, stdout=out, stderr=out, check=False).returncode
        if settings.get("Type", ["simple"])[0] == "forking":
            status = subprocess.run(argv, stdout=out, stderr=out, check=False).returncode
            pid = Path(settings["PIDFile"][0]).read_text().strip() if status == 0 else ""
            (work / "journal" / f"{name}.pid").write_text(pid)
            return status
        process = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
    (work / "journal" / f"{name}.pid").write_text(str(process.pid))
    return 0


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has exited: its parent has not reaped it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(work: Path, name: str) -> int:
    pidfile = work / "journal" / f"{name}.pid"
    if pidfile.exists():
        os.killpg(int(pidfile.read_text()), signal.SIGTERM)
        deadline = time.monotonic() + 60
        while running(int(pidfile.read_text())):
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.05)  # waiting for a drained process to exit, not synchronization
        pidfile.unlink()
    return 0


def systemctl(work: Path, args: list[str]) -> int:
    verb, units = args[0], [a for a in args[1:] if not a.startswith("-")]
    if verb in ("daemon-reload", "list-timers"):
        return 0
    status = 0
    for unit in units:
        service = unit.removesuffix(".timer").removesuffix(".service") + ".service"
        if verb == "enable":
            if unit.endswith(".timer") or "--now" in args:
                # a timer's service, run once now: what it will do every night
                status |= start(work, service)
        elif verb == "start":
            status |= start(work, service)
        elif verb == "stop":
            status |= stop(work, service)
        elif verb == "restart":
            status |= stop(work, service) or start(work, service)
        elif verb == "reload" and not (work / "journal" / f"{service}.pid").exists():
            status |= start(work, service)  # reload-or-start: nginx before its first site
        elif verb == "reload":
            reload = unit_file(service).get("ExecReload", ["/bin/kill -HUP $MAINPID"])[0]
            pid = (work / "journal" / f"{service}.pid").read_text()
            status |= subprocess.run(exec_line(reload.replace("$MAINPID", pid)),
                                     check=False).returncode
        else:
            raise AssertionError(f"systemctl {verb}: not a verb the guide should need")
    return status


def journalctl(work: Path, args: list[str]) -> int:
    unit = args[args.index("-u") + 1]
    lines = (work / "journal" / f"{unit.removesuffix('.service')}.service.log").read_text(
        errors="replace").splitlines()
    print("\n".join(lines[-int(args[args.index("-n") + 1]):] if "-n" in args else lines))
    return 0


# -- the page -----------------------------------------------------------------------------

def run_block(work: Path, variables: str, body: str) -> dict[str, Any]:
    """One block in a shell of its own after the variables, as root in the administrator's
    folder; what it reads from the terminal is the test mailbox's password."""
    script = f"{variables}\n{body}"
    env = {"PATH": f"{work / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
    if body.startswith(INSPECTORS):
        env["CONGVU_CONFIG"] = "none"  # their machine has no configuration of this server's
    started = time.monotonic()
    done = subprocess.run(["bash", "-e", "-c", script], cwd=work / "admin", env=env,
                          input=(PASSWORDS[f"kiemtra@{DOMAIN}"] + "\n") * 3, capture_output=True,
                          text=True, timeout=600, check=False)
    with (work / "progress.log").open("a") as progress:  # read by the test if the run hangs
        progress.write(f"{time.monotonic() - started:7.1f} s  exit {done.returncode}  "
                       f"{body.splitlines()[0][:70]}\n")
    return {"block": body, "status": done.returncode, "stdout": done.stdout,
            "stderr": done.stderr, "seconds": round(time.monotonic() - started, 1)}


def append_toml(body: str) -> None:
    with Path("/etc/congvu/congvu.toml").open("a") as config:
        config.write("\n" + body)


def edit_postfix() -> None:
    """Step 6a's prose: main.cf.snippet appended to main.cf; in master.cf the stock
    smtp inet and submission inet services replaced by the snippet's, the rest appended;
    unknown recipients refused with the published recipients map (its first choice)."""
    snippets = Path("/opt/congvu/deploy/postfix")
    conf = Path("/etc/postfix")
    with (conf / "main.cf").open("a") as main:
        main.write("\n" + (snippets / "main.cf.snippet").read_text())
    master = (conf / "master.cf").read_text()
    for service in ("smtp", "submission"):
        # a service is its first line and the indented -o lines under it
        master = re.sub(rf"(?m)^{service}\s+inet\s.*\n(?:[ \t]+.*\n)*", "", master)
    (conf / "master.cf").write_text(master + "\n" + (snippets / "master.cf.snippet").read_text())


def after_block(index: int, body: str, ran: dict[str, Any], dns: DnsServer,
                page: list[tuple[str, str]]) -> None:
    """What the prose after a block asks for."""
    if "dkim keygen" in body:
        record = ran["stdout"]
        name = record.split(None, 1)[0].rstrip(".")
        dns.add_txt(name, "".join(re.findall(r'"([^"]*)"', record.split(" IN TXT ", 1)[1])))
        dns.add_txt(DOMAIN, f"v=spf1 ip4:{SERVER_IP} -all")
        dns.add_txt(f"_dmarc.{DOMAIN}", f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{DOMAIN}")


def before_block(work: Path, body: str, page: list[tuple[str, str]], index: int,
                 fingerprint: Callable[[], str]) -> None:
    """What the prose before a block asks for: the toml blocks between the previous
    ``sh`` block and this one appended to congvu.toml, Postfix's files edited."""
    for language, text in reversed(page[:index]):
        if language == "sh":
            break
        if language == "toml":
            append_toml(text.replace(PLACEHOLDER, fingerprint())
                        if "checkpoint_public_keys" in text else text)
    if body.startswith("postfix -c"):
        edit_postfix()
    if "nginx -t" in body:
        # the console's certificate, where the prose says
        Path("/etc/ssl/congvu").mkdir(parents=True)
        shutil.copy(work / "tls" / "mail.pem", "/etc/ssl/congvu/fullchain.pem")
        shutil.copy(work / "tls" / "mail.key", "/etc/ssl/congvu/privkey.pem")
        Path("/etc/ssl/congvu/privkey.pem").chmod(0o600)
    if body.startswith(INSPECTORS):
        # what they were given: a copy of the store and the exported checkpoint
        keep_store(Path("/var/lib/congvu/audit.sqlite3"), work / "admin" / "audit-copy.sqlite3")
        shutil.copy("/var/lib/congvu/checkpoints/first.json", work / "admin")


def keep_store(store: Path, copy: Path) -> None:
    """A consistent copy of a SQLite store (its WAL included)."""
    source, target = sqlite3.connect(store), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def mail_checks(work: Path) -> dict[str, Any]:
    """After the guide: mail from outside to an unknown recipient is refused at RCPT and
    nothing is queued; a forged provincial sender is refused in the session; a message
    to a unit reaches its mailbox through congvu."""
    result: dict[str, Any] = {}
    with smtplib.SMTP("127.0.0.1", 25, timeout=30) as smtp:
        smtp.ehlo("mx.example.org")
        smtp.mail("someone@example.org")
        result["unknown_rcpt"] = list(smtp.rcpt(f"nobody@{DOMAIN}"))
        smtp.rset()
        smtp.mail("forger@example.org")
        smtp.rcpt(f"sotc@{DOMAIN}")
        result["forged"] = list(smtp.data(
            f"From: ubnd@{DOMAIN}\r\nTo: sotc@{DOMAIN}\r\nSubject: gia mao\r\n"
            f"Message-ID: <forged@example.org>\r\n\r\nbody\r\n".encode()))
        smtp.rset()
        smtp.mail("someone@example.org")
        smtp.rcpt(f"sotc@{DOMAIN}")
        result["delivered"] = list(smtp.data(
            f"From: someone@example.org\r\nTo: sotc@{DOMAIN}\r\nSubject: cong van\r\n"
            f"Message-ID: <outside@example.org>\r\n\r\nbody\r\n".encode()))
    result = {key: [value[0], value[1].decode()] for key, value in result.items()}
    mailbox = work / "dovecot" / "mail" / DOMAIN / "sotc"
    deadline = time.monotonic() + 60
    while not list(mailbox.glob("new/*")) and time.monotonic() < deadline:
        time.sleep(0.2)  # polling a mailbox for a delivery, not synchronization
    result["sotc_mailbox"] = [p.read_text(errors="replace") for p in mailbox.glob("new/*")]
    # once the message is delivered: nothing else waits, no bounce was made
    while _queue() and time.monotonic() < deadline:
        time.sleep(0.2)  # polling Postfix's queue for the delivery to finish
    result["queue"] = _queue()
    return result


def _queue() -> list[dict[str, Any]]:
    queue = subprocess.run(["postqueue", "-j"], capture_output=True, text=True, check=False)
    return [json.loads(line) for line in queue.stdout.splitlines()]


def console(work: Path) -> dict[str, Any]:
    """The console through nginx over TLS, as a browser reaches it once it has started
    (Type=exec: systemctl returns before it listens)."""
    wait_for_port(8080, "congvu web", work / "journal" / "congvu-web.service.log")
    context = ssl.create_default_context(cafile=str(work / "tls" / "mail.pem"))
    seen: dict[str, Any] = {}
    for path in ("/", "/login"):
        connection = http.client.HTTPSConnection(CONSOLE, 443, context=context, timeout=30)
        connection.request("GET", path)
        response = connection.getresponse()
        seen[path] = {"status": response.status, "body": response.read().decode(errors="replace"),
                      "cookies": response.headers.get_all("Set-Cookie") or []}
        connection.close()
    plain = http.client.HTTPConnection(CONSOLE, 80, timeout=30)
    plain.request("GET", "/login")
    answer = plain.getresponse()
    seen["http"] = {"status": answer.status, "location": answer.getheader("Location")}
    plain.close()
    return seen


# -- the runbooks, on the server the guide set up ------------------------------------------

def sections(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The page's ``##`` sections, each with its fenced blocks."""
    parts = re.split(r"(?m)^## ", text)
    return [(part.split("\n", 1)[0], blocks(part)) for part in parts[1:]]


def assignments(body: str) -> list[str]:
    """The shell variables a block sets (NAME=...), which the next blocks of its section
    use as the administrator's shell would keep them."""
    return [line for line in body.replace("\\\n", " ").splitlines()
            if re.match(r"[A-Z_]+=", line)]


def send(port: int, sender: str, recipient: str, subject: str) -> tuple[int, str]:
    """One message from outside, From the envelope sender; the reply to its DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("mx.example.org")
        smtp.mail(sender)
        smtp.rcpt(recipient)
        code, reply = smtp.data(f"From: {sender}\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
                                f"Message-ID: <{subject}@example.org>\r\n\r\nbody\r\n".encode())
    return code, reply.decode()


def in_mailbox(work: Path, user: str, subject: str) -> bool:
    """Whether a message with ``subject`` reaches ``user``'s mailbox within a minute."""
    mailbox = work / "dovecot" / "mail" / DOMAIN / user
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(f"Subject: {subject}" in p.read_text(errors="replace")
               for p in mailbox.glob("*/*")):
            return True
        time.sleep(0.2)  # polling a mailbox for a delivery, not synchronization
    return False


def hold_a_message(work: Path) -> None:
    """Internal mail with an executable: congvu refuses it behind the queue, so it is
    held in quarantine (no bounce)."""
    message = (f"From: scanner@{HOSTNAME}\r\nTo: sotc@{DOMAIN}\r\nSubject: held\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
               "--b\r\nContent-Type: text/plain\r\n\r\nscan\r\n--b\r\n"
               "Content-Type: application/octet-stream\r\n"
               'Content-Disposition: attachment; filename="setup.exe"\r\n'
               "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAA=\r\n--b--\r\n")
    subprocess.run(["sendmail", "-f", f"scanner@{HOSTNAME}", f"sotc@{DOMAIN}"],
                   input=message.encode(), check=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        # the quarantine's index, read as the runbook's `quarantine list` will (a sqlite
        # query instead of a congvu command: each of those costs a second of start-up)
        if held_messages():
            return
        subprocess.run(["postqueue", "-f"], check=False)
        time.sleep(0.5)  # polling the quarantine for the held message
    raise RuntimeError("the executable was never held; see /var/log/postfix.log")


def held_messages() -> int:
    index = Path("/var/lib/congvu/quarantine/index.sqlite3")
    if not index.exists():
        return 0
    conn = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM held").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not made yet
        return 0
    finally:
        conn.close()


def chained(statement: str, *args: Any) -> Any:
    conn = sqlite3.connect("/var/lib/congvu/audit.sqlite3")
    try:
        with conn:
            return conn.execute(statement, args).fetchone()
    finally:
        conn.close()


def bundle_names(body: str, current: str, previous: str) -> str:
    """The upgrade's block naming the bundles, with the two this test has: the page's
    example names stand for the administrator's."""
    body = re.sub(r"(?m)^OLD=\S+", f"OLD={previous}", body)
    return re.sub(r"(?m)^NEW=\S+", f"NEW={current}", body)


def upgrade_step(work: Path, result: dict[str, Any], step: str) -> None:
    """After a step of the upgrade: once congvu listens, a message from outside, its
    delivery, the release that handled it and the records the store has of it."""
    wait_for_port(10024, "congvu", work / "journal" / "congvu.service.log")
    subject = f"upgrade-{step}"
    reply = send(25, "someone@example.org", f"sotc@{DOMAIN}", subject)
    # the installed distribution's version, read from its metadata (not `congvu
    # --version`: a second of start-up each)
    [metadata] = Path("/opt/congvu/venv/lib").glob("python3.*/site-packages/"
                                                  "congvu_mail-*.dist-info/METADATA")
    version = re.search(r"(?m)^Version: (\S+)$", metadata.read_text())[1]  # type: ignore[index]
    result.setdefault("upgrade", {})[step] = {
        "reply": reply, "delivered": in_mailbox(work, "sotc", subject), "version": version,
        "records": chained("SELECT count(*) FROM events WHERE message_id = ?",
                           f"<{subject}@example.org>")[0]}


def run_runbooks(work: Path, variables: str, dns: DnsServer,
                 result: dict[str, Any], bundles: tuple[str, str]) -> None:
    """Every ``sh`` block of docs/runbooks.md, in order, on the server the guide left,
    with what each runbook's situation needs made first (a held message, a stopped
    filter, an altered audit row) and what the prose asks between blocks done."""
    ran: list[dict[str, Any]] = []
    result["runbooks"] = ran
    tampered: Any = None
    for _title, page in sections(RUNBOOKS.read_text("utf-8")):
        kept: list[str] = []
        for language, body in page:
            if language != "sh" or body == variables:
                continue
            if body.startswith("OLD="):
                body = bundle_names(body, *bundles)
                # the server runs the previous release first: the rollback block's
                # commands put it in place, then it takes a message
                rollback = next(text for kind, text in page if '"$OLD/install.sh"' in text)
                previous = run_block(work, f"{variables}\n{body}", rollback)
                result["upgrade"] = {"previous_install": previous}
                if previous["status"] != 0:
                    ran.append(previous)
                    return
                upgrade_step(work, result, "before")
            if body.startswith("runuser -u congvu -- congvu quarantine list"):
                hold_a_message(work)
            if "content_filter=" in body:
                stop(work, "congvu.service")  # the fault that calls for the bypass
            if "congvu-evidence" in body:
                tampered = chained("SELECT seq, subject FROM events WHERE subject IS NOT NULL"
                                   " ORDER BY seq LIMIT 1")
                chained("UPDATE events SET subject = ? WHERE seq = ?", "sửa", tampered[0])
            block = run_block(work, variables + "\n" + "\n".join(kept), body)
            ran.append(block)
            if block["status"] != 0:
                return
            kept += assignments(body)
            if "congvu dkim rotate" in body:
                record = block["stdout"]
                name = record.split(None, 1)[0].rstrip(".")
                dns.add_txt(name, "".join(re.findall(r'"([^"]*)"',
                                                     record.split(" IN TXT ", 1)[1])))
            if "congvu audit key rotate" in body:
                new = re.search(r"new key (sha256:[0-9a-f]{64})", block["stdout"])
                config = Path("/etc/congvu/congvu.toml")
                config.write_text(config.read_text().replace(
                    "checkpoint_public_keys = [", f'checkpoint_public_keys = ["{new[1]}", ', 1)
                    if new else config.read_text())
                stop(work, "congvu.service")
                start(work, "congvu.service")
                wait_for_port(10024, "congvu", work / "journal" / "congvu.service.log")
            if "congvu quarantine release" in body:
                result["released"] = in_mailbox(work, "sotc", "held")
            if "content_filter=" in body:
                result["bypassed"] = {
                    "port_25": send(25, "someone@example.org", f"sotc@{DOMAIN}", "bypassed"),
                    "delivered": in_mailbox(work, "sotc", "bypassed")}
            if "congvu-evidence" in body:
                chained("UPDATE events SET subject = ? WHERE seq = ?", tampered[1], tampered[0])
            if '"$NEW/install.sh"' in body:
                upgrade_step(work, result, "upgraded")
            if '"$OLD/install.sh"' in body:
                upgrade_step(work, result, "rolled-back")
            if body.startswith("runuser -u congvu -- congvu audit verify\n"):
                # what the release rolled back to read: its verify and query
                result["upgrade"]["read"] = block
            if "main.cf.with-congvu\" \"$POSTFIX_CONF/main.cf\"" in body:
                wait_for_port(10024, "congvu", work / "journal" / "congvu.service.log")
                # congvu is in the path again: a forged provincial sender is refused
                result["returned"] = send(25, f"ubnd@{DOMAIN}", f"sotc@{DOMAIN}", "back")
    wait_for_port(10024, "congvu", work / "journal" / "congvu.service.log")
    result["after_runbooks"] = {
        "port_25": send(25, "someone@example.org", f"sotc@{DOMAIN}", "after-runbooks"),
        "delivered": in_mailbox(work, "sotc", "after-runbooks")}


class Stages:
    """How long each stage of the run took, in result["timings"]: where the test's
    time goes (the blocks have their own ``seconds``)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.timings: list[list[Any]] = result.setdefault("timings", [])
        self.started = time.monotonic()

    def done(self, stage: str) -> None:
        now = time.monotonic()
        self.timings.append([stage, round(now - self.started, 1)])
        self.started = now


def run(work: Path, tarball: Path, previous: Path, result: dict[str, Any]) -> None:
    stages = Stages(result)
    layers = overlay(work)
    (work / "admin").mkdir()
    shutil.copy(tarball, work / "admin")
    shutil.copy(previous, work / "admin")
    (work / "admin" / "units.csv").write_text(UNITS_CSV)
    stand_ins(work)
    cert, key = tls_certificate(work)
    trust(cert)
    Path("/etc/resolv.conf").unlink(missing_ok=True)
    Path("/etc/resolv.conf").write_text("nameserver 127.0.0.1\n")
    dns = DnsServer()
    dns.start()
    DnsOn53(dns)
    dns.add_a(HOSTNAME, "127.0.0.1")
    dns.add_a(CONSOLE, "127.0.0.1")
    dovecot = start_dovecot(work, cert, key)
    result["blocks"] = []
    try:
        start_postfix(cert, key)
        national_ca(TestPki.create())
        before = set(changed(layers))
        stages.done("the server before the guide: DNS, TLS, Dovecot, Postfix, the CA")
        page = blocks(PAGE.read_text("utf-8"))
        variables = page[0][1]
        printed: list[str] = []

        def fingerprint() -> str:
            """The checkpoint key's, once a block printed it (the comment that shows it
            in the export's own block stays as it is)."""
            return next((m for text in printed
                         for m in re.findall(r"key (sha256:[0-9a-f]{64})", text)), PLACEHOLDER)

        for index, (language, body) in enumerate(page[1:], start=1):
            if language != "sh":
                continue
            before_block(work, body, page, index, fingerprint)
            if PLACEHOLDER in body:
                body = body.replace(PLACEHOLDER, fingerprint())
            ran = run_block(work, variables, body)
            result["blocks"].append(ran)
            printed.append(ran["stdout"] + ran["stderr"])
            # doctor's 1 is "warnings only": the test reads which
            if ran["status"] != 0 and not (body.startswith(DOCTOR) and ran["status"] == 1):
                # what the mail system said about it, for the failure message
                ran["logs"] = {str(log): log.read_text(errors="replace")[-3000:]
                               for log in (Path("/var/log/postfix.log"),
                                           work / "dovecot" / "dovecot.log") if log.exists()}
                break
            after_block(index, body, ran, dns, page)
        else:
            stages.done("the guide's blocks")
            result["mail"] = mail_checks(work)
            stages.done("mail checks")
            result["console"] = console(work)
            stages.done("the console")
        # what the guide changed (the runbooks after it change more, as they say)
        result["setup"] = sorted(before)
        result["changed"] = sorted(set(changed(layers)) - before)
        if "console" in result:
            run_runbooks(work, variables, dns, result,
                         (tarball.name.removesuffix(".tar.gz"),
                          previous.name.removesuffix(".tar.gz")))
            stages.done("the runbooks, upgrade and rollback")
    finally:
        for pidfile in (work / "journal").glob("*.pid") if (work / "journal").exists() else []:
            stop(work, pidfile.name.removesuffix(".pid"))
        subprocess.run(["postfix", "stop"], capture_output=True, check=False)
        subprocess.run(["nginx", "-s", "stop"], capture_output=True, check=False)
        os.killpg(dovecot.pid, signal.SIGTERM)
        dovecot.wait(timeout=30)
        dns.stop()
        stages.done("stopping")


def main(argv: list[str]) -> int:
    if argv[0] == "--stand-in":
        name, work, args = argv[1], Path(argv[2]), argv[3:]
        stand_in: dict[str, Callable[[], int]] = {
            "apt-get": lambda: apt_get(args), "systemctl": lambda: systemctl(work, args),
            "journalctl": lambda: journalctl(work, args)}
        return stand_in[name]()
    work, tarball, previous = Path(argv[0]), Path(argv[1]), Path(argv[2])
    result: dict[str, Any] = {}
    try:
        run(work, tarball, previous, result)
    except Exception:
        # the test shows it with whatever the blocks did before
        result["error"] = traceback.format_exc()
    (work / "result.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
