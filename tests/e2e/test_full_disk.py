"""A real full disk under congvu: its data directory on a tmpfs of a few megabytes,
filled to the last byte while a private Postfix hands it mail after the queue. The
message gets 451 (never 250 and never lost: it waits in Postfix's queue), ``doctor``
says the disk is full and that mail waits, and once space is freed the retry delivers
it, recorded, with the audit chain intact."""

from __future__ import annotations

import errno
import json
import shutil
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from congvu.config import load_config
from milter.doctor import check_disk_space
from milter.findings import Level
from support import postfix
from support.process import ServeProcess

pytestmark = pytest.mark.e2e

CONGVU = Path(sys.executable).parent / "congvu"
DISK = "4m"  # the data directory's tmpfs: the stores take about a megabyte


class FullDisk:
    """Postfix's content_filter is congvu's inbound listener, congvu's next hop a sink,
    and congvu's data directory a tmpfs of its own."""

    def __init__(self, work: Path) -> None:
        self.var = work / "var"
        self.var.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0700", "congvu-full",
                        str(self.var)], check=True)
        self.sink = postfix.SmtpSink()
        self.listener_port = postfix.free_port()
        self.mta = postfix.PostfixInstance(
            relayhost="[127.0.0.1]:9",  # nothing is relayed but through congvu
            main_extra=f"""
content_filter = congvu-in:[127.0.0.1]:{self.listener_port}
queue_run_delay = 300s
minimal_backoff_time = 300s
maximal_backoff_time = 300s
""",
            master_extra="""
congvu-in unix  -       -       n       -       20      smtp
  -o smtp_send_xforward_command=yes
""")
        self.config = work / "congvu.toml"
        self.config.write_text(f"""
[service]
data_dir = "{self.var}"
hostname = "mail.binhthuan.gov.vn"

[limits]
max_message_size = 1048576

[[listeners]]
name = "inbound"
role = "inbound"
port = {self.listener_port}

[next_hop]
kind = "smtp"
port = {self.sink.port}
""", encoding="utf-8")
        self.serving: ServeProcess | None = None

    def start(self) -> None:
        self.mta.start()
        self.serving = ServeProcess(self.config)
        # the worker opens the stores: the disk fills under a running filter
        self.serving.wait_for("worker ready")

    def stop(self) -> None:
        if self.serving is not None:
            self.serving.stop()
        self.mta.stop()
        self.sink.stop()
        subprocess.run(["umount", str(self.var)], check=False)

    def congvu(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CONGVU), *args, "--config", str(self.config)],
                              capture_output=True, text=True, timeout=120, check=False)



def fill(directory: Path) -> Path:
    """A file that takes every byte left on ``directory``'s filesystem."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as stream:
        while True:
            try:
                stream.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    # the last partial chunk: byte by byte down to nothing
    with filler.open("ab", buffering=0) as stream:
        while True:
            try:
                stream.write(b"\0" * 512)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return filler


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[FullDisk]:
    reason = postfix.missing() or (None if shutil.which("mount") else "mount is missing")
    if reason is not None:
        pytest.skip(f"LOUD SKIP: the full-disk test needs root, a real Postfix and a tmpfs: "
                    f"{reason}")
    made = FullDisk(tmp_path)
    try:
        made.start()
        yield made
    finally:
        made.stop()


def test_a_full_disk_defers_the_message_doctor_says_so_and_freed_space_delivers_it(
        disk: FullDisk) -> None:
    filler = fill(disk.var)
    assert shutil.disk_usage(disk.var).free < 4096

    with smtplib.SMTP("127.0.0.1", disk.mta.port, timeout=30) as client:
        client.sendmail("cv@example.org", ["vanthu@binhthuan.gov.vn"],
                        b"Subject: khi day dia\r\nMessage-ID: <full@example.org>\r\n\r\n"
                        b"Cong van gui khi dia day.\r\n")
    # congvu could not write the record: 451, the message stays in Postfix's queue
    message = disk.mta.wait_deferred("host 127.0.0.1[127.0.0.1] said: 451 ")
    assert disk.sink.count == 0

    doctor = disk.congvu("doctor", "--postfix-config", str(disk.mta.conf))
    assert doctor.returncode == 2, doctor.stdout + doctor.stderr
    [full] = [line for line in doctor.stdout.splitlines() if "free" in line
              and line.startswith("ERROR   service.data_dir")]
    assert f"{disk.var}: the disk is full" in full, full
    [waiting] = [line for line in doctor.stdout.splitlines()
                 if "wait in Postfix's queue for listener inbound" in line]
    assert f"({message['queue_id']})" in waiting and "said: 451 " in waiting, waiting

    filler.unlink()
    subprocess.run(["postqueue", "-c", str(disk.mta.conf), "-f"], check=True)
    disk.sink.wait_for(1)
    deadline = time.monotonic() + 60
    while disk.mta.queued() and time.monotonic() < deadline:
        time.sleep(0.2)  # polling Postfix's queue for the delivery to finish
    assert disk.mta.queued() == []
    assert disk.sink.count == 1

    verified = disk.congvu("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    found = disk.congvu("audit", "query", "--message-id", "full@example.org", "--format", "json")
    assert found.returncode == 0, found.stderr
    records = json.loads(found.stdout)["records"]
    assert [record["outcome"] for record in records] == ["relayed"], found.stdout
    # and doctor's disk check, run here, finds room again
    [room] = check_disk_space(load_config(disk.config))
    assert room.level is Level.OK and room.message.startswith(f"{disk.var}: "), room
