"""Held mail on disk is private whatever the umask: the quarantine's directories 0700,
its index (with -wal and -shm) and message files 0600; a quarantine an earlier
release left open is tightened when it is opened."""

from __future__ import annotations

import os
from pathlib import Path

from policies import Action, Decision, Quarantine

DECISION = Decision(Action.QUARANTINE, ())


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in root.rglob("*")}


def test_held_mail_is_private_whatever_the_umask(tmp_path: Path) -> None:
    root = tmp_path / "var" / "quarantine"
    old = os.umask(0)
    try:
        with Quarantine(root) as store:
            qid = store.put(b"Subject: x\r\n\r\nhi\r\n", envelope_from="a@sotc.gov.vn",
                            recipients=["b@x.gov.vn"], direction="outbound", unit_id="sotc",
                            decision=DECISION)
            sha = store.get(qid).sha256
            modes = _modes(root)
    finally:
        os.umask(old)
    assert root.stat().st_mode & 0o777 == 0o700
    assert modes == {
        "objects": 0o700, f"objects/{sha[:2]}": 0o700,
        f"objects/{sha[:2]}/{sha}.eml.gz": 0o600,
        "index.sqlite3": 0o600, "index.sqlite3-wal": 0o600, "index.sqlite3-shm": 0o600,
    }


def test_a_quarantine_left_open_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "quarantine"
    Quarantine(root).close()
    os.chmod(root, 0o755)
    os.chmod(root / "objects", 0o777)
    os.chmod(root / "index.sqlite3", 0o644)
    Quarantine(root).close()
    assert {mode for mode in _modes(root).values() if mode & 0o077} == set()
    assert root.stat().st_mode & 0o777 == 0o700
