"""How long `congvu backup` and `congvu restore` (with its chain verification) take on an
audit store of 200,000 records. Run by `make bench`; prints figures, asserts nothing
about time."""

from __future__ import annotations

import time
from pathlib import Path

from audit import fingerprint, own_public_key
from congvu.config import parse_config
from milter.backup import backup, restore, verify_audit
from support.audit import bulk_fill

RECORDS = 200_000


def test_backup_and_restore_of_a_large_audit_store(tmp_path: Path) -> None:
    old = parse_config({"service": {"data_dir": str(tmp_path / "old")}})
    old.audit.path.parent.mkdir(parents=True)
    bulk_fill(old.audit.path, RECORDS)
    size = old.audit.path.stat().st_size
    start = time.perf_counter()
    manifest = backup(old, tmp_path / "bk")
    backed = time.perf_counter() - start
    # The new machine pins the old one's checkpoint key, which signed the manifest.
    pin = fingerprint(own_public_key(old.audit.keys_dir) or "")
    new = parse_config({"service": {"data_dir": str(tmp_path / "new")},
                        "audit": {"checkpoint_public_keys": [pin]}})
    start = time.perf_counter()
    restore(new, tmp_path / "bk")
    restored = time.perf_counter() - start
    start = time.perf_counter()
    verdict = verify_audit(new)
    verified = time.perf_counter() - start
    assert [s["name"] for s in manifest["stores"]] == ["audit"]
    print(f"\naudit store of {RECORDS:,} records, {size / 1e6:.0f} MB: backup {backed:.2f} s "
          f"({size / 1e6 / backed:.0f} MB/s), restore {restored:.2f} s, chain verification "
          f"{verified:.2f} s ({verdict})")
