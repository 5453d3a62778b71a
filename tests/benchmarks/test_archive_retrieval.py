"""Retrieving one message with its proof from an archive of a million messages, against
`audit show` of the same record.

The data are written once (not through the filter: no fsync, one zstd frame a file,
rows built directly) and kept for later runs under ``build/bench/`` (or
``$CONGVU_BENCH_DATA``), named by their size, with a marker written last: a run finding
them complete reuses them, one finding them cut short writes them again. The archive
holds ``CONGVU_BENCH_ARCHIVE_OBJECTS`` synthetic letters (default 1,000,000; each 1.5-3
KB of Vietnamese text, about 0.26 KB compressed, one 4 KB block on disk); the audit store
holds a record naming each of them with its completion, and checkpoints every 1,000
events with their links, as the writer signs them. Each command runs in process,
alternating, on three records (a quarter, half and three quarters through the chain),
and the medians are printed. Run by `make bench`; asserts only that each command
succeeds and its bundle checks (the suite has no timed asserts).
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from archive import Archive
from audit import AuditConfig, AuditLog
from audit.chain import CheckpointSigner, Schedule, link_of
from congvu.cli import main
from support.audit import BulkStore
from support.benchdata import complete, kept

OBJECTS = int(os.environ.get("CONGVU_BENCH_ARCHIVE_OBJECTS", "1000000"))
EVERY, ROUNDS = 1_000, 15
#: what the data are: a run finding other parameters writes them again
RECIPE = {"objects": OBJECTS, "every": EVERY, "version": 2}
TEXT = ("Kính gửi Sở Nội vụ tỉnh Lâm Đồng. Thực hiện Công văn số {n} về việc báo cáo "
        "tình hình thực hiện nhiệm vụ năm 2026, đơn vị báo cáo như sau.\r\n")


def _letter(n: int, rng: random.Random) -> bytes:
    return (f"From: sotc@lamdong.gov.vn\r\nTo: snv@lamdong.gov.vn\r\nSubject: Báo cáo "
            f"{n}\r\nMessage-ID: <{n}.{rng.random()}@lamdong.gov.vn>\r\n\r\n"
            + TEXT.format(n=n) * rng.randint(8, 16)).encode()


def _fill(archive: Archive, count: int) -> tuple[list[str], int]:
    """``count`` synthetic messages written straight into the objects' directories: their
    names, in order, and the bytes they take compressed."""
    rng = random.Random(19)
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=True)
    names: list[str] = []
    stored = 0
    for n in range(count):
        data = _letter(n, rng)
        frame = compressor.compress(data)
        name = hashlib.sha256(data).hexdigest()
        fd = os.open(archive.path_of(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, frame)
        finally:
            os.close(fd)
        names.append(name)
        stored += len(frame)
    return names, stored


def _audit(data: Path, names: list[str]) -> list[int]:
    """The audit store: a record naming each archived message, with its completion;
    linked checkpoints every EVERY events. Returns every record's id."""
    store = BulkStore(data / "audit.sqlite3", keys_dir=data / "keys")
    start = datetime.now(UTC) - timedelta(days=365)
    step = 365 * 86400 / max(len(names), 1)
    records = []
    for n, name in enumerate(names):
        at = (start + timedelta(seconds=n * step)).isoformat(timespec="microseconds")
        record = store.message(
            {"at": at, "decided_at": at, "listener": "f", "role": "outbound",
             "direction": "outbound", "envelope_sender": "sotc@lamdong.gov.vn",
             "subject": f"Báo cáo {n}", "size": 2048, "action": "accept",
             "processing_ms": 4.0, "sender_unit": "sotc"},
            {"envelope_recipients": ["snv@lamdong.gov.vn"], "recipient_units": ["snv"],
             "archived_sha256": name},
            members=[("sotc", "sent"), ("snv", "received")],
            recipients=[("snv@lamdong.gov.vn", "snv")])
        store.completion(record, "relayed", at)
        records.append(record)
    store.close()
    _sign_links(data)
    return records


def _sign_links(data: Path) -> None:
    """Linked checkpoints every EVERY events, as the writer signs them."""
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


@pytest.fixture(scope="session")
def filled() -> tuple[Path, dict[str, object]]:
    """The data directory and what it holds, written once and kept (see the module's
    docstring)."""
    place, facts = kept(f"archive-retrieval-{OBJECTS}", RECIPE)
    data = place / "var"
    if facts is not None:
        # kept from an earlier run: migrated to this release's schema, as the filter
        # would on starting (the read-only commands refuse an older store)
        AuditLog.open(AuditConfig(path=data / "audit.sqlite3",
                                  keys_dir=data / "keys")).close()
        return place, facts
    data.mkdir()
    (place / "congvu.toml").write_text(
        f'[service]\ndata_dir = "{data}"\n'
        f"[audit]\ncheckpoint_every_records = {EVERY}\ncheckpoint_every_seconds = 86400\n")
    archive = Archive.open(data / "archive")
    started = time.perf_counter()
    names, stored = _fill(archive, OBJECTS)
    objects_s = time.perf_counter() - started
    started = time.perf_counter()
    records = _audit(data, names)
    records_s = time.perf_counter() - started
    return place, complete(place, RECIPE, stored=stored, objects_s=objects_s,
                           records_s=records_s,
                           chosen=[records[len(records) * k // 4] for k in (1, 2, 3)])


def test_one_message_with_its_proof_against_audit_show(
        filled: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    place, facts = filled
    config = place / "congvu.toml"
    chosen = facts["chosen"]
    assert isinstance(chosen, list)
    runner = CliRunner()
    times: dict[str, list[float]] = {"archive get --out DIR": [], "archive proof": [],
                                     "archive get (message)": [], "audit show": []}
    for n in range(ROUNDS):
        record = str(chosen[n % len(chosen)])
        proof_dir, get_dir = tmp_path / f"p{n}", tmp_path / f"g{n}"
        get_dir.mkdir()
        for name, args in (
                ("archive get --out DIR", ["archive", "get", record, "--out", str(get_dir)]),
                ("archive proof", ["archive", "proof", record, "--out", str(proof_dir)]),
                ("archive get (message)", ["archive", "get", record, "--out",
                                           str(tmp_path / f"m{n}.eml")]),
                ("audit show", ["audit", "show", record])):
            began = time.perf_counter()
            result = runner.invoke(main, [*args, "--config", str(config)])
            times[name].append(time.perf_counter() - began)
            assert result.exit_code == 0, result.output
    for bundle in ("p0", "g0"):
        checked = runner.invoke(main, ["archive", "check-proof", str(tmp_path / bundle)])
        assert checked.exit_code == 0, checked.output
    size = sum(p.stat().st_size for p in (tmp_path / "p0").iterdir())
    print(f"\narchive of {OBJECTS:,} synthetic messages "
          f"({int(str(facts['stored'])) / max(OBJECTS, 1):,.0f} bytes each compressed, one "
          f"4 KB block on disk; written in {float(str(facts['objects_s'])):.0f} s), an audit "
          f"store of a record and a completion for each (written in "
          f"{float(str(facts['records_s'])):.0f} s), linked checkpoints every {EVERY:,} "
          f"events; data kept in {place}; {ROUNDS} rounds over records {chosen}, "
          "alternating, in process (the configuration read each time, as a command does):")
    for name, found in times.items():
        print(f"{name:22}: median {statistics.median(found) * 1e3:.1f} ms "
              f"(min {min(found) * 1e3:.1f}, max {max(found) * 1e3:.1f})")
    print(f"proof bundle: {size:,} bytes (the span's {EVERY} hashes are most of it)")
