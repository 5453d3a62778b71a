"""A real full disk under congvu: its data directory on a tmpfs of a few megabytes,
filled to the last byte while a private Postfix hands it mail after the queue, under a
running congvu or before congvu starts. The message gets 451 (never 250 and never lost:
it waits in Postfix's queue), ``doctor`` says the disk is full and that mail waits, and
once space is freed the retry delivers it, recorded once, with the audit chain intact.
Started on the full disk, congvu listens all the same, answers 451 4.3.1, and opens its
stores by itself once there is room."""

from __future__ import annotations

import contextlib
import json
import shutil
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from congvu.config import load_config
from milter.doctor import check_disk_space
from milter.findings import Level
from milter.replies import R451_NO_SPACE
from support import fulldisk, postfix
from support.filterpostfix import FilterPostfix
from support.process import ServeProcess

pytestmark = pytest.mark.e2e

DISK = "4m"  # the data directory's tmpfs: the stores take about a megabyte


class FullDisk(FilterPostfix):
    """Postfix's content_filter is congvu's inbound listener, congvu's next hop a sink,
    and congvu's data directory a tmpfs of its own."""

    def __init__(self, work: Path, sink: postfix.SmtpSink) -> None:
        self.var = work / "var"
        self.sink = sink
        # doctor calls a disk full below limits.max_message_size free
        super().__init__(work, data_dir=self.var, next_hop_port=sink.port, retry=300,
                         congvu_extra="[limits]\nmax_message_size = 1048576")
        self.serving: ServeProcess | None = None

    def serve(self) -> ServeProcess:
        """``congvu serve`` on this configuration, stopped with the fixture."""
        self.stop_serving()
        self.serving = ServeProcess(self.config)
        return self.serving

    def stop_serving(self) -> None:
        if self.serving is not None:
            self.serving.stop()
            self.serving = None


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[FullDisk]:
    reason = postfix.missing() or fulldisk.missing()
    if reason is not None:
        pytest.skip(f"LOUD SKIP: the full-disk test needs root, a real Postfix and a tmpfs: "
                    f"{reason}")
    with contextlib.ExitStack() as stack:
        stack.enter_context(fulldisk.tmpfs(tmp_path / "var", size=DISK))
        sink = postfix.SmtpSink()
        stack.callback(sink.stop)
        made = FullDisk(tmp_path, sink)
        stack.callback(made.mta.stop)
        made.mta.start()
        stack.callback(made.stop_serving)
        yield made


def send(disk: FullDisk, message_id: str) -> None:
    with smtplib.SMTP("127.0.0.1", disk.mta.port, timeout=30) as client:
        client.sendmail("cv@example.org", ["vanthu@binhthuan.gov.vn"],
                        f"Subject: khi day dia\r\nMessage-ID: <{message_id}>\r\n\r\n"
                        "Cong van gui khi dia day.\r\n".encode())


def delivered_once(disk: FullDisk, message_id: str) -> None:
    """Postfix retries now: the message reaches the sink, leaves the queue, and has one
    record, relayed, in an audit chain that verifies."""
    disk.flush()
    disk.sink.wait_for(1)
    deadline = time.monotonic() + 60
    while disk.mta.queued() and time.monotonic() < deadline:
        time.sleep(0.2)  # polling Postfix's queue for the delivery to finish
    assert disk.mta.queued() == []
    assert disk.sink.count == 1

    verified = disk.congvu("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    found = disk.congvu("audit", "query", "--message-id", message_id, "--format", "json")
    assert found.returncode == 0, found.stderr
    records = json.loads(found.stdout)["records"]
    assert [record["outcome"] for record in records] == ["relayed"], found.stdout


def test_a_full_disk_defers_the_message_doctor_says_so_and_freed_space_delivers_it(
        disk: FullDisk) -> None:
    disk.serve().wait_for("worker ready")  # the stores open: the disk fills under it
    filler = fulldisk.fill(disk.var)
    assert shutil.disk_usage(disk.var).free < 4096

    send(disk, "full@example.org")
    # congvu could not write the record: 451, the message stays in Postfix's queue
    message = disk.mta.wait_deferred("host 127.0.0.1[127.0.0.1] said: 451 ")
    assert disk.sink.count == 0

    doctor = disk.doctor()
    assert doctor.returncode == 2, doctor.stdout + doctor.stderr
    [full] = [line for line in doctor.stdout.splitlines() if "free" in line
              and line.startswith("ERROR   service.data_dir")]
    assert f"{disk.var}: the disk is full" in full, full
    [waiting] = [line for line in doctor.stdout.splitlines()
                 if "wait in Postfix's queue for listener inbound" in line]
    assert f"({message['queue_id']})" in waiting and "said: 451 " in waiting, waiting

    filler.unlink()
    delivered_once(disk, "full@example.org")
    # and doctor's disk check, run here, finds room again
    [room] = check_disk_space(load_config(disk.config))
    assert room.level is Level.OK and room.message.startswith(f"{disk.var}: "), room


def test_started_on_a_full_disk_congvu_listens_defers_451_4_3_1_and_delivers_once_freed(
        disk: FullDisk) -> None:
    disk.serve().wait_for("worker ready")  # the stores exist, as after any earlier run
    disk.stop_serving()
    filler = fulldisk.fill(disk.var)
    serving = disk.serve()
    serving.wait_for("waiting for disk space")

    send(disk, "started-full@example.org")
    # congvu listens and says why: the message waits in Postfix's queue, never taken
    deferred = disk.mta.wait_deferred(
        f"host 127.0.0.1[127.0.0.1] said: {R451_NO_SPACE} (in reply to MAIL FROM command)")
    assert disk.sink.count == 0

    doctor = disk.doctor()
    assert doctor.returncode == 2, doctor.stdout + doctor.stderr
    assert (f"ERROR   listener inbound: congvu answers on 127.0.0.1:{disk.listener_port} but "
            "waits for disk space to open its stores") in doctor.stdout, doctor.stdout
    [waiting] = [line for line in doctor.stdout.splitlines()
                 if "wait in Postfix's queue for listener inbound" in line]
    assert f"({deferred['queue_id']})" in waiting and "said: 451 4.3.1 " in waiting, waiting

    filler.unlink()  # no restart: congvu's next attempt opens the stores
    serving.wait_for("disk space found, the stores open", timeout=90)
    # one line per attempt, which counts the messages deferred since the one before
    attempts = [line for line in serving.seen if line["event"] in (
        "still waiting for disk space", "disk space found, the stores open")]
    assert sum(line["deferred"] for line in attempts) == 1, attempts
    serving.wait_for("worker ready")
    delivered_once(disk, "started-full@example.org")
