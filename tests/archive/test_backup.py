"""The archive in ``congvu backup`` and ``restore``: the messages the audit snapshot
names, copied once; a second backup given the first links what it already holds and
copies only what is new; a restore into a new data directory verifies."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from archive import parse_query
from archive.index import SqliteTextIndex
from audit import Direction, own_public_key
from congvu.cli import main

from .test_prune import Site


def test_a_second_backup_copies_only_new_messages_and_a_restore_verifies(
        tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    site = Site(tmp_path / "a")
    first = [site.relayed(f"thư {n}", years_ago=1, direction=Direction.INBOUND, to=("snv",))
             for n in range(2)]
    one, two = tmp_path / "b1", tmp_path / "b2"
    done = site.congvu("backup", str(one))
    assert done.exit_code == 0, done.output
    assert "archive: 2 messages (2 copied, 0 linked from --previous)" in done.stdout
    newer = site.relayed("thư mới", years_ago=0, direction=Direction.INBOUND, to=("snv",))
    done = site.congvu("backup", str(two), "--previous", str(one))
    assert done.exit_code == 0, done.output
    assert "archive: 3 messages (1 copied, 2 linked from --previous)" in done.stdout
    for _, sha in first:  # the same file, not a copy
        old = one / "archive" / "objects" / sha[:2] / f"{sha}.eml.zst"
        new = two / "archive" / "objects" / sha[:2] / f"{sha}.eml.zst"
        assert old.stat().st_ino == new.stat().st_ino
    manifest = json.loads((two / "MANIFEST.json").read_text())
    assert manifest["archive"]["objects"] == 3
    assert sorted((two / "archive" / "OBJECTS").read_text().split()) == sorted(
        sha for _, sha in [*first, newer])

    restored = tmp_path / "restored"
    config = tmp_path / "restored.toml"
    config.write_text(f'[service]\ndata_dir = "{restored}"\n'
                      '[audit]\ncheckpoint_public_keys = '
                      f'["{own_public_key(site.audit.keys_dir)}"]\n')
    done = CliRunner().invoke(main, ["restore", str(two), "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert "restored 3 archived messages (3 in the backup)" in done.stdout
    checked = CliRunner().invoke(main, ["archive", "verify", "--config", str(config)])
    assert checked.exit_code == 0, checked.output
    assert "3 archived message(s) named by records checked" in checked.stdout

    # the text index is not backed up (made from the messages): restore says to rebuild
    # it, and the rebuild finds every restored message by its words
    assert "run `congvu archive index rebuild`" in done.stdout
    assert not (restored / "archive" / "index.sqlite3").exists()
    rebuilt = CliRunner().invoke(main, ["archive", "index", "rebuild", "--config",
                                        str(config)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "indexed 3 archived message(s) (0 indexed already" in rebuilt.stdout
    index = SqliteTextIndex(restored / "archive" / "index.sqlite3")
    shas = [sha for _, sha in [*first, newer]]
    assert index.matching(parse_query("thu moi"), shas) == {newer[1]}
    assert index.matching(parse_query("thư"), shas) == set(shas)

