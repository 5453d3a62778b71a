"""Retrieving one message with its proof from a large archive, against `audit show` of
the same record.

The archive is filled directly (not through the filter: no fsync, one zstd frame a
file) with ``CONGVU_BENCH_ARCHIVE_OBJECTS`` synthetic messages (default 1,000,000; each
a letter of 1.5-3 KB of Vietnamese text, about 0.5 KB compressed, one 4 KB block on
disk). The audit store holds 20,000 records with their completions, checkpoints every
1,000 events with their links, as the writer signs them; one record names a real
archived message among the synthetic ones. Each command runs in process, alternating,
and the medians are printed. Run by `make bench`; asserts only that each command
succeeds (the suite has no timed asserts).
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard
from click.testing import CliRunner

from archive import Archive
from audit.chain import CheckpointSigner, Schedule, link_of
from congvu.cli import main
from support.audit import BulkStore

OBJECTS = int(os.environ.get("CONGVU_BENCH_ARCHIVE_OBJECTS", "1000000"))
RECORDS, EVERY, ROUNDS = 20_000, 1_000, 15
TEXT = ("Kính gửi Sở Nội vụ tỉnh Lâm Đồng. Thực hiện Công văn số {n} về việc báo cáo "
        "tình hình thực hiện nhiệm vụ năm 2026, đơn vị báo cáo như sau.\r\n")


def _fill(archive: Archive, count: int) -> int:
    """``count`` synthetic messages written straight into the objects' directories."""
    rng = random.Random(19)
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=True)
    stored = 0
    for n in range(count):
        data = (f"From: sotc@lamdong.gov.vn\r\nTo: snv@lamdong.gov.vn\r\nSubject: Báo cáo "
                f"{n}\r\nMessage-ID: <{n}.{rng.random()}@lamdong.gov.vn>\r\n\r\n"
                + TEXT.format(n=n) * rng.randint(8, 16)).encode()
        frame = compressor.compress(data)
        path = archive.path_of(hashlib.sha256(data).hexdigest())
        with open(path, "wb") as out:
            out.write(frame)
        stored += len(frame)
    return stored


def _audit(data: Path, real: str) -> int:
    """The audit store: RECORDS records and completions, linked checkpoints every
    EVERY events; returns the id of the record naming ``real``."""
    store = BulkStore(data / "audit.sqlite3", keys_dir=data / "keys")
    start = datetime.now(UTC) - timedelta(days=30)
    chosen = 0
    for n in range(RECORDS):
        at = (start + timedelta(seconds=n * 60)).isoformat(timespec="microseconds")
        detail: dict[str, object] = {"envelope_recipients": ["snv@lamdong.gov.vn"],
                                     "recipient_units": ["snv"],
                                     "archived_sha256": hashlib.sha256(
                                         str(n).encode()).hexdigest()}
        if n == RECORDS * 3 // 4:
            detail["archived_sha256"] = real
        record = store.message(
            {"at": at, "decided_at": at, "listener": "f", "role": "outbound",
             "direction": "outbound", "envelope_sender": "sotc@lamdong.gov.vn",
             "subject": f"Báo cáo {n}", "size": 2048, "action": "accept",
             "processing_ms": 4.0, "sender_unit": "sotc"}, detail,
            members=[("sotc", "sent"), ("snv", "received")],
            recipients=[("snv@lamdong.gov.vn", "snv")])
        store.completion(record, "relayed", at)
        if n == RECORDS * 3 // 4:
            chosen = record
    store.close()
    _sign_links(data)
    return chosen


def _sign_links(data: Path) -> None:
    """Linked checkpoints every EVERY events, as the writer signs them."""
    import sqlite3

    conn = sqlite3.connect(data / "audit.sqlite3")
    signer = CheckpointSigner.load_or_create(data / "keys")
    hashes = [h for (h,) in conn.execute("SELECT hash FROM events ORDER BY seq")]
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    conn.execute("DELETE FROM checkpoints")
    for seq in range(EVERY, len(hashes) + 1, EVERY):
        cp = signer.sign(seq, hashes[seq - 1], at, schedule=Schedule(EVERY, 86400.0),
                         batch_from=seq + 1,
                         link=(seq - EVERY, link_of(hashes[seq - EVERY:seq])))
        conn.execute("INSERT INTO checkpoints (seq, hash, at, public_key, signature, "
                     "every_records, every_seconds, batch_from, link_from, link, "
                     "link_signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (cp.seq, cp.hash, cp.at, cp.public_key, cp.signature,
                      cp.every_records, cp.every_seconds, cp.batch_from, cp.link_from,
                      cp.link, cp.link_signature))
    conn.commit()
    conn.close()


def test_one_message_with_its_proof_against_audit_show(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    config = tmp_path / "congvu.toml"
    config.write_text(f'[service]\ndata_dir = "{data}"\n'
                      f"[audit]\ncheckpoint_every_records = {EVERY}\n"
                      "checkpoint_every_seconds = 86400\n")
    archive = Archive.open(data / "archive")
    started = time.perf_counter()
    stored = _fill(archive, OBJECTS)
    filled = time.perf_counter() - started
    real = archive.put(("Subject: Công văn cần chứng minh\r\n\r\n"
                        + TEXT.format(n="thật") * 12).encode()).sha256
    record = _audit(data, real)

    runner = CliRunner()
    times: dict[str, list[float]] = {"archive proof": [], "audit show": []}
    for n in range(ROUNDS):
        for name, args in (("archive proof", ["archive", "proof", str(record), "--out",
                                              str(tmp_path / f"p{n}")]),
                           ("audit show", ["audit", "show", str(record)])):
            began = time.perf_counter()
            result = runner.invoke(main, [*args, "--config", str(config)])
            times[name].append(time.perf_counter() - began)
            assert result.exit_code == 0, result.output
    checked = runner.invoke(main, ["archive", "check-proof", str(tmp_path / "p0")])
    assert checked.exit_code == 0, checked.output
    bundle = sum(p.stat().st_size for p in (tmp_path / "p0").iterdir())
    print(f"\narchive filled with {OBJECTS:,} synthetic messages in {filled:.0f} s "
          f"({stored / max(OBJECTS, 1):,.0f} bytes each compressed, one 4 KB block on "
          f"disk); audit store of {RECORDS:,} records and their completions, linked "
          f"checkpoints every {EVERY:,} events; {ROUNDS} rounds, alternating, in process "
          "(the configuration read each time, as a command does):")
    for name, found in times.items():
        print(f"{name:13}: median {statistics.median(found) * 1e3:.1f} ms "
              f"(min {min(found) * 1e3:.1f}, max {max(found) * 1e3:.1f})")
    print(f"proof bundle: {bundle:,} bytes (the span's {EVERY} hashes are most of it)")
