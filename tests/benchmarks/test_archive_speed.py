"""The archive's cost: the full pipeline's throughput with the archive on against off,
in the same run, and what one message costs to store and how many bytes it takes.

Run by `make bench`. Prints; asserts nothing about speed (the suite has no timed
asserts). The throughput rounds alternate off and on, so load from elsewhere on the
machine falls on both alike: every message is a unit's own (its sender is a unit's
address in the directory), so with the archive on every one is stored.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import statistics
import time
from pathlib import Path

import pytest

from archive import Archive
from directory import Directory
from support import postfix
from support.process import ServeProcess

MESSAGES, SESSIONS, SIZE, ROUNDS = 2000, 20, 10240, 3
UNITS = "id,name,parent,address\nbench,Đơn vị đo,,bench@binhthuan.gov.vn\n"

reason = postfix.missing()


def _filter(tmp_path: Path, sink_port: int, *, is_archived: bool) -> ServeProcess:
    name = "on" if is_archived else "off"
    config = tmp_path / f"archive-{name}.toml"
    config.write_text(
        f'[service]\ndata_dir = "{tmp_path}/var-{name}"\n[[listeners]]\nname = "f"\n'
        f'role = "outbound"\nport = 0\n[next_hop]\nkind = "smtp"\nport = {sink_port}\n'
        f"[archive]\nenabled = {'true' if is_archived else 'false'}\n",
        encoding="utf-8",
    )
    store = Directory.open(tmp_path / f"var-{name}" / "directory.sqlite3")
    store.import_csv(UNITS, actor="bench")
    store.close()
    process = ServeProcess(config, workers=2)
    for _ in range(2):
        process.wait_for("worker ready")
    return process


def _rate(sink: postfix.SmtpSink, port: int) -> float:
    target = sink.count + MESSAGES
    started = time.perf_counter()
    postfix.smtp_source(port, messages=MESSAGES, sessions=SESSIONS, size=SIZE,
                        reuse_connections=True)
    sink.wait_for(target)
    return MESSAGES / (time.perf_counter() - started)


@pytest.mark.skipif(reason is not None, reason=f"LOUD SKIP: {reason}")
def test_default_pipeline_with_the_archive_on_against_off(tmp_path: Path) -> None:
    sink = postfix.SmtpSink()
    rates: dict[str, list[float]] = {"off": [], "on": []}
    try:
        filters = {"off": _filter(tmp_path, sink.port, is_archived=False),
                   "on": _filter(tmp_path, sink.port, is_archived=True)}
        try:
            for _ in range(ROUNDS):
                for name, process in filters.items():
                    rates[name].append(_rate(sink, process.port))
        finally:
            for process in filters.values():
                process.stop()
    finally:
        sink.stop()
    stored = list(Archive(tmp_path / "var-on" / "archive").names())
    assert len(stored) == ROUNDS * MESSAGES  # every message kept, none twice
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    print(f"\n{MESSAGES} messages of {SIZE} bytes over {SESSIONS} connections, {ROUNDS} "
          "rounds each, alternating; default pipeline + audit, 2 workers, smtp-sink:")
    for name, found in rates.items():
        print(f"archive {name:3}: " + ", ".join(f"{r:.0f}" for r in found)
              + f" msg/s (median {statistics.median(found):.0f})")
    print(f"with the archive: {on / off:.3f} x the throughput without "
          f"({(1 - on / off) * 100:+.1f} % slower)")


def _realistic(rng: random.Random, n: int) -> bytes:
    """A unit's letter: Vietnamese text, and every other one a PDF-sized attachment of
    incompressible bytes (what a scanned, compressed document is), in base64."""
    text = ("Kính gửi: Sở Nội vụ tỉnh Lâm Đồng. Thực hiện Công văn số " + str(n)
            + " về việc báo cáo tình hình thực hiện nhiệm vụ năm 2026, đơn vị báo cáo như "
            "sau.\r\n") * rng.randint(3, 30)
    head = (f"From: Sở Tài chính <sotc@lamdong.gov.vn>\r\nTo: snv@lamdong.gov.vn\r\n"
            f"Subject: Báo cáo số {n}\r\nMessage-ID: <{n}@lamdong.gov.vn>\r\n"
            "MIME-Version: 1.0\r\n").encode()
    if n % 2:
        return head + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode()
    pdf = rng.randbytes(rng.randint(50_000, 400_000))
    return (head + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode()
            + b"\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: "
            b"base64\r\n\r\n" + base64.encodebytes(pdf).replace(b"\n", b"\r\n") + b"--b--\r\n")


def _to_units(pdf: bytes, units: int) -> list[bytes]:
    """The same letter and PDF sent to each of ``units`` units, one message each (as a
    province's directive goes out): headers and boundaries differ, the PDF does not."""
    body = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    return [(f"From: UBND tỉnh <ubnd@lamdong.gov.vn>\r\nTo: unit{n}@lamdong.gov.vn\r\n"
             f"Subject: Chỉ thị số 12\r\nMessage-ID: <ct12.{n}@lamdong.gov.vn>\r\n"
             f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=u{n}\r\n\r\n"
             f"--u{n}\r\nContent-Type: application/pdf; name=ct12.pdf\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n").encode() + body
            + f"--u{n}--\r\n".encode() for n in range(units)]


def test_bytes_and_time_to_store_one_message(tmp_path: Path) -> None:
    rng = random.Random(7)
    cases = {
        "10 KB text (smtp-source's)": [f"Message-ID: <{i}@x>\r\n\r\n".encode() + b"X" * SIZE
                                        for i in range(500)],
        "realistic mix (half with a 50-400 KB PDF)": [_realistic(rng, i) for i in range(500)],
        "one 300 KB PDF sent to 50 units": _to_units(rng.randbytes(300_000), 50),
    }
    print(f"\nArchive.put, one message at a time, fsync'd (file and directory), on "
          f"{os.statvfs(tmp_path).f_bsize}-byte blocks:")
    for name, messages in cases.items():
        archive = Archive.open(tmp_path / hashlib.sha256(name.encode()).hexdigest()[:8])
        started = time.perf_counter()
        stored = [archive.put(m) for m in messages]
        seconds = time.perf_counter() - started
        size = sum(s.size for s in stored)
        kept = sum(s.stored_size for s in stored)
        files = {path for s in stored for path in archive.files_of(s.sha256)}
        on_disk = sum(path.stat().st_blocks * 512 for path in files)
        assert all(s.is_new for s in stored)
        print(f"{name}: {len(messages)} messages, {size / len(messages):,.0f} bytes each; "
              f"stored {kept / len(messages):,.0f} bytes each ({kept / size:.1%}), "
              f"{on_disk / len(messages):,.0f} on disk; {seconds / len(messages) * 1e3:.2f} "
              f"ms per message")


# A year of traffic, scaled from a generated day: the assumptions, stated.
DAY_SAMPLE, DAY_MESSAGES, WORKING_DAYS = 1_000, 20_000, 250


def _day(rng: random.Random) -> list[bytes]:
    """DAY_SAMPLE messages in the day's mix: 60 % letters without attachment, 30 % with
    a PDF of their own (50-400 KB), 10 % copies of directives, each one PDF (100-800 KB)
    sent to 50 units one message each; in a random order."""
    letters = [_realistic(rng, 2 * n + 1) for n in range(DAY_SAMPLE * 6 // 10)]  # odd: text
    with_pdf = [_realistic(rng, 2 * n) for n in range(DAY_SAMPLE * 3 // 10)]  # even: a PDF
    directives = [m for _ in range(DAY_SAMPLE // 10 // 50)
                  for m in _to_units(rng.randbytes(rng.randint(100_000, 800_000)), 50)]
    day = letters + with_pdf + directives
    rng.shuffle(day)
    return day


def test_the_size_of_a_year_of_generated_traffic(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path / "year")
    day = _day(random.Random(2026))
    for data in day:
        archive.put(data)
    files = list((tmp_path / "year").rglob("*.zst"))
    on_disk = sum(p.stat().st_blocks * 512 for p in files)
    given = sum(map(len, day))
    per_message = on_disk / len(day)
    year = per_message * DAY_MESSAGES * WORKING_DAYS
    relayed = given / len(day) * DAY_MESSAGES * WORKING_DAYS
    print(f"\na generated day of {len(day):,} messages ({given / len(day):,.0f} bytes "
          f"each as relayed): {on_disk / len(day):,.0f} bytes each on disk "
          f"({on_disk / given:.1%}), {len(files):,} files. A year, assuming "
          f"{DAY_MESSAGES:,} messages a working day and {WORKING_DAYS} working days in "
          f"this mix (60 % letters, 30 % with their own 50-400 KB PDF, 10 % one of a "
          f"directive's 50 copies of a 100-800 KB PDF; PDFs incompressible): "
          f"{year / 1e12:.2f} TB on disk ({relayed / 1e12:.2f} TB as relayed)")
