-- congvu_append as the release that first linked batches in the database server created it
-- (audit/pgschema.py's _APPEND then): it stores each event's row as sent in events_doc.

    CREATE OR REPLACE FUNCTION congvu_append(
        events_doc json, befores bytea[], afters bytea[], memberships_doc json,
        recipients_doc json, attachments_doc json, search_doc json, every_records bigint,
        every_seconds double precision, now_at text, OUT seqs bigint[], OUT due boolean)
    LANGUAGE plpgsql AS $$
    DECLARE
        head bigint; prev text; first bigint; prevs text[]; hashes text[];
        last_seq bigint; last_at text; last_records bigint; last_seconds double precision;
        event_rows events[] := ARRAY(
            SELECT r FROM json_populate_recordset(NULL::events, events_doc) r);
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
        PERFORM pg_advisory_xact_lock(109330244793973);
        SELECT e.seq, e.hash INTO head, prev FROM events e WHERE e.seq < 1000000000000
            ORDER BY e.seq DESC LIMIT 1;
        head := coalesce(head, 0);
        prev := coalesce(prev, repeat('0', 64));
        first := head + 1;
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
        INSERT INTO events (seq, kind, at, record_id, decided_at, listener, role, direction, client_address, client_helo, queue_id, message_id, envelope_sender, header_from, subject, size, action, dkim, smime, processing_ms, sender_unit, outcome, reply, admin_kind, actor, target, detail, prev_hash, hash) SELECT r.seq + first - 1, r.kind, r.at, r.record_id, r.decided_at, r.listener, r.role, r.direction, r.client_address, r.client_helo, r.queue_id, r.message_id, r.envelope_sender, r.header_from, r.subject, r.size, r.action, r.dkim, r.smime, r.processing_ms, r.sender_unit, r.outcome, r.reply, r.admin_kind, r.actor, r.target, r.detail, prevs[r.seq], hashes[r.seq]
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
        -- audit/summary.py's maintain for a batch that changes no figure
        UPDATE summary_state SET live_through = head WHERE live_through = first - 1;
    END $$
