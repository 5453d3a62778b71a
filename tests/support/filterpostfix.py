"""A private Postfix whose ``content_filter`` is congvu, after the queue, as
deploy/postfix/ sets it up for staff mail: every message it takes goes to congvu's
listener ``inbound`` over SMTP with XFORWARD, and waits in Postfix's queue while congvu
does not take it. With congvu's configuration for that listener; congvu itself is not
started (tests start it with support.process.ServeProcess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import postfix

CONGVU = Path(sys.executable).parent / "congvu"


class FilterPostfix:
    """Postfix on ``mta.port`` hands its mail to congvu's ``listener_port``; congvu's
    next hop is ``next_hop_port``. Postfix retries deferred mail every ``retry``
    seconds (or at ``postqueue -f``); ``relayhost`` takes nothing that skipped congvu."""

    def __init__(self, work: Path, *, data_dir: Path, next_hop_port: int, retry: int,
                 relayhost: str = "[127.0.0.1]:9", congvu_extra: str = "") -> None:
        self.listener_port = postfix.free_port()
        self.mta = postfix.PostfixInstance(
            relayhost=relayhost,
            main_extra=f"""
content_filter = congvu-in:[127.0.0.1]:{self.listener_port}
queue_run_delay = {retry}s
minimal_backoff_time = {retry}s
maximal_backoff_time = {2 * retry}s
""",
            master_extra="""
congvu-in unix  -       -       n       -       20      smtp
  -o smtp_send_xforward_command=yes
""")
        self.config = work / "congvu.toml"
        self.config.write_text(f"""
[service]
data_dir = "{data_dir}"
hostname = "mail.binhthuan.gov.vn"

[[listeners]]
name = "inbound"
role = "inbound"
port = {self.listener_port}

[next_hop]
kind = "smtp"
port = {next_hop_port}
{congvu_extra}
""", encoding="utf-8")

    def congvu(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A ``congvu`` command on this configuration."""
        return subprocess.run([str(CONGVU), *args, "--config", str(self.config)],
                              capture_output=True, text=True, timeout=120, check=False)

    def doctor(self) -> subprocess.CompletedProcess[str]:
        """``congvu doctor`` reading this Postfix's configuration and queue."""
        return self.congvu("doctor", "--postfix-config", str(self.mta.conf))

    def flush(self) -> None:
        """Postfix retries every deferred message now."""
        subprocess.run(["postqueue", "-c", str(self.mta.conf), "-f"], check=True)
