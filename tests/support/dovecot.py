"""A private Dovecot on loopback for tests: LMTP delivery in, IMAP out, SASL for Postfix.

Its configuration, state, log and mailboxes live in a directory of its own; mail is
stored as the unprivileged user nobody. Needs root and Debian's dovecot-imapd and
dovecot-lmtpd; callers skip loudly when ``missing()`` says why.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from support.postfix import free_port


def missing() -> str | None:
    """Why Dovecot-based tests cannot run here, or None when they can."""
    if shutil.which("dovecot") is None and not Path("/usr/sbin/dovecot").exists():
        return "Debian packages dovecot-imapd and dovecot-lmtpd are not installed"
    if not Path("/usr/lib/dovecot/lmtp").exists():
        return "Debian package dovecot-lmtpd is not installed"
    if os.geteuid() != 0:
        return "a private Dovecot instance needs root"
    return None


def common_conf(root: Path, *, mail: Path, log: Path, instance: str, tls: str) -> str:
    """The part of a test Dovecot's configuration every instance shares: its own
    directories, ``tls`` lines, maildirs under ``mail`` owned by nobody, and the users
    in ``root/users`` (plain passwords). Services follow it."""
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {log}
instance_name = {instance}
protocols = imap lmtp
listen = 127.0.0.1
{tls}
auth_mechanisms = plain login
mail_location = maildir:{mail}/%d/%n
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 65534
last_valid_uid = 65534
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={mail}/%d/%n
}}
"""


class DovecotInstance:
    """Dovecot with an IMAP port, an LMTP port and an auth port for Postfix's SASL."""

    def __init__(self, users: dict[str, str]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="congvu-dovecot-"))
        self.root.chmod(0o755)
        self.imap_port, self.lmtp_port, self.auth_port = free_port(), free_port(), free_port()
        self.mail = self.root / "mail"
        self.mail.mkdir()
        shutil.chown(self.mail, "nobody", "nogroup")
        (self.root / "state").mkdir()
        (self.root / "run").mkdir()
        (self.root / "users").write_text(
            "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in users.items()),
            encoding="utf-8",
        )
        self.log = self.root / "dovecot.log"
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(common_conf(self.root, mail=self.mail, log=self.log,
                                         instance=f"congvu-test-{self.imap_port}",
                                         tls="ssl = no\ndisable_plaintext_auth = no") + f"""
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0
  }}
}}
service auth {{
  inet_listener {{
    address = 127.0.0.1
    port = {self.auth_port}
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@localhost
}}
""", encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Run Dovecot in the foreground of a child process; wait for its ports."""
        self.process = subprocess.Popen(
            ["dovecot", "-c", str(self.conf), "-F"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        for port in (self.imap_port, self.lmtp_port, self.auth_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError(f"dovecot did not start; see {self.log}") from None
                    time.sleep(0.05)  # waiting for a daemon to bind, not synchronization

    def stop(self) -> None:
        """Stop Dovecot and remove its files."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        shutil.rmtree(self.root, ignore_errors=True)
