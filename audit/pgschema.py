"""The audit store's schema in PostgreSQL: the same tables, columns and migration names
as audit/schema.py's SQLite schema, so one version list describes both backends.

Text columns are ``COLLATE "C"``: they compare and sort by code point, as SQLite's
BINARY does, whatever the cluster's locale. The migrations run in one transaction under
the store's advisory lock, so several servers opening a new database do not race; each
is remembered in ``_migrations`` as in SQLite.

The functions are the SQLite spellings the shared SQL uses (mailbase/pgconn.py renames
``json_each`` and the others to these), over ``jsonb``. jsonb refuses the escape
``\\u0000``; the chained detail keeps a NUL as exactly that, so :func:`congvu_json`
reads it as U+FDD0 ``0``, the form mailbase/pgconn.py stores a NUL in as plain text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from audit.records import AdminKind
from audit.schema import CHAIN_SPAN, EVENT_COLUMNS, partial_lookup_indexes
from audit.schema import MIGRATIONS as SQLITE_MIGRATIONS
from audit.summaryschema import KEYS, STRETCH, added, pg_steps
from audit.verify import IndexCheck
from mailbase.pgconn import PgConnection

#: The advisory lock every writer of the chain takes inside its transaction.
CHAIN_LOCK = 0x636F6E67_7675  # "congvu"

_TEXT = 'text COLLATE "C"'

# The events' columns as congvu_append fills them: a row's place from its position in the
# batch (its "seq"), the links computed here, the rest read from its hashed text.
_PLACED = {"seq": "r.seq + first - 1", "prev_hash": "prevs[r.seq]", "hash": "hashes[r.seq]"}
_EVENT_NAMES = ", ".join(EVENT_COLUMNS)
_EVENT_VALUES = ", ".join(_PLACED.get(c, f"r.{c}") for c in EVENT_COLUMNS)
# The events after the summary's read that make it out of date (audit/summary.py's Ahead).
_OUTDATING = ", ".join(f"'{k.value}'" for k in (
    AdminKind.QUARANTINE_RELEASE, AdminKind.QUARANTINE_DELETE, AdminKind.CHAIN_IMPORTED,
    AdminKind.PRUNE))


def _summed(table: str) -> str:
    """congvu_append's addition of the rows of ``table`` the writer counted (summary_doc's
    member of its name): a stretch -n is that of the batch's n-th event, found here."""
    columns, conflict = added(table)
    keys = ", ".join(KEYS[table])
    sums = ", ".join(f"max({c})" if c == "last_sent" else f"sum({c})"
                     for c in columns if c not in KEYS[table])
    placed = ", ".join(
        "CASE WHEN s.stretch < 0 THEN (SELECT "
        f"{STRETCH} FROM (SELECT first - 1 - s.stretch AS seq) e) ELSE s.stretch END AS stretch"
        if c == "stretch" else f"s.{c}" for c in columns)
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {keys}, {sums} FROM (SELECT "
            f"{placed} FROM json_populate_recordset(NULL::{table}, summary_doc -> '{table}') s"
            f") s GROUP BY {keys} {conflict};")


_SUMMED = "\n        ".join(_summed(table) for table in KEYS)

#: A batch of events linked and inserted by the database server, which takes the chain's
#: lock once it has read the rows, so the lock is held for no round trip to the writer
#: and no parsing (audit/pgstore.py). Each event comes as its canonical hashed text split
#: around ``prev_hash`` (audit/pending.py): its hash is SHA-256 of the part before, the
#: previous row's hash (hex, ASCII) and the part after, which is audit/chain.py's
#: row_hash byte for byte, and its ``events`` row is read from that same text
#: (:data:`_EVENT_ROWS`), so the row stored is always the one hashed. The rows of the
#: indexes derived from it come as JSON (``seq`` and ``record_id`` the event's position
#: in the batch, from 1). The report's summary changes the writer counted before the
#: lock from the log as it stood at ``read_head`` (audit/summary.py's ``ahead``) come as
#: ``summary_doc``, added to each table; when an event after ``read_head`` makes that
#: count out of date (it completes one of the ``watched`` messages, holds one when the
#: batch ``decides_held``, decides a held message, imports a chain or removes events)
#: nothing is written and ``stale`` is true. When a checkpoint falls due (audit/store.py's
#: rule: the writer signs it, so the writer must see the head before the COMMIT) nothing
#: is written and ``due`` is true. Either way the writer then appends as it does without
#: this. (Earlier releases' functions also took the events' rows as JSON: see
#: :data:`_SUPERSEDED`.)
_APPEND = f"""
    CREATE OR REPLACE FUNCTION congvu_append(
        befores bytea[], afters bytea[], memberships_doc json, recipients_doc json,
        attachments_doc json, search_doc json, summary_doc json, read_head bigint,
        watched bigint[], decides_held boolean, every_records bigint,
        every_seconds double precision, now_at text, OUT seqs bigint[], OUT due boolean,
        OUT stale boolean)
    LANGUAGE plpgsql AS $$
    DECLARE
        head bigint; prev text; first bigint; prevs text[]; hashes text[];
        last_seq bigint; last_at text; last_records bigint; last_seconds double precision;
        event_rows events[] := ARRAY(SELECT r FROM congvu_events(
            ARRAY(SELECT generate_series(1::bigint, cardinality(befores))), befores, afters) r);
        membership_rows memberships[] := ARRAY(
            SELECT r FROM json_populate_recordset(NULL::memberships, memberships_doc) r);
        recipient_rows recipients[] := ARRAY(
            SELECT r FROM json_populate_recordset(NULL::recipients, recipients_doc) r);
        attachment_rows attachments[] := ARRAY(
            SELECT r FROM json_populate_recordset(NULL::attachments, attachments_doc) r);
        search_rows search[] := ARRAY(
            SELECT r FROM json_populate_recordset(NULL::search, search_doc) r);
    BEGIN
        -- the rows read, the chain's lock, held to the COMMIT
        PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
        SELECT e.seq, e.hash INTO head, prev FROM events e WHERE e.seq < {CHAIN_SPAN}
            ORDER BY e.seq DESC LIMIT 1;
        head := coalesce(head, 0);
        prev := coalesce(prev, repeat('0', 64));
        first := head + 1;
        stale := read_head IS NOT NULL AND EXISTS (
            SELECT 1 FROM events e WHERE e.seq > read_head AND e.seq <= head AND (
                (e.kind = 'completion' AND (e.record_id = ANY(watched)
                                            OR decides_held AND e.outcome = 'quarantined'))
                OR (e.kind = 'admin' AND e.admin_kind IN ({_OUTDATING}))));
        IF stale THEN
            RETURN;
        END IF;
        FOR i IN 1 .. coalesce(array_length(befores, 1), 0) LOOP
            prevs[i] := prev;
            prev := encode(sha256(befores[i] || convert_to(prev, 'UTF8') || afters[i]), 'hex');
            hashes[i] := prev;
            head := head + 1;
        END LOOP;
        SELECT c.seq, c.at, c.every_records, c.every_seconds
            INTO last_seq, last_at, last_records, last_seconds
            FROM checkpoints c ORDER BY c.seq DESC LIMIT 1;
        due := head >= first AND head > coalesce(last_seq, 0) AND (
            last_at IS NULL OR head - last_seq >= every_records
            OR now_at::timestamptz - last_at::timestamptz >= every_seconds * interval '1 second'
            OR last_records IS DISTINCT FROM every_records
            OR last_seconds IS DISTINCT FROM every_seconds);
        IF due THEN
            RETURN;
        END IF;
        seqs := ARRAY(SELECT generate_series(first, head));
        INSERT INTO events ({_EVENT_NAMES}) SELECT {_EVENT_VALUES}
            FROM unnest(event_rows) r;
        INSERT INTO memberships (record_id, unit_id, role, at)
            SELECT r.record_id + first - 1, r.unit_id, r.role, r.at
            FROM unnest(membership_rows) r;
        INSERT INTO recipients (record_id, position, address, unit_id)
            SELECT r.record_id + first - 1, r.position, r.address, r.unit_id
            FROM unnest(recipient_rows) r;
        INSERT INTO attachments (record_id, position, sha256, filename, filename_folded,
                                 size, document)
            SELECT r.record_id + first - 1, r.position, r.sha256, r.filename,
                   r.filename_folded, r.size, r.document
            FROM unnest(attachment_rows) r;
        INSERT INTO search (seq, words) SELECT r.seq + first - 1, r.words
            FROM unnest(search_rows) r;
        -- audit/summary.py's maintain, the figures counted by the writer
        {_SUMMED}
        UPDATE summary_state SET live_through = head WHERE live_through = first - 1;
    END $$"""

#: The ``events`` rows of events (``congvu_events``: each placed at its ``places``
#: member) read from their canonical hashed text. Each text comes as its bytes before
#: ``prev_hash`` and after it (the hash put between is any of its length: each row's is
#: set once the chain's head is known) and is read as mailbase/pgconn.py's encode() stores
#: text (``congvu_text``): a lone surrogate (which Python's ``surrogatepass`` wrote as
#: bytes ED A0-BF xx, no UTF-8) and U+FDD0 escaped, a NUL never bare (the JSON escapes
#: it), then as JSON whose escaped NUL becomes that escape too (as :func:`congvu_json`
#: reads it), each column from its member (absent: NULL, as row_hash leaves NULL out).
#: ``json``, not ``jsonb``: jsonb reads a number as a numeric, which has no -0.0.
_EVENT_ROWS = [
    r"""CREATE OR REPLACE FUNCTION congvu_text(doc bytea) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    DECLARE
        text_of text := ''; rest bytea := doc; at integer; code integer;
    BEGIN
        LOOP  -- a byte ED leads a character of three bytes: U+D000 to U+DFFF
            at := position('\xed'::bytea IN rest);
            EXIT WHEN at = 0;
            IF get_byte(rest, at) >= 160 THEN  -- a surrogate
                code := ((get_byte(rest, at - 1) & 15) << 12)
                        | ((get_byte(rest, at) & 63) << 6) | (get_byte(rest, at + 1) & 63);
                text_of := text_of || replace(convert_from(substr(rest, 1, at - 1), 'UTF8'),
                                              U&'\FDD0', U&'\FDD0' || 'e')
                           || U&'\FDD0' || 'u' || lpad(to_hex(code), 4, '0');
            ELSE
                text_of := text_of || replace(convert_from(substr(rest, 1, at + 2), 'UTF8'),
                                              U&'\FDD0', U&'\FDD0' || 'e');
            END IF;
            rest := substr(rest, at + 3);
        END LOOP;
        text_of := text_of || replace(convert_from(rest, 'UTF8'), U&'\FDD0', U&'\FDD0' || 'e');
        IF position('\x5c7530303030'::bytea IN doc) > 0 THEN  -- the escape \u0000
            text_of := regexp_replace(text_of, '(?<!\\)((?:\\\\)*)\\u0000',
                                      '\1' || U&'\FDD0' || '0', 'g');
        END IF;
        RETURN text_of;
    END $$""",
    # byte searches first: most texts have none of those bytes (a search of the text
    # would cost several times more), and are read as they are
    r"""CREATE OR REPLACE FUNCTION congvu_events(places bigint[], text_before bytea[],
                                             text_after bytea[])
    RETURNS SETOF events LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT r.* FROM unnest(places, text_before, text_after) AS t(n, b, a)
    CROSS JOIN LATERAL (SELECT t.b || convert_to(repeat('0', 64), 'UTF8') || t.a AS doc) d
    CROSS JOIN LATERAL json_populate_record(NULL::events, ('{"seq":' || t.n || ',' || substr(
        CASE WHEN position('\xed'::bytea IN d.doc) = 0
                  AND position('\xefb790'::bytea IN d.doc) = 0
                  AND position('\x5c7530303030'::bytea IN d.doc) = 0
             THEN convert_from(d.doc, 'UTF8') ELSE congvu_text(d.doc) END, 2))::json) r $$""",
]

_PREVIOUS_ARGUMENTS = """
        events_doc json, befores bytea[], afters bytea[], memberships_doc json,
        recipients_doc json, attachments_doc json, search_doc json"""
#: The functions earlier releases created, which took each event's row as JSON beside
#: its hashed text and stored the row they were given, now reading it from the text as
#: :data:`_APPEND` does (the JSON left unread). A server of such a release keeps
#: appending while the servers are upgraded one by one; when one starts again it puts
#: its own function back, and the next server of this release to start replaces it again.
_SUPERSEDED = [
    f"""DO $do$ BEGIN IF to_regprocedure('congvu_append(json, bytea[], bytea[], json, json,
        json, json, json, bigint, bigint[], boolean, bigint, double precision, text)')
        IS NOT NULL THEN EXECUTE $f$
    CREATE OR REPLACE FUNCTION congvu_append({_PREVIOUS_ARGUMENTS}, summary_doc json,
        read_head bigint, watched bigint[], decides_held boolean, every_records bigint,
        every_seconds double precision, now_at text, OUT seqs bigint[], OUT due boolean,
        OUT stale boolean)
    LANGUAGE sql AS $$ SELECT a.seqs, a.due, a.stale FROM congvu_append(
        befores, afters, memberships_doc, recipients_doc, attachments_doc, search_doc,
        summary_doc, read_head, watched, decides_held, every_records, every_seconds,
        now_at) a $$ $f$; END IF; END $do$""",
    # the release before the summary's arguments: batches that change no figure
    f"""DO $do$ BEGIN IF to_regprocedure('congvu_append(json, bytea[], bytea[], json, json,
        json, json, bigint, double precision, text)') IS NOT NULL THEN EXECUTE $f$
    CREATE OR REPLACE FUNCTION congvu_append({_PREVIOUS_ARGUMENTS}, every_records bigint,
        every_seconds double precision, now_at text, OUT seqs bigint[], OUT due boolean)
    LANGUAGE sql AS $$ SELECT a.seqs, a.due FROM congvu_append(
        befores, afters, memberships_doc, recipients_doc, attachments_doc, search_doc,
        NULL, NULL, '{{}}', false, every_records, every_seconds, now_at) a $$ $f$;
        END IF; END $do$""",
]

_FUNCTIONS = [
    r"""CREATE OR REPLACE FUNCTION congvu_json(doc text) RETURNS jsonb
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT regexp_replace(doc, '(?<!\\)((?:\\\\)*)\\u0000', '\1' || U&'\FDD0' || '0',
                              'g')::jsonb $$""",
    r"""CREATE OR REPLACE FUNCTION congvu_json_path(path text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT array_remove(regexp_split_to_array(
            regexp_replace(substr(path, 2), '\[(\d+)\]', '.\1', 'g'), '\.'), '') $$""",
    """CREATE OR REPLACE FUNCTION congvu_json_extract(doc text, path text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT congvu_json(doc) #>> congvu_json_path(path) $$""",
    """CREATE OR REPLACE FUNCTION congvu_json_array_length(doc text, path text DEFAULT '$')
        RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN jsonb_typeof(congvu_json(doc) #> congvu_json_path(path)) = 'array'
               THEN jsonb_array_length(congvu_json(doc) #> congvu_json_path(path)) END $$""",
    """CREATE OR REPLACE FUNCTION congvu_json_each(doc text, path text DEFAULT '$')
        RETURNS TABLE (key bigint, value text) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT e.n - 1, e.v #>> '{}' FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(congvu_json(doc) #> congvu_json_path(path)) = 'array'
            THEN congvu_json(doc) #> congvu_json_path(path) ELSE '[]'::jsonb END)
            WITH ORDINALITY AS e(v, n) $$""",
    # SQLite's truth values are integers, and the shared SQL adds and scales them
    """CREATE OR REPLACE FUNCTION congvu_add(a boolean, b integer) RETURNS integer
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT a::integer + b $$""",
    """CREATE OR REPLACE FUNCTION congvu_add(a integer, b boolean) RETURNS integer
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT a + b::integer $$""",
    """CREATE OR REPLACE FUNCTION congvu_add(a boolean, b boolean) RETURNS integer
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT a::integer + b::integer $$""",
    """CREATE OR REPLACE FUNCTION congvu_mul(a integer, b boolean) RETURNS integer
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT a * b::integer $$""",
    """CREATE OR REPLACE FUNCTION congvu_mul(a boolean, b integer) RETURNS integer
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT a::integer * b $$""",
    *(f"""DO $$ BEGIN CREATE OPERATOR {op} (LEFTARG = {left}, RIGHTARG = {right},
          FUNCTION = {function});
          EXCEPTION WHEN duplicate_function OR duplicate_object THEN NULL; END $$"""
      for op, left, right, function in (
          ("+", "boolean", "integer", "congvu_add"), ("+", "integer", "boolean", "congvu_add"),
          ("+", "boolean", "boolean", "congvu_add"), ("*", "integer", "boolean", "congvu_mul"),
          ("*", "boolean", "integer", "congvu_mul"))),
    # Python's str.lower (the recipients index is written with it): Unicode, not ASCII
    """CREATE OR REPLACE FUNCTION congvu_lower(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT lower(value COLLATE "und-x-icu") COLLATE "C" $$""",
    # SQLite's JSON functions cut a string at an escaped NUL; jsonb here does not
    """CREATE OR REPLACE FUNCTION congvu_cut(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT value $$""",
]

_V1 = [
    f"""CREATE TABLE events (
        seq bigint PRIMARY KEY, kind {_TEXT} NOT NULL, at {_TEXT} NOT NULL,
        record_id bigint, decided_at {_TEXT}, listener {_TEXT}, role {_TEXT},
        direction {_TEXT}, client_address {_TEXT}, client_helo {_TEXT}, queue_id {_TEXT},
        message_id {_TEXT}, envelope_sender {_TEXT}, header_from {_TEXT}, subject {_TEXT},
        size bigint, action {_TEXT}, dkim {_TEXT}, smime {_TEXT},
        processing_ms double precision, sender_unit {_TEXT}, outcome {_TEXT},
        reply {_TEXT}, admin_kind {_TEXT}, actor {_TEXT}, target {_TEXT},
        detail {_TEXT} NOT NULL, prev_hash {_TEXT} NOT NULL, hash {_TEXT} NOT NULL)""",
    "CREATE INDEX events_kind_at ON events (kind, at)",
    "CREATE INDEX events_record ON events (record_id)",
    "CREATE INDEX events_message_id ON events (message_id)",
    "CREATE INDEX events_queue_id ON events (queue_id)",
    "CREATE INDEX events_sender ON events (envelope_sender)",
    f"""CREATE TABLE memberships (
        record_id bigint NOT NULL, unit_id {_TEXT} NOT NULL, role {_TEXT} NOT NULL,
        at {_TEXT} NOT NULL, PRIMARY KEY (unit_id, role, record_id))""",
    "CREATE INDEX memberships_unit_at ON memberships (unit_id, at, record_id)",
    "CREATE INDEX memberships_record ON memberships (record_id)",
    f"""CREATE TABLE recipients (
        record_id bigint NOT NULL, position bigint NOT NULL, address {_TEXT} NOT NULL,
        PRIMARY KEY (record_id, position))""",
    "CREATE INDEX recipients_address ON recipients (address, record_id)",
    f"""CREATE TABLE attachments (
        record_id bigint NOT NULL, position bigint NOT NULL, sha256 {_TEXT} NOT NULL,
        filename {_TEXT}, filename_folded {_TEXT}, size bigint NOT NULL,
        PRIMARY KEY (record_id, position))""",
    "CREATE INDEX attachments_sha256 ON attachments (sha256)",
    "CREATE INDEX attachments_filename ON attachments (filename_folded)",
    f"""CREATE TABLE checkpoints (
        seq bigint PRIMARY KEY, hash {_TEXT} NOT NULL, at {_TEXT} NOT NULL,
        public_key {_TEXT} NOT NULL, signature {_TEXT} NOT NULL)""",
    # The words of each record's folded text (SQLite: FTS5), found with a GIN index.
    "CREATE TABLE search (seq bigint PRIMARY KEY, words text[] COLLATE \"C\" NOT NULL)",
    "CREATE INDEX search_words ON search USING gin (words)",
]

STEPS: dict[str, list[str]] = {
    "0001-events-indexes-checkpoints": _V1,
    "0002-recipient-units": [
        f"ALTER TABLE recipients ADD COLUMN unit_id {_TEXT}",
        "CREATE INDEX recipients_unit ON recipients (unit_id, address)",
    ],
    "0003-document-verdicts": [f"ALTER TABLE attachments ADD COLUMN document {_TEXT}"],
    "0004-checkpoint-schedule": [
        "ALTER TABLE checkpoints ADD COLUMN every_records bigint",
        "ALTER TABLE checkpoints ADD COLUMN every_seconds double precision",
        "ALTER TABLE checkpoints ADD COLUMN batch_from bigint",
    ],
    "0005-checkpoint-links": [
        "ALTER TABLE checkpoints ADD COLUMN link_from bigint",
        f"ALTER TABLE checkpoints ADD COLUMN link {_TEXT}",
        f"ALTER TABLE checkpoints ADD COLUMN link_signature {_TEXT}",
    ],
    "0006-admin-kind-index": [
        "CREATE INDEX events_admin_kind ON events (admin_kind, seq) WHERE kind = 'admin'",
    ],
    "0007-chains": [
        f"ALTER TABLE events ADD COLUMN chain {_TEXT}",
        f"""CREATE TABLE chains (
            id {_TEXT} PRIMARY KEY, base bigint NOT NULL UNIQUE, source {_TEXT} NOT NULL,
            imported_at {_TEXT} NOT NULL, events bigint NOT NULL, first_seq bigint,
            last_seq bigint, head_hash {_TEXT} NOT NULL)""",
        f"""CREATE TABLE imported_checkpoints (
            chain {_TEXT} NOT NULL, seq bigint NOT NULL, hash {_TEXT} NOT NULL,
            at {_TEXT} NOT NULL, public_key {_TEXT} NOT NULL, signature {_TEXT} NOT NULL,
            every_records bigint, every_seconds double precision, batch_from bigint,
            link_from bigint, link {_TEXT}, link_signature {_TEXT},
            PRIMARY KEY (chain, seq))""",
    ],
    "0008-report-summary": pg_steps(),
    "0009-partial-lookup-indexes": partial_lookup_indexes(),
}
# Every SQLite migration has its PostgreSQL steps (a test holds them to it).
MIGRATIONS: list[tuple[str, list[str]]] = [(name, STEPS[name]) for name, _ in SQLITE_MIGRATIONS]


# verify's index checks (audit/verify.py's INDEXES) in PostgreSQL's own JSON: each
# row's detail is parsed once (the OFFSET 0 keeps it from being inlined per use), where
# the shared spelling would parse it again for every recipient.
_DETAIL = "CROSS JOIN LATERAL (SELECT congvu_json(e.detail) AS d OFFSET 0) x"
_UNITS = ("CROSS JOIN LATERAL jsonb_array_elements_text(x.d -> 'recipient_units') "
          "AS j(value)")
_RECIPIENTS = ("CROSS JOIN LATERAL jsonb_array_elements_text(x.d -> 'envelope_recipients') "
               "WITH ORDINALITY AS j(value, n)")
_RECIPIENT_UNIT = "(x.d -> 'envelope_recipient_units' ->> (j.n - 1)::int)"
_ATTACHMENTS = ("CROSS JOIN LATERAL jsonb_array_elements(x.d -> 'attachments') "
                "WITH ORDINALITY AS j(v, n)")
INDEX_CHECKS: list[IndexCheck] = [
    (
        "memberships",
        "SELECT e.seq, e.sender_unit, 'sent' FROM events e WHERE e.kind = 'message' "
        "AND e.sender_unit IS NOT NULL AND NOT EXISTS (SELECT 1 FROM memberships m "
        "WHERE m.unit_id = e.sender_unit AND m.role = 'sent' AND m.record_id = e.seq "
        "AND m.at = e.at) "
        f"UNION ALL SELECT e.seq, j.value, 'received' FROM events e {_DETAIL} {_UNITS} "
        "WHERE e.kind = 'message' AND NOT EXISTS (SELECT 1 FROM memberships m "
        "WHERE m.record_id = e.seq AND m.role = 'received' AND m.at = e.at "
        "AND m.unit_id = j.value)",
        "SELECT SUM(CASE WHEN e.sender_unit IS NULL THEN 0 ELSE 1 END) + "
        "SUM(jsonb_array_length(x.d -> 'recipient_units')) FROM events e "
        f"{_DETAIL} WHERE e.kind = 'message'",
        "SELECT record_id, unit_id, role, at FROM memberships",
        "SELECT seq, sender_unit, 'sent', at FROM events WHERE kind = 'message' "
        "AND sender_unit IS NOT NULL UNION SELECT e.seq, j.value COLLATE \"C\", "
        f"'received', e.at FROM events e {_DETAIL} {_UNITS} WHERE e.kind = 'message'",
    ),
    (
        "recipients",
        f"SELECT e.seq, j.value FROM events e {_DETAIL} {_RECIPIENTS} "
        "WHERE e.kind = 'message' AND NOT EXISTS (SELECT 1 FROM recipients r "
        "WHERE r.record_id = e.seq AND r.position = j.n - 1 "
        f"AND r.unit_id IS NOT DISTINCT FROM {_RECIPIENT_UNIT} "
        "AND r.address = congvu_lower(j.value))",
        "SELECT SUM(jsonb_array_length(x.d -> 'envelope_recipients')) FROM events e "
        f"{_DETAIL} WHERE e.kind = 'message'",
        "SELECT record_id, position, address, unit_id FROM recipients",
        "SELECT e.seq, j.n - 1, congvu_lower(j.value), "
        f"{_RECIPIENT_UNIT} COLLATE \"C\" FROM events e {_DETAIL} {_RECIPIENTS} "
        "WHERE e.kind = 'message'",
    ),
    (
        "attachments",
        f"SELECT e.seq, j.v ->> 'sha256' FROM events e {_DETAIL} {_ATTACHMENTS} "
        "WHERE e.kind = 'message' AND NOT EXISTS (SELECT 1 FROM attachments a "
        "WHERE a.record_id = e.seq AND a.position = j.n - 1 "
        "AND a.sha256 = j.v ->> 'sha256' AND a.size = (j.v ->> 'size')::bigint "
        "AND a.document IS NOT DISTINCT FROM j.v ->> 'document' "
        "AND a.filename IS NOT DISTINCT FROM j.v ->> 'filename')",
        "SELECT SUM(jsonb_array_length(x.d -> 'attachments')) FROM events e "
        f"{_DETAIL} WHERE e.kind = 'message'",
        "SELECT record_id, position, sha256, filename, size FROM attachments",
        "SELECT e.seq, j.n - 1, (j.v ->> 'sha256') COLLATE \"C\", "
        "(j.v ->> 'filename') COLLATE \"C\", (j.v ->> 'size')::bigint "
        f"FROM events e {_DETAIL} {_ATTACHMENTS} WHERE e.kind = 'message'",
    ),
]


def migrate(conn: PgConnection, migrations: list[tuple[str, list[str]]] | None = None
            ) -> list[str]:
    """Apply the migrations this database lacks, in order, in one transaction under the
    chain's lock; return their names."""
    migrations = MIGRATIONS if migrations is None else migrations
    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (CHAIN_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations "
                     f"(name {_TEXT} PRIMARY KEY, applied_at {_TEXT} NOT NULL)")
        for statement in _FUNCTIONS:
            conn.raw.execute(statement)
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        applied = []
        for name, steps in migrations:
            if name in done:
                continue
            for statement in steps:
                conn.raw.execute(statement)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                          (name, datetime.now(UTC).isoformat()))
            applied.append(name)
        # after the migrations: they name their tables' types
        for statement in (*_EVENT_ROWS, _APPEND, *_SUPERSEDED):
            conn.raw.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    return applied


def is_current(conn: PgConnection) -> bool:
    """Whether every migration has been applied (read-only: nothing is created)."""
    found = conn.execute("SELECT to_regclass('_migrations') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return False
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    return all(name in done for name, _ in MIGRATIONS)
