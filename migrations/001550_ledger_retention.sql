-- +goose Up
-- Retention of the per-request ledger records (issue 21): a reserve's
-- idempotency record and a closed reservation are needed only while a retry
-- can still reach them, which the reservation TTL and the late-event window
-- bound. `credits ledger retire`, run as the owner role, moves those older
-- than the retry window to the archive tables below (ledger_retire in
-- internal/ledger/schema/functions.sql); a retry that arrives later is
-- refused with retry_window_passed, never applied again.

-- What the retention job has done: every reservation with an id up to
-- reservations_through has left ledger_reservations (a commit or release of
-- one is refused as outside the window), and idempotency records created
-- before idempotency_before have left ledger_idempotency.
CREATE TABLE ledger_retention (
    only_row             boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    reservations_through bigint NOT NULL DEFAULT 0,
    idempotency_before   timestamptz NOT NULL DEFAULT '-infinity',
    retired_at           timestamptz
);
INSERT INTO ledger_retention DEFAULT VALUES;

-- The archives keep the rows as they were, plus when they moved.
-- ledger_retire copies whole rows, so an archive's columns are its hot
-- table's, in order, then archived_at: a migration that adds a column to
-- the hot table drops archived_at here, adds the column, and adds
-- archived_at back.
CREATE TABLE ledger_reservations_archive (LIKE ledger_reservations);
ALTER TABLE ledger_reservations_archive ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
CREATE TABLE ledger_idempotency_archive (LIKE ledger_idempotency);
ALTER TABLE ledger_idempotency_archive ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
-- The one lookup of the idempotency archive: has this key been used before
-- the window (then a retry is refused)? A hash keeps the entry small
-- (8 bytes instead of the key); the key itself is compared on the row.
CREATE INDEX ledger_idempotency_archive_key_idx ON ledger_idempotency_archive (pool_id, account_id, hashtextextended(key, 0));
CREATE TRIGGER ledger_reservations_archive_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_reservations_archive
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER ledger_idempotency_archive_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_idempotency_archive
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- The retention job finds idempotency records by age: a BRIN index costs a
-- few bytes per thousand rows, where a btree would cost ~25 per request.
CREATE INDEX ledger_idempotency_created_brin ON ledger_idempotency USING brin (created_at) WITH (pages_per_range = 32);

-- Only the retention job deletes from the hot tables: a DELETE (or
-- TRUNCATE) passes only when the session has set ledger.retiring (which
-- ledger_retire does, for its transaction) and runs as the tables' owner.
-- The application role can set the setting but is not the owner, and has
-- no DELETE on ledger_idempotency anyway (it keeps append_only() for
-- UPDATE and TRUNCATE, so the grants give it SELECT and INSERT only).
-- +goose StatementBegin
CREATE FUNCTION ledger_retire_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ledger.retiring', true) = 'on'
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '%: % refused: rows leave it only through the retention job (credits ledger retire, as the owner role)',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd

DROP TRIGGER ledger_idempotency_append_only ON ledger_idempotency;
CREATE TRIGGER ledger_idempotency_append_only BEFORE UPDATE OR TRUNCATE ON ledger_idempotency
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER ledger_idempotency_retire BEFORE DELETE ON ledger_idempotency
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_retire_guard();
CREATE TRIGGER ledger_reservations_retire BEFORE DELETE OR TRUNCATE ON ledger_reservations
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_retire_guard();
CREATE TRIGGER ledger_retention_retire BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_retention
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_retire_guard();

-- +goose Down
DROP TRIGGER ledger_retention_retire ON ledger_retention;
DROP TRIGGER ledger_reservations_retire ON ledger_reservations;
DROP TRIGGER ledger_idempotency_retire ON ledger_idempotency;
DROP TRIGGER ledger_idempotency_append_only ON ledger_idempotency;
CREATE TRIGGER ledger_idempotency_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_idempotency
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
DROP FUNCTION ledger_retire_guard();
DROP INDEX ledger_idempotency_created_brin;
DROP TABLE ledger_idempotency_archive;
DROP TABLE ledger_reservations_archive;
DROP TABLE ledger_retention;
