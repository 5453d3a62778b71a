"""Benchmark: archive writes per second, PostgreSQL against the directory, same run.

A realistic message: 50 KiB of a unit's letter (Vietnamese text and its HTML
alternative) and one 200 KiB attachment of incompressible bytes (a scanned, compressed
PDF), base64, each message its own attachment (nothing deduplicated across them). As
the filter stores them: sessions at once submit to the archive stage's group commit
(mailbase/groupcommit.py, one writer thread), which hands each batch to
``put_many``; a session's message is durable when its submit returns. The directory
archive (the baseline: written aside, synced per batch) in tmp_path, and the
PostgreSQL archive (one transaction a batch) in a cluster of its own with fsync and
synchronous_commit on, over loopback TCP. No timed assert: the figures are printed,
with the ratio against the directory.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from pathlib import Path

from archive import Archive, ArchiveConfig, Stored
from mailbase.groupcommit import GroupCommit
from support import postgres

MESSAGES = 300
SESSIONS = 16
ROUNDS = 3


def _message(rng: random.Random, n: int) -> bytes:
    sentence = ("Kính gửi: Sở Nội vụ tỉnh Lâm Đồng. Thực hiện Công văn số " + str(n)
                + " về việc báo cáo tình hình thực hiện nhiệm vụ năm 2026, đơn vị báo cáo "
                "như sau.\r\n")
    text = (sentence * (25 * 1024 // len(sentence.encode()))).encode()
    html = b"<html><body><p>" + text.replace(b"\r\n", b"</p>\r\n<p>") + b"</p></body></html>"
    pdf = base64.encodebytes(rng.randbytes(200 * 1024)).replace(b"\n", b"\r\n")
    return (f"From: Sở Tài chính <sotc@lamdong.gov.vn>\r\nTo: snv@lamdong.gov.vn\r\n"
            f"Subject: Báo cáo số {n}\r\nMessage-ID: <{n}@lamdong.gov.vn>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
            "--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n"
            "--a\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + text + (
            b"\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n") + html + (
            b"\r\n--a--\r\n--m\r\nContent-Type: application/pdf; name=bao-cao.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n") + pdf + b"--m--\r\n"


def _rate(archive: Archive, messages: list[bytes]) -> tuple[float, float]:
    """Messages per second, ``SESSIONS`` storing at once through the group commit, and
    the mean batch."""
    writer: GroupCommit[bytes, Stored] = GroupCommit(archive.put_many, name="bench")
    stored: list[Stored] = []

    async def session(mine: list[bytes]) -> None:
        for data in mine:
            stored.append(await writer.submit(data))

    async def sessions() -> None:
        await asyncio.gather(*(session(messages[n::SESSIONS]) for n in range(SESSIONS)))

    started = time.perf_counter()
    asyncio.run(sessions())
    seconds = time.perf_counter() - started
    writer.close()
    assert len(stored) == len(messages) and all(s.is_new for s in stored)
    return len(messages) / seconds, writer.written / writer.batches


def test_archive_writes_per_second_postgresql_against_the_directory(
        durable_postgres_cluster: postgres.PostgresCluster, tmp_path: Path) -> None:
    rng = random.Random(19)
    rounds = [[_message(rng, r * MESSAGES + n) for n in range(MESSAGES)]
              for r in range(ROUNDS)]
    size = sum(map(len, rounds[0])) / MESSAGES
    secret = postgres.password_file(tmp_path)
    rates: dict[str, list[float]] = {"directory": [], "PostgreSQL": []}
    batches: dict[str, list[float]] = {"directory": [], "PostgreSQL": []}
    for number, messages in enumerate(rounds):  # alternating, each on a store of its own
        disk = Archive.open(tmp_path / f"archive{number}")
        shared = Archive.from_config(ArchiveConfig(url=durable_postgres_cluster.database(),
                                                   password_file=secret), create=True)
        for name, archive in (("directory", disk), ("PostgreSQL", shared)):
            rate, batch = _rate(archive, messages)
            rates[name].append(rate)
            batches[name].append(batch)
        sample = list(disk.names())[:3]  # the same bytes, read back from either
        assert [shared.get(n) for n in sample] == [disk.get(n) for n in sample]
    best = {name: max(found) for name, found in rates.items()}
    print(f"\narchive writes, {MESSAGES} messages of {size / 1024:,.0f} KiB (50 KiB letter, "
          f"200 KiB attachment) a round, {SESSIONS} sessions at once through the group "
          f"commit, {ROUNDS} rounds:")
    for name, found in rates.items():
        print(f"{name:10}: " + ", ".join(f"{r:.0f}" for r in found) + " msg/s "
              f"(best {best[name]:.0f}, {best[name] * size / 2**20:.1f} MiB/s; mean batch "
              + ", ".join(f"{b:.1f}" for b in batches[name]) + ")")
    print(f"PostgreSQL: {best['PostgreSQL'] / best['directory']:.2f} x the directory's "
          "throughput (fsync and synchronous_commit on, loopback TCP)")
