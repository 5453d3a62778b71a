"""The report's summary tables: what they hold, their schema on both backends, and
when the report may read them.

The summary is derived from the chain and never part of it: no hash covers it, and
``congvu audit summary rebuild`` makes it again from the records. It holds the report's
counts (audit/report.py) per local day in :data:`SUMMARY_ZONE`, per *stretch* (the
position after the last unit rename before a record, so renames still apply when it is
read: :mod:`audit.renames`) and per unit as the records wrote it:

- ``summary_sent``: per sending (or, for a forgery, claimed) unit and envelope sender
  (``''`` for a forgery): the sent-side columns, and the last time a message counted
  as sent left (the roster's use needs it);
- ``summary_received``: per set of recipient units of a message (sorted, joined by
  U+001F): the received-side columns, so that a total or subtotal counts each message
  once however many of its units it holds;
- ``summary_boxes``: the same per recipient address and its unit;
- ``summary_talk``: correspondents: per sending unit and recipient address (side
  ``s``), and per set of recipient units and envelope sender (side ``r``).

``summary_state`` says which state of the log the tables describe: the live chain's
head and the imported chains' ids. Every append moves it with the rows it adds, in the
same transaction; a store whose rows came another way (an older release, a chain
imported, a bulk load) no longer matches, and the report reads the records until
``congvu audit summary rebuild`` has run.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from audit.schema import CHAIN_SPAN

#: The days the summary is counted by: the province's zone (no daylight saving time).
SUMMARY_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
#: The report's columns as migration 0008 made them (a later column needs a migration
#: of its own: tests/audit/test_summary.py holds this to audit.report.FIELDS).
COUNTED: tuple[str, ...] = (
    "sent", "sent_refused", "sent_held", "received", "received_refused",
    "forgery_attempts", "documents_sent", "documents_signed", "documents_valid",
    "dkim_signed", "smime_signed", "dmarc_checked", "dmarc_pass", "spoof_refused",
    "documents_valid_gov", "documents_valid_public", "documents_received",
    "documents_received_valid", "documents_received_complete", "documents_sealed",
    "documents_complete", "classified_marked", "legacy_encoded",
)
#: Each table's key columns (``day`` and ``stretch`` first).
KEYS: dict[str, tuple[str, ...]] = {
    "summary_sent": ("day", "stretch", "unit", "mailbox"),
    "summary_received": ("day", "stretch", "units"),
    "summary_boxes": ("day", "stretch", "units", "unit", "address"),
    "summary_talk": ("day", "stretch", "side", "units", "address"),
}
#: Never built: the report reads the records.
NOT_BUILT = -1
SEP = "\x1f"
_RENAMED = "units-renamed"
#: SQL: the stretch of the record ``e`` (see the module's docstring): the position after
#: the last rename of its chain before it, else its chain's first position.
STRETCH = (f"coalesce((SELECT max(r.seq) FROM events r WHERE r.kind = 'admin' "
           f"AND r.admin_kind = '{_RENAMED}' AND r.seq < e.seq "
           f"AND r.seq >= e.seq / {CHAIN_SPAN} * {CHAIN_SPAN}) + 1, "
           f"e.seq / {CHAIN_SPAN} * {CHAIN_SPAN})")


def added(table: str) -> tuple[tuple[str, ...], str]:
    """The columns of ``table`` an append writes, and the clause that adds a row's
    figures to those its key holds already (keeping the later last time sent): an
    append's UPSERT, in SQLite (audit/summary.py) and in PostgreSQL (audit/pgschema.py's
    ``congvu_append``) alike."""
    keys = KEYS[table]
    values = ("n",) if table == "summary_talk" else COUNTED
    extra = ("last_sent",) if table == "summary_sent" else ()
    sets = [f"{v} = {table}.{v} + excluded.{v}" for v in values]
    if extra:
        sets.append("last_sent = CASE WHEN excluded.last_sent > "
                    f"coalesce({table}.last_sent, '') THEN excluded.last_sent "
                    f"ELSE {table}.last_sent END")
    return (*keys, *values, *extra), (f"ON CONFLICT ({', '.join(keys)}) "
                                      f"DO UPDATE SET {', '.join(sets)}")


def _columns(sql_int: str, sql_text: str) -> dict[str, str]:
    counts = ", ".join(f"{c} {sql_int} NOT NULL DEFAULT 0" for c in COUNTED)
    return {
        "summary_sent": f"day {sql_text} NOT NULL, stretch {sql_int} NOT NULL, "
                        f"unit {sql_text} NOT NULL, mailbox {sql_text} NOT NULL, {counts}, "
                        f"last_sent {sql_text}",
        "summary_received": f"day {sql_text} NOT NULL, stretch {sql_int} NOT NULL, "
                            f"units {sql_text} NOT NULL, {counts}",
        "summary_boxes": f"day {sql_text} NOT NULL, stretch {sql_int} NOT NULL, "
                         f"units {sql_text} NOT NULL, unit {sql_text} NOT NULL, "
                         f"address {sql_text} NOT NULL, {counts}",
        "summary_talk": f"day {sql_text} NOT NULL, stretch {sql_int} NOT NULL, "
                        f"side {sql_text} NOT NULL, units {sql_text} NOT NULL, "
                        f"address {sql_text} NOT NULL, n {sql_int} NOT NULL",
    }


def _state_sql(sql_int: str, sql_text: str) -> list[str]:
    return [
        f"CREATE TABLE summary_state (id {sql_int} PRIMARY KEY CHECK (id = 1), "
        f"live_through {sql_int} NOT NULL, chains {sql_text} NOT NULL)",
        # built at once when the log holds no message yet, else on the first rebuild
        "INSERT INTO summary_state (id, live_through, chains) SELECT 1, "
        f"CASE WHEN EXISTS (SELECT 1 FROM events WHERE kind = 'message') THEN {NOT_BUILT} "
        f"ELSE coalesce((SELECT max(seq) FROM events WHERE seq < {CHAIN_SPAN}), 0) END, ''",
        # a quarantine release or deletion finds the record it decides in the summary
        "CREATE INDEX events_held ON events (record_id) "
        "WHERE kind = 'completion' AND outcome = 'quarantined'",
    ]


def sqlite_steps() -> list[str]:
    """Migration 0008's statements in SQLite (STRICT tables)."""
    steps = [f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({', '.join(KEYS[table])})) STRICT"
             for table, columns in _columns("INTEGER", "TEXT").items()]
    return [*steps, *(s + " STRICT" if s.startswith("CREATE TABLE") else s
                      for s in _state_sql("INTEGER", "TEXT"))]


def pg_steps() -> list[str]:
    """Migration 0008's statements in PostgreSQL (text ``COLLATE "C"``)."""
    text = 'text COLLATE "C"'
    steps = [f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({', '.join(KEYS[table])}))"
             for table, columns in _columns("bigint", text).items()]
    return [*steps, *_state_sql("bigint", text)]


#: SQL: the live chain's last position (NULL: none).
LIVE_HEAD = f"SELECT max(seq) FROM events WHERE seq < {CHAIN_SPAN}"


def live_head(conn: sqlite3.Connection) -> int:
    """The live chain's last position (0: none)."""
    row = conn.execute(LIVE_HEAD).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def chains_text(conn: sqlite3.Connection) -> str:
    """The imported chains' ids as the state holds them."""
    return SEP.join(str(r[0]) for r in conn.execute("SELECT id FROM chains ORDER BY id"))


def is_current(conn: sqlite3.Connection, head: int) -> bool:
    """Whether the summary describes the log whose live chain ends at ``head``."""
    row = conn.execute("SELECT live_through, chains FROM summary_state").fetchone()
    return row is not None and int(row[0]) == head and str(row[1]) == chains_text(conn)


@lru_cache(maxsize=4096)
def _day_of_hour(hour: str) -> str:
    return datetime.fromisoformat(hour + ":00:00+00:00").astimezone(SUMMARY_ZONE).date(
    ).isoformat()


def day_of(at: str) -> str:
    """The local day (ISO date) of a stored time (UTC ISO 8601): the zone's offset is
    whole hours, so the hour decides it."""
    return _day_of_hour(at[:13])


def midnight(day: date) -> datetime:
    """The start of ``day`` in :data:`SUMMARY_ZONE`."""
    return datetime.combine(day, time(0), tzinfo=SUMMARY_ZONE)


def whole_days(start: datetime, end: datetime) -> tuple[date, date] | None:
    """The summary days lying wholly in ``[start, end)``: the first and the one after
    the last (None: not one)."""
    first = start.astimezone(SUMMARY_ZONE).date()
    if midnight(first) < start:
        first += timedelta(days=1)
    after = end.astimezone(SUMMARY_ZONE).date()
    return (first, after) if first < after else None
