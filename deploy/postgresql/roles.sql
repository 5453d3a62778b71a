-- The shared store's roles and database, run once on the PostgreSQL server as its
-- superuser:  sudo -u postgres psql -v ON_ERROR_STOP=1 -f roles.sql
-- Passwords are not written here: set them with \password (below) so they never sit
-- in a file or in the shell's history.

-- The mail servers' role. It owns the database: congvu serve creates and migrates its
-- schemas (public for the audit log, archive, quarantine, dkim, directory) at its start,
-- under an advisory lock, so two servers starting together do not race.
CREATE ROLE congvu LOGIN;
CREATE DATABASE congvu OWNER congvu ENCODING 'UTF8' TEMPLATE template0
    LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';
REVOKE ALL ON DATABASE congvu FROM PUBLIC;

-- The inspectors' role: reads every store (audit verify, query, report from their own
-- machine), writes nothing. pg_read_all_data (PostgreSQL 14 and later) covers the
-- schemas congvu creates later too.
CREATE ROLE congvu_inspector LOGIN;
GRANT CONNECT ON DATABASE congvu TO congvu_inspector;
GRANT pg_read_all_data TO congvu_inspector;
ALTER ROLE congvu_inspector SET default_transaction_read_only = on;

-- The standby's replication role (streaming replication, pg_basebackup).
CREATE ROLE congvu_replica LOGIN REPLICATION;
