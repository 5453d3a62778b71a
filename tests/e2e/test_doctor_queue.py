"""``congvu doctor`` against a private Postfix whose content_filter is congvu: congvu
stopped is an error naming main.cf's content_filter, and the mail waiting for it in the
queue is reported with its age (an error past 30 minutes); congvu running but answering
451 (its next hop down) leaves mail waiting too, found through the queue file."""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from milter.config import ListenerConfig
from milter.doctor_postfix import read_routes
from milter.doctor_service import check_queue
from milter.findings import Level
from support import postfix
from support.filterpostfix import FilterPostfix
from support.process import ServeProcess

pytestmark = pytest.mark.e2e


class Setup(FilterPostfix):
    """congvu's next hop and Postfix's relayhost a port nobody listens on."""

    def __init__(self, work: Path) -> None:
        self.dead_port = postfix.free_port()
        super().__init__(work, data_dir=work / "var", next_hop_port=self.dead_port, retry=5,
                         relayhost=f"[127.0.0.1]:{self.dead_port}",
                         congvu_extra="connect_timeout = 2")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    reason = postfix.missing()
    if reason is not None:
        pytest.skip(f"LOUD SKIP: doctor's queue tests need a real Postfix: {reason}")
    made = Setup(tmp_path_factory.mktemp("doctor-queue"))
    made.mta.start()
    try:
        yield made
    finally:
        made.mta.stop()


def test_a_stopped_filter_is_an_error_and_the_mail_waiting_for_it_is_reported_with_its_age(
        setup: Setup) -> None:
    with smtplib.SMTP("127.0.0.1", setup.mta.port, timeout=30) as client:
        client.sendmail("cv@example.org", ["vanthu@binhthuan.gov.vn"],
                        b"Subject: cho\r\n\r\nDang cho congvu.\r\n")
    port = setup.listener_port
    refused = f"connect to 127.0.0.1[127.0.0.1]:{port}: Connection refused"
    message = setup.mta.wait_deferred(refused)

    result = setup.doctor()
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert (f"ERROR   listener inbound: congvu does not answer on 127.0.0.1:{port} (Connection "
            "refused), and Postfix sends mail to it (main.cf content_filter = "
            f"congvu-in:[127.0.0.1]:{port}): mail waits in Postfix's queue and is bounced when "
            "it expires; fix: start congvu (systemctl start congvu; journalctl -u congvu says "
            "why it stopped)") in errors
    waiting = (f"postfix queue {setup.mta.conf}: 1 message(s) wait in Postfix's queue for "
               f"listener inbound (port {port}), the oldest ({message['queue_id']}) for ")
    [line] = [line for line in result.stdout.splitlines() if waiting in line]
    assert line.startswith(f"WARNING {waiting}")  # minutes old: a warning
    assert line.endswith(f" min: {refused}; fix: make congvu answer (systemctl status congvu; "
                         f"journalctl -u congvu), then postqueue -c {setup.mta.conf} -f to "
                         "retry them now")

    # half an hour later the same queue is an error
    arrived = dt.datetime.fromtimestamp(message["arrival_time"], dt.UTC)  # type: ignore[arg-type]
    listeners = [ListenerConfig(name="inbound", role="inbound", port=port)]  # type: ignore[arg-type]
    later = list(check_queue(listeners, read_routes(setup.mta.conf), setup.mta.conf,
                             now=arrived + dt.timedelta(minutes=31)))
    assert [(f.level, f.message.rsplit(": ", 1)[0]) for f in later] == [
        (Level.ERROR, f"1 message(s) wait in Postfix's queue for listener inbound (port {port}), "
                      f"the oldest ({message['queue_id']}) for 31 min: connect to "
                      f"127.0.0.1[127.0.0.1]:{port}")]

    # congvu started, its next hop down: it answers, with 451, and the mail still waits;
    # the reason names no port, the queue file's content_filter record says it is ours
    serving = ServeProcess(setup.config)
    try:
        setup.flush()
        setup.mta.wait_deferred("host 127.0.0.1[127.0.0.1] said: 451")
        result = setup.doctor()
    finally:
        serving.stop()
    assert f"OK      listener inbound: congvu answers on 127.0.0.1:{port}: 220 " in result.stdout
    [line] = [line for line in result.stdout.splitlines() if waiting in line]
    assert " min: host 127.0.0.1[127.0.0.1] said: 451 " in line
