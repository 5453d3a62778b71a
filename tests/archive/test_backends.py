"""The archive on both backends: a directory under the data directory, and PostgreSQL
(the session's private cluster, reached with a password file as a server would). The
same messages are stored once, read back only when they hash to their name, their large
parts kept once, sealed when encrypting, pruned as retention and holds say, proven by a
bundle that checks alone; PostgreSQL's failures are write errors an administrator can
act on (the filter answers 451), and a directory archive copies into PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import zstandard
from click.testing import CliRunner, Result

from archive import (
    Archive,
    ArchiveConfig,
    ArchiveError,
    ArchiveReadError,
    ArchiveWriteError,
    PgArchive,
    copy_to_postgresql,
)
from archive.keys import rotate
from archive.store import IN_FLIGHT, Removal
from audit import Action, AuditConfig, AuditLog, AuditRecord, Direction, Role, own_public_key
from congvu.cli import main
from congvu.config import parse_config
from directory import Directory
from milter.errors import ConfigError
from milter.replies import R451_ARCHIVE
from support.postfix import free_port
from support.postgres import PASSWORD, PostgresCluster, password_file

from .test_dedup import message as with_attachment
from .test_prune import CONFIG, NOW, UNITS
from .test_service import _import_units, send, shown
from .test_service import message as unit_message

MESSAGE = (b"From: S\xe1\xbb\x9f T\xc3\xa0i ch\xc3\xadnh <sotc@lamdong.gov.vn>\r\n"
           b"To: snv@lamdong.gov.vn\r\nSubject: Cong van so 7\r\n\r\n"
           + b"Noi dung cong van, dong lap lai.\r\n" * 200)


class Backend:
    """One backend's archive in tmp_path, and what a test does to its stored bytes
    behind the archive's back (a file on disk, a row in PostgreSQL)."""

    def __init__(self, tmp_path: Path, url: str | None) -> None:
        self.tmp = tmp_path
        self.url = url
        self.password_file = password_file(tmp_path) if url else None

    def config(self, **values: Any) -> ArchiveConfig:
        where: dict[str, Any] = ({"url": self.url, "password_file": self.password_file}
                                 if self.url else {"path": self.tmp / "archive"})
        return ArchiveConfig(key_file=self.tmp / "keys" / "archive.key", **where, **values)

    def open(self, **values: Any) -> Archive:
        return Archive.from_config(self.config(**values), create=True)

    def toml(self) -> str:
        """The lines of congvu.toml's [archive] table naming this archive."""
        key = f'key_file = "{self.tmp / "keys" / "archive.key"}"\n'
        if self.url is None:
            return key + f'path = "{self.tmp / "archive"}"\n'
        return key + f'url = "{self.url}"\npassword_file = "{self.password_file}"\n'

    def _sql(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        assert self.url is not None
        with psycopg.connect(self.url, password=PASSWORD, autocommit=True) as conn:
            cursor = conn.execute(statement.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def _file(self, sha256: str, table: str) -> Path:
        archive = Archive(self.tmp / "archive")
        return archive.path_of(sha256) if table == "objects" else archive.part_path(sha256)

    def raw(self, sha256: str, table: str = "objects") -> bytes:
        if self.url is None:
            return self._file(sha256, table).read_bytes()
        [(data,)] = self._sql(f"SELECT data FROM archive.{table} WHERE sha256 = ?", (sha256,))
        return bytes(data)

    def replace(self, sha256: str, data: bytes, table: str = "objects") -> None:
        if self.url is None:
            self._file(sha256, table).write_bytes(data)
        else:
            self._sql(f"UPDATE archive.{table} SET data = ? WHERE sha256 = ?", (data, sha256))

    def drop(self, sha256: str, table: str = "objects") -> None:
        if self.url is None:
            self._file(sha256, table).unlink()
        else:
            self._sql(f"DELETE FROM archive.{table} WHERE sha256 = ?", (sha256,))

    def age(self, sha256: str, at: float, table: str = "objects") -> None:
        """As if last stored or touched at ``at``."""
        if self.url is None:
            os.utime(self._file(sha256, table), (at, at))
        else:
            self._sql(f"UPDATE archive.{table} SET touched_at = ? WHERE sha256 = ?",
                      (at, sha256))

    def parts(self) -> int:
        if self.url is None:
            return len(list((self.tmp / "archive" / "parts").glob("*/*.part.zst")))
        [(count,)] = self._sql("SELECT count(*) FROM archive.parts", ())
        return int(count)


@pytest.fixture(params=["directory", pytest.param("postgresql", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "directory":
        return Backend(tmp_path, None)
    return Backend(tmp_path, request.getfixturevalue("postgres_url"))


@pytest.fixture
def pg(tmp_path: Path, postgres_url: str) -> Backend:
    return Backend(tmp_path, postgres_url)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the store ----------------------------------------------------------------------------

def test_stored_once_compressed_and_read_back_exactly(backend: Backend) -> None:
    archive = backend.open()
    first = archive.put(MESSAGE)
    again = archive.put(MESSAGE)
    other = archive.put(MESSAGE + b"P.S.\r\n")
    assert (first.sha256, first.is_new, again.is_new) == (sha(MESSAGE), True, False)
    assert again.stored_size == first.stored_size == len(backend.raw(first.sha256))
    assert first.stored_size < len(MESSAGE) // 10
    assert zstandard.ZstdDecompressor().decompress(backend.raw(first.sha256)) == MESSAGE
    assert archive.get(first.sha256) == MESSAGE
    assert sorted(archive.names()) == sorted([first.sha256, other.sha256])
    assert archive.has(first.sha256) and not archive.has("0" * 64)
    # the commands open it without creating anything and read the same
    assert Archive.from_config(backend.config(), create=False).get(other.sha256) == (
        MESSAGE + b"P.S.\r\n")


def test_a_batch_is_stored_as_its_messages_would_be_one_by_one(backend: Backend) -> None:
    """The filter's group commit hands the archive a batch: on PostgreSQL one
    transaction, the same outcomes as storing each in turn."""
    archive = backend.open()
    before = archive.put(MESSAGE)
    shared = [with_attachment(f"unit{n}@lamdong.gov.vn") for n in range(3)]
    batch = [shared[0], MESSAGE, shared[1], shared[0], MESSAGE + b"new\r\n", shared[2]]
    outcomes = archive.put_many(batch)
    assert [(o.sha256, o.is_new) for o in outcomes if not isinstance(o, Exception)] == [
        (sha(shared[0]), True), (sha(MESSAGE), False), (sha(shared[1]), True),
        (sha(shared[0]), False), (sha(MESSAGE + b"new\r\n"), True),
        (sha(shared[2]), True)]
    again = outcomes[1]
    assert not isinstance(again, Exception)
    assert (again.sha256, again.stored_size) == (before.sha256, before.stored_size)
    assert backend.parts() == 1  # the three messages' one attachment, once
    assert [archive.get(sha(m)) for m in batch] == batch
    if backend.url is not None:  # one transaction wrote every new row
        written = backend._sql("SELECT DISTINCT xmin::text FROM archive.objects WHERE "
                               "sha256 <> ?", (sha(MESSAGE),))
        assert len(written) == 1


def test_changed_or_missing_objects_and_parts_are_never_handed_out(backend: Backend) -> None:
    archive = backend.open()
    name = archive.put(MESSAGE).sha256
    backend.replace(name, zstandard.ZstdCompressor().compress(MESSAGE.replace(b"7", b"8")))
    with pytest.raises(ArchiveReadError, match="changed: its bytes hash to") as found:
        archive.get(name)
    assert found.value.found == sha(MESSAGE.replace(b"7", b"8"))
    backend.replace(name, b"not zstd")
    with pytest.raises(ArchiveReadError, match="unreadable: not a zstd frame"):
        archive.get(name)
    backend.drop(name)
    with pytest.raises(ArchiveReadError, match="missing") as missing:
        archive.get(name)
    assert name[:12] in str(missing.value.path)
    with_part = with_attachment("snv@lamdong.gov.vn")
    stored = archive.put(with_part).sha256
    part = _part_of(backend, stored)
    backend.drop(part, "parts")
    with pytest.raises(ArchiveReadError, match=f"missing: its part {part}"):
        archive.get(stored)
    # the message stored anew (its record's retry) brings its part back
    backend.drop(stored)
    assert archive.put(with_part).is_new
    assert archive.get(stored) == with_part


def _part_of(backend: Backend, name: str) -> str:
    raw = backend.raw(name)
    assert raw.startswith(b"CVAD\x01") and int.from_bytes(raw[5:7]) == 1
    return raw[7:39].hex()


def test_the_same_attachment_to_ten_units_is_stored_once(backend: Backend) -> None:
    archive = backend.open()
    sent = [with_attachment(f"unit{n}@lamdong.gov.vn") for n in range(10)]
    stored = [archive.put(data) for data in sent]
    assert backend.parts() == 1
    assert [archive.get(s.sha256) for s in stored] == sent
    # the first carries the part (300 KB that zstd cannot shrink), the others manifests
    assert stored[0].stored_size > 300_000
    assert all(s.stored_size < 2_000 for s in stored[1:])


def test_encrypted_objects_and_parts_show_nothing_and_reseal_after_rotation(
        backend: Backend) -> None:
    archive = backend.open(encrypt=True)
    plain = backend.open().put(MESSAGE + b"before encryption\r\n").sha256
    name = archive.put(MESSAGE).sha256
    pdf = with_attachment("snv@lamdong.gov.vn")
    with_part = archive.put(pdf).sha256
    part = _part_of(backend, with_part)
    assert backend.raw(name).startswith(b"CVAE\x02") and b"dong lap" not in backend.raw(name)
    assert backend.raw(part, "parts").startswith(b"CVAE\x02")
    assert archive.get(name) == MESSAGE and archive.get(with_part) == pdf
    # without the key nothing reads; under another name nothing decrypts
    (backend.tmp / "keys" / "archive.key").rename(backend.tmp / "elsewhere.key")
    with pytest.raises(ArchiveReadError, match="no archive key is configured"):
        Archive.from_config(backend.config(), create=False).get(name)
    (backend.tmp / "elsewhere.key").rename(backend.tmp / "keys" / "archive.key")
    other = archive.put(MESSAGE + b"P.S.\r\n").sha256
    moved = backend.raw(name)
    backend.replace(other, moved)
    with pytest.raises(ArchiveReadError, match="does not decrypt under this name"):
        archive.get(other)
    backend.drop(other)
    old, new = rotate(backend.tmp / "keys" / "archive.key")
    rotated = Archive.from_config(backend.config(encrypt=True), create=False)
    assert rotated.reseal() == (4, 4)  # three messages (one plain) and the part
    for stored in (name, with_part, plain):
        assert backend.raw(stored).split(b"CVAE\x02", 1)[1][:8].hex() == new
    assert backend.raw(part, "parts")[5:13].hex() == new != old
    assert rotated.get(with_part) == pdf and rotated.get(plain).endswith(b"encryption\r\n")
    assert rotated.reseal() == (0, 4)


def test_removal_leaves_what_was_stored_or_touched_since_the_records_were_read(
        backend: Backend) -> None:
    archive = backend.open()
    read_at = NOW.timestamp()
    old = read_at - IN_FLIGHT - 60
    expired, again = archive.put(MESSAGE).sha256, archive.put(MESSAGE + b"2").sha256
    pdf = with_attachment("a@lamdong.gov.vn")
    with_part = archive.put(pdf).sha256
    part = _part_of(backend, with_part)
    for name in (expired, again, with_part):
        backend.age(name, old)
    backend.age(part, old, "parts")
    assert archive.put(MESSAGE + b"2").is_new is False  # found stored: touched
    done = dict(archive.remove_unused([expired, again, with_part, "f" * 64],
                                      records_read_at=read_at))
    assert done == {expired: Removal.REMOVED, again: Removal.IN_USE,
                    with_part: Removal.REMOVED, "f" * 64: Removal.ABSENT}
    assert sorted(archive.names()) == [again]
    assert archive.remove_unreferenced_parts(records_read_at=read_at) == 1
    assert backend.parts() == 0
    assert archive.get(again) == MESSAGE + b"2"


# -- the commands on each backend ---------------------------------------------------------

class Site:
    """A data directory with units, an audit store (SQLite) and an archive on ``backend``,
    run through the real ``congvu`` command."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.data = backend.tmp / "var"
        self.data.mkdir()
        self.config = backend.tmp / "congvu.toml"
        self.config.write_text(f'[service]\ndata_dir = "{self.data}"\n'
                               + CONFIG.replace("[archive]\n", "[archive]\n" + backend.toml()))
        store = Directory.open(self.data / "directory.sqlite3")
        store.import_csv(UNITS, actor="test")
        store.close()
        self.archive = backend.open()
        self.audit = AuditConfig(path=self.data / "audit.sqlite3", keys_dir=self.data / "keys")

    def relayed(self, body: str, *, years_ago: float, to: str) -> tuple[int, str]:
        data = f"Subject: {body}\r\n\r\n{body}\r\n".encode()
        name = self.archive.put(data).sha256
        at = NOW - timedelta(days=365.25 * years_ago)
        self.backend.age(name, at.timestamp())
        with AuditLog.open(self.audit) as log:
            rid = log.record(AuditRecord(
                received_at=at, decided_at=at, listener="f", role=Role.AUTO,
                direction=Direction.INBOUND, envelope_sender="x@lamdong.gov.vn", size=10,
                envelope_recipients=["vanthu@lamdong.gov.vn"], action=Action.ACCEPT,
                processing_ms=1.0, recipient_units=[to], archived_sha256=name,
                subject=body))
        return rid, name

    def congvu(self, *args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(self.config)])


def test_prune_with_a_hold_verify_get_and_proof(backend: Backend, tmp_path: Path) -> None:
    site = Site(backend)
    held = site.relayed("snv, 6 years, held", years_ago=6, to="snv")
    expired = site.relayed("sotc, 11 years", years_ago=11, to="sotc")
    kept = site.relayed("snv, 1 year", years_ago=1, to="snv")
    placed = site.congvu("archive", "hold", "add", "--unit", "snv", "--reason", "thanh tra",
                         "--requested-by", "Thanh tra tỉnh")
    assert placed.exit_code == 0, placed.output

    pruned = site.congvu("archive", "prune", "--actor", "van-thu")
    assert pruned.exit_code == 0, pruned.output
    assert f"held {held[1]}: expired, kept by hold" in pruned.stdout
    assert "removed 1 archived message(s)" in pruned.stdout
    assert not site.archive.has(expired[1])
    assert site.archive.get(held[1]) and site.archive.get(kept[1])
    with AuditLog.open(site.audit) as log:
        [event] = log.admin_events(kind="archive-prune")
        assert log.verify().is_intact
    [(name, ledger)] = list(site.archive.ledgers())
    assert isinstance(ledger, bytes) and event["details"]["ledger_sha256"] == sha(ledger)
    assert [m["sha256"] for m in json.loads(ledger)["messages"]] == [expired[1]]

    checked = site.congvu("archive", "verify")
    assert checked.exit_code == 0, checked.output
    assert f"record {expired[0]}: pruned {expired[1]} (retention" in checked.stdout
    gone = site.congvu("archive", "proof", str(expired[0]), "--out", str(tmp_path / "gone"))
    assert gone.exit_code == 1 and f"(ledger {name})" in gone.output

    got = site.congvu("archive", "get", str(kept[0]))
    assert got.exit_code == 0 and got.stdout_bytes == b"Subject: snv, 1 year\r\n\r\nsnv, 1 year\r\n"
    bundle = tmp_path / "bundle"
    proof = site.congvu("archive", "proof", str(held[0]), "--out", str(bundle))
    assert proof.exit_code == 0, proof.output
    key = own_public_key(site.data / "keys")
    assert key is not None
    ok = CliRunner().invoke(main, ["archive", "check-proof", str(bundle), "--key", key])
    assert ok.exit_code == 0, ok.output
    # a message changed behind the archive's back: verify names it, get refuses it
    backend.replace(kept[1], zstandard.ZstdCompressor().compress(b"Subject: forged\r\n"))
    bad = site.congvu("archive", "verify")
    assert bad.exit_code == 1 and f"record {kept[0]}: changed {kept[1]}" in bad.stdout
    assert site.congvu("archive", "get", kept[1]).exit_code == 1


# -- PostgreSQL's own failures ------------------------------------------------------------

def test_a_database_that_cannot_be_reached_is_a_write_error_saying_what_to_check(
        tmp_path: Path) -> None:
    url = f"postgresql://congvu@127.0.0.1:{free_port()}/congvu"
    with pytest.raises(ArchiveWriteError, match="database server cannot be reached: is "
                       "PostgreSQL running") as refused:
        Archive.from_config(ArchiveConfig(url=url), create=True)
    assert url in str(refused.value) and "Connection refused" in str(refused.value)
    with pytest.raises(ArchiveError, match="could not read it: the database server cannot"):
        Archive.from_config(ArchiveConfig(url=url), create=False)


def test_read_only_then_writable_again_and_no_archive_yet(
        pg: Backend, postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    with pytest.raises(ArchiveError, match="holds no archive of this version"):
        Archive.from_config(pg.config(), create=False)
    archive = pg.open()
    archive.put(MESSAGE)  # a kept session, which the database then ends
    _read_only(postgres_cluster, postgres_url, True)
    with pytest.raises(ArchiveWriteError, match="the database is read-only") as refused:
        archive.put(MESSAGE + b"new")
    assert "answered 451 and relayed nowhere" in str(refused.value)
    with pytest.raises(ArchiveWriteError):  # found stored: touching it is a write too
        archive.put(MESSAGE)
    # a batch refused is refused for each of its messages, raising nothing
    batch = archive.put_many([MESSAGE, MESSAGE + b"a", MESSAGE + b"b"])
    assert len(batch) == 3 and all(isinstance(o, ArchiveWriteError) for o in batch)
    _read_only(postgres_cluster, postgres_url, False)
    # the kept session was ended again: the next write reconnects and goes through
    assert archive.put(MESSAGE + b"new").is_new
    assert archive.get(sha(MESSAGE + b"new")) == MESSAGE + b"new"


def _read_only(cluster: PostgresCluster, url: str, is_on: bool) -> None:
    name = url.rsplit("/", 1)[1]
    with cluster.admin() as db:
        db.execute(f"ALTER DATABASE {name} " + (
            "SET default_transaction_read_only = on" if is_on
            else "RESET default_transaction_read_only"))
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def _waiting_for_a_lock(url: str, worker: threading.Thread) -> None:
    """Return once a session of ``url``'s database waits for a row lock."""
    with psycopg.connect(url, password=PASSWORD, autocommit=True) as watcher:
        while watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type "
                              "= 'Lock' AND datname = current_database()").fetchone() == (0,):
            assert worker.is_alive()


def test_two_servers_storing_the_same_bytes_at_once_both_succeed(pg: Backend) -> None:
    first, second = pg.open(), Archive.from_config(pg.config(), create=False)
    assert isinstance(first, PgArchive)
    blocked = psycopg.connect(pg.url or "", password=PASSWORD, autocommit=True)
    # the first server's transaction has written the row and not yet committed
    blocked.execute("BEGIN")
    sealed = zstandard.ZstdCompressor(write_content_size=True).compress(MESSAGE)
    blocked.execute("INSERT INTO archive.objects (sha256, data, stored_at, touched_at) "
                    "VALUES (%s, %s, 0, 0)", (sha(MESSAGE), sealed))
    results: list[Any] = []
    waiter = threading.Thread(target=lambda: results.append(second.put(MESSAGE)))
    waiter.start()
    _waiting_for_a_lock(pg.url or "", waiter)
    blocked.execute("COMMIT")
    waiter.join()
    blocked.close()
    assert [(r.sha256, r.is_new) for r in results] == [(sha(MESSAGE), False)]
    assert first.get(sha(MESSAGE)) == MESSAGE and list(first.names()) == [sha(MESSAGE)]


def test_a_prune_leaves_what_a_message_touches_while_it_deletes(pg: Backend) -> None:
    """A message finding its bytes stored touches the row in its transaction; a prune
    that read the records before (so the bytes look expired) waits for that row, reads
    it again and leaves it."""
    archive = pg.open()
    name = archive.put(MESSAGE).sha256
    read_at = NOW.timestamp()
    pg.age(name, read_at - IN_FLIGHT - 60)
    storing = psycopg.connect(pg.url or "", password=PASSWORD, autocommit=True)
    storing.execute("BEGIN")
    storing.execute("UPDATE archive.objects SET touched_at = %s WHERE sha256 = %s",
                    (read_at, name))
    done: list[tuple[str, Removal]] = []
    prune = threading.Thread(target=lambda: done.extend(
        archive.remove_unused([name], records_read_at=read_at)))
    prune.start()
    _waiting_for_a_lock(pg.url or "", prune)
    storing.execute("COMMIT")
    prune.join()
    storing.close()
    assert done == [(name, Removal.IN_USE)]
    assert archive.get(name) == MESSAGE


def test_a_message_stored_while_a_prune_deletes_its_bytes_stores_them_anew(
        pg: Backend) -> None:
    archive = pg.open()
    name = archive.put(MESSAGE).sha256
    pruning = psycopg.connect(pg.url or "", password=PASSWORD, autocommit=True)
    pruning.execute("BEGIN")
    pruning.execute("DELETE FROM archive.objects WHERE sha256 = %s", (name,))
    stored: list[Any] = []
    message = threading.Thread(target=lambda: stored.append(archive.put(MESSAGE)))
    message.start()
    _waiting_for_a_lock(pg.url or "", message)
    pruning.execute("COMMIT")
    message.join()
    pruning.close()
    assert [(s.sha256, s.is_new) for s in stored] == [(name, True)]
    assert archive.get(name) == MESSAGE


def test_path_and_url_together_and_the_shared_store_setting(tmp_path: Path) -> None:
    url = "postgresql://congvu@db.lamdong.gov.vn:5432/congvu"
    with pytest.raises(ValueError, match="path and url name two archives"):
        ArchiveConfig(path=tmp_path / "a", url=url)
    with pytest.raises(ValueError, match="must not contain a password"):
        ArchiveConfig(url="postgresql://congvu:secret@db/congvu")
    shared = parse_config({"service": {"data_dir": str(tmp_path)},
                           "store": {"url": url, "password_file": "pw"}})
    assert (shared.archive.url, shared.archive.password_file) == (url, tmp_path / "pw")
    own = parse_config({"service": {"data_dir": str(tmp_path)}, "store": {"url": url},
                        "archive": {"path": "archive"}})
    assert (own.archive.url, own.archive.path) == (None, tmp_path / "archive")
    with pytest.raises(ConfigError, match="path and url name two archives"):
        parse_config({"archive": {"path": "a", "url": url}})
    loose = tmp_path / "loose-password"
    loose.write_text("secret\n")
    loose.chmod(0o644)
    with pytest.raises(ArchiveError, match=f"store password file {loose}"):
        Archive.from_config(ArchiveConfig(url=url, password_file=loose), create=True)


def test_through_the_filter_a_read_only_or_down_database_is_451_and_nothing_relayed(
        filter_server: Any, next_hop: Any, pg: Backend, postgres_cluster: PostgresCluster,
        postgres_url: str) -> None:
    running = filter_server(archive={"url": pg.url, "password_file": str(pg.password_file)})
    _import_units(running)
    assert send(running, unit_message("một")).startswith(b"250")
    relayed = next_hop.get().content
    _read_only(postgres_cluster, postgres_url, True)
    assert send(running, unit_message("hai")).decode().strip() == str(R451_ARCHIVE)
    next_hop.assert_empty()
    _read_only(postgres_cluster, postgres_url, False)
    name = postgres_url.rsplit("/", 1)[1]
    with postgres_cluster.admin() as db:  # down: no session, and none to be had
        db.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s", (name,))
    assert send(running, unit_message("bốn")).decode().strip() == str(R451_ARCHIVE)
    next_hop.assert_empty()
    with postgres_cluster.admin() as db:
        db.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    assert send(running, unit_message("ba")).startswith(b"250")
    third = next_hop.get().content
    records = shown(running)
    assert [(r["action"], r.get("archived_sha256")) for r in records] == [
        ("accept", sha(relayed)), ("tempfail", None), ("tempfail", None),
        ("accept", sha(third))]
    archive = Archive.from_config(running.server.config.archive, create=False)
    assert archive.get(sha(relayed)) == relayed and archive.get(sha(third)) == third
    assert sorted(archive.names()) == sorted([sha(relayed), sha(third)])


# -- copying a directory archive into PostgreSQL ------------------------------------------

def test_a_directory_archive_copies_into_postgresql_and_a_rerun_adds_nothing(
        tmp_path: Path, pg: Backend) -> None:
    disk = Backend(tmp_path, None)
    source = disk.open(encrypt=True)
    sent = [MESSAGE, *(with_attachment(f"u{n}@lamdong.gov.vn") for n in range(3))]
    names = [source.put(data).sha256 for data in sent]
    plain = disk.open().put(MESSAGE + b"plain\r\n").sha256
    disk.age(names[0], 1_000_000.0)
    damaged = source.put(MESSAGE + b"damaged\r\n").sha256
    disk.replace(damaged, b"not zstd")
    source.write_ledger("20250101T000000Z-0a0b0c0d.json", b'{"format": "x"}')
    target = pg.open()
    assert isinstance(target, PgArchive)
    copied = copy_to_postgresql(source, target)
    assert (copied.objects, copied.present, copied.ledgers) == (6, 0, 1)
    assert [line.split(":")[0] for line in copied.problems] == [damaged]
    reader = Archive.from_config(pg.config(), create=False)  # the same key file
    assert [reader.get(n) for n in names] == sent
    assert reader.get(plain) == MESSAGE + b"plain\r\n"
    assert pg.raw(damaged) == b"not zstd"  # the evidence, as it was
    assert pg.parts() == 1 and pg.raw(names[1]) == disk.raw(names[1])
    assert sorted(reader.names()) == sorted(source.names())
    assert list(reader.ledgers()) == [("20250101T000000Z-0a0b0c0d.json", b'{"format": "x"}')]
    # the copied time is the file's: a prune judges it as it would have on disk
    removal = dict(reader.remove_unused([names[0]], records_read_at=NOW.timestamp()))
    assert removal == {names[0]: Removal.REMOVED}
    again = copy_to_postgresql(source, target)
    assert (again.objects, again.present) == (1, 5)  # only what the prune removed
