"""The quarantine store on both backends: a directory (SQLite index and gzip files) and a
PostgreSQL database several servers share. The same entries and answers; a release
happens once, whichever server (store handle) asks; a database that cannot take a
message is a QuarantineError (the filter's 451), never a lost or half-held message."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from policies import (
    Action,
    Decision,
    PgQuarantine,
    Quarantine,
    QuarantineBusy,
    QuarantineError,
    QuarantineNotFound,
    Violation,
    copy_quarantine,
    open_quarantine,
)
from policies.config import QuarantineConfig
from policies.model import Finding
from policies.quarantine import CLAIM_TIMEOUT
from support.postgres import PostgresCluster, password_file

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
DECISION = Decision(Action.QUARANTINE, (Finding(Violation("macro", "VBA", "a.docm"),
                                                Action.QUARANTINE, None),))
RAW = b"From: a@sotc.gov.vn\r\nSubject: x\r\n\r\nhi\r\n"

Opener = Callable[[], Quarantine]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> QuarantineConfig:
    """The quarantine on each backend, reached as a server would (a password file)."""
    if request.param == "sqlite":
        return QuarantineConfig(path=tmp_path / "quarantine", retention_days=7)
    return QuarantineConfig(url=request.getfixturevalue("postgres_url"),
                            password_file=password_file(tmp_path), retention_days=7)


@pytest.fixture
def opener(config: QuarantineConfig) -> Iterator[Opener]:
    """Opens a handle on the store (a second one is a second server); closes them all."""
    handles: list[Quarantine] = []

    def open_one() -> Quarantine:
        handles.append(open_quarantine(config))
        return handles[-1]

    yield open_one
    for handle in handles:
        handle.close()


def _put(store: Quarantine, raw: bytes = RAW, **kw: object) -> str:
    args: dict[str, object] = dict(envelope_from="a@sotc.gov.vn", recipients=["b@x.gov.vn"],
                                   direction="outbound", unit_id="sotc", decision=DECISION,
                                   now=NOW)
    args.update(kw)
    return store.put(raw, **args)  # type: ignore[arg-type]


def test_what_one_handle_holds_another_reads(opener: Opener) -> None:
    qid = _put(opener(), envelope_from="vănthư\x00nul@sotc.gov.vn")
    other = opener()
    entry = other.get(qid)
    assert other.read(qid) == RAW
    assert other.read_head(qid, 10) == RAW[:10]
    assert [e.id for e in other.list()] == [qid]
    assert entry.envelope_from == "vănthư\x00nul@sotc.gov.vn"
    assert (entry.recipients, entry.unit_id, entry.size) == (("b@x.gov.vn",), "sotc", len(RAW))
    assert entry.expires == NOW + timedelta(days=7)
    assert entry.decision["violations"][0]["filename"] == "a.docm"


def test_expire_and_delete(opener: Opener) -> None:
    store = opener()
    old = _put(store, now=NOW - timedelta(days=8))
    new = _put(store, b"other", now=NOW)
    assert store.expire(NOW) == [old]
    assert [e.id for e in store.list()] == [new]
    store.delete(new)
    assert store.list() == []
    with pytest.raises(QuarantineNotFound) as info:
        store.read(new)
    assert info.value.id == new


def test_a_release_happens_once_whichever_server_asks(opener: Opener) -> None:
    first, second = opener(), opener()
    qid = _put(first)
    later = NOW + timedelta(days=8)  # past its retention, within the claim
    start = threading.Barrier(2)
    won: list[str] = []
    refused: list[QuarantineError] = []

    def release(store: Quarantine, who: str) -> None:
        start.wait()
        try:
            won.append(store.claim(qid, by=who, now=later).token)
        except QuarantineBusy as exc:
            refused.append(exc)

    threads = [threading.Thread(target=release, args=(s, f"admin on mail{n}"))
               for n, s in ((1, first), (2, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(refused) == 1
    busy = refused[0]
    assert busy.id == qid and busy.by == won[0]
    assert f"held message {qid} is being released by admin on mail" in str(busy)
    # nobody else deletes it meanwhile, neither an administrator nor the retention
    with pytest.raises(QuarantineBusy):
        second.delete(qid, now=later)
    assert first.expire(later) == []
    first.delete(qid, claim=won[0], now=later)
    with pytest.raises(QuarantineNotFound, match="released or deleted already"):
        second.claim(qid, by="admin on mail2", now=later)


def test_a_failed_release_gives_the_message_back(opener: Opener) -> None:
    first, second = opener(), opener()
    qid = _put(first)
    claim = first.claim(qid, by="admin on mail1", now=NOW)
    assert claim.entry.id == qid
    with pytest.raises(QuarantineBusy):
        second.claim(qid, by="admin on mail2", now=NOW + CLAIM_TIMEOUT - timedelta(seconds=1))
    first.unclaim(qid, claim.token)
    again = second.claim(qid, by="admin on mail2", now=NOW)
    first.unclaim(qid, claim.token)  # an old token gives back nothing
    with pytest.raises(QuarantineBusy):
        first.claim(qid, by="admin on mail1", now=NOW)
    with pytest.raises(QuarantineBusy):
        first.delete(qid, claim=claim.token, now=NOW)
    second.delete(qid, claim=again.token, now=NOW)
    assert second.list() == []


def test_an_abandoned_claim_is_taken_over(opener: Opener) -> None:
    first, second = opener(), opener()
    qid = _put(first)
    first.claim(qid, by="a process that died", now=NOW)
    taken = second.claim(qid, by="admin on mail2", now=NOW + CLAIM_TIMEOUT)
    second.delete(qid, claim=taken.token, now=NOW + CLAIM_TIMEOUT)
    assert first.list() == []


def test_a_copy_keeps_ids_times_and_bytes(tmp_path: Path, postgres_url: str) -> None:
    with Quarantine(tmp_path / "quarantine") as source:
        ids = [_put(source), _put(source, b"Subject: y\r\n\r\n" + bytes(range(256)),
                                  direction="inbound", unit_id=None)]
        target = PgQuarantine.from_config(
            QuarantineConfig(url=postgres_url, password_file=password_file(tmp_path)))
        assert copy_quarantine(source, target) == 2
        assert [e.as_json() for e in target.list()] == [e.as_json() for e in source.list()]
        assert [target.read(qid) for qid in ids] == [source.read(qid) for qid in ids]
        with pytest.raises(QuarantineError, match="already holds messages"):
            copy_quarantine(source, target)


def test_path_and_url_together_are_a_configuration_error(postgres_url: str) -> None:
    with pytest.raises(ValidationError, match="path and url name two quarantines"):
        QuarantineConfig(path=Path("q"), url=postgres_url)
    with pytest.raises(ValidationError, match="must not contain a password"):
        QuarantineConfig(url="postgresql://congvu:secret@127.0.0.1/congvu")


def test_an_unusable_password_file_is_said(tmp_path: Path, postgres_url: str) -> None:
    loose = tmp_path / "password"
    loose.write_text("x\n")
    loose.chmod(0o644)
    with pytest.raises(QuarantineError, match=f"store password file {loose}"):
        open_quarantine(QuarantineConfig(url=postgres_url, password_file=loose))


def test_a_wrong_password_is_said_in_an_administrators_words(
        tmp_path: Path, postgres_url: str) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    store = open_quarantine(QuarantineConfig(url=postgres_url, password_file=wrong))
    with pytest.raises(QuarantineError, match="cannot hold the message: the database "
                                              "refused the login"):
        _put(store)


def test_a_database_that_is_down_is_a_quarantine_error(tmp_path: Path) -> None:
    from support.postfix import free_port
    url = f"postgresql://congvu@127.0.0.1:{free_port()}/congvu"
    store = open_quarantine(QuarantineConfig(url=url, password_file=password_file(tmp_path)))
    with pytest.raises(QuarantineError, match="cannot hold the message: the database "
                                              "server cannot be reached"):
        _put(store)


def test_a_read_only_database_refuses_to_hold_but_still_lists(
        tmp_path: Path, postgres_url: str, postgres_cluster: PostgresCluster) -> None:
    config = QuarantineConfig(url=postgres_url, password_file=password_file(tmp_path))
    qid = _put(open_quarantine(config))
    name = postgres_url.rsplit("/", 1)[1]
    with postgres_cluster.admin() as db:
        db.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    store = open_quarantine(config)
    with pytest.raises(QuarantineError, match="cannot hold the message: the database is "
                                              "read-only"):
        _put(store)
    assert [e.id for e in store.list()] == [qid]


# The index as the release before claims made it (PRAGMA user_version 0).
_PREVIOUS_INDEX = """
CREATE TABLE held (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, created TEXT NOT NULL,
    expires TEXT NOT NULL, envelope_from TEXT NOT NULL, recipients TEXT NOT NULL,
    direction TEXT NOT NULL, unit_id TEXT, action TEXT NOT NULL, decision TEXT NOT NULL,
    size INTEGER NOT NULL) STRICT;
CREATE INDEX held_expires ON held (expires);
CREATE INDEX held_sha256 ON held (sha256);
"""


def test_a_quarantine_of_the_previous_release_migrates_and_stays_readable_by_it(
        tmp_path: Path) -> None:
    import sqlite3

    root = tmp_path / "quarantine"
    with Quarantine(root) as store:  # the bytes, as both releases write them
        qid = _put(store)
        entry = store.get(qid)
    (root / "index.sqlite3").unlink()
    old = sqlite3.connect(root / "index.sqlite3")
    old.executescript(_PREVIOUS_INDEX)
    old.execute("INSERT INTO held VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
        qid, entry.sha256, entry.created.isoformat(), entry.expires.isoformat(),
        entry.envelope_from, '["b@x.gov.vn"]', "outbound", "sotc", "quarantine",
        '{"violations": []}', entry.size))
    old.commit()
    old.close()
    with Quarantine(root) as store:
        assert store.read(qid) == RAW
        claim = store.claim(qid, by="admin", now=NOW)
    db = sqlite3.connect(root / "index.sqlite3")
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        # the previous release reads every row into eleven values, as before
        assert [len(row) for row in db.execute("SELECT * FROM held")] == [11]
    finally:
        db.close()
    with Quarantine(root) as store:
        with pytest.raises(QuarantineBusy):
            store.claim(qid, by="another admin", now=NOW)
        store.delete(qid, claim=claim.token, now=NOW)
        assert store.list() == []


def test_the_head_of_a_large_message_is_its_first_bytes(opener: Opener) -> None:
    import os

    raw = RAW + os.urandom(3 * 1024 * 1024)  # stored as gzip's uncompressed blocks
    store = opener()
    qid = _put(store, raw)
    assert store.read_head(qid, 64 * 1024) == raw[:64 * 1024]
    assert store.read_head(qid, 10 * 1024 * 1024) == raw
