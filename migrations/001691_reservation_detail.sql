-- +goose Up
-- A reservation's detail (the request's token bounds and the card that
-- priced it) moves from its ledger event to the reservation row: the event
-- is kept for good, the row leaves the hot table with the retention job for
-- ledger_reservations_archive — fewer hot bytes per billed request, nothing
-- dropped. Events written before this keep their detail where it was.
ALTER TABLE ledger_reservations ADD COLUMN detail jsonb;

-- The archive's columns are the hot table's, in order, then archived_at
-- (ledger_retire copies whole rows): detail goes in before archived_at,
-- whose values are kept.
ALTER TABLE ledger_reservations_archive DISABLE TRIGGER ledger_reservations_archive_append_only;
ALTER TABLE ledger_reservations_archive RENAME COLUMN archived_at TO archived_at_before;
ALTER TABLE ledger_reservations_archive ADD COLUMN detail jsonb;
ALTER TABLE ledger_reservations_archive ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
UPDATE ledger_reservations_archive SET archived_at = archived_at_before;
ALTER TABLE ledger_reservations_archive DROP COLUMN archived_at_before;
ALTER TABLE ledger_reservations_archive ENABLE TRIGGER ledger_reservations_archive_append_only;

-- +goose Down
ALTER TABLE ledger_reservations_archive DISABLE TRIGGER ledger_reservations_archive_append_only;
ALTER TABLE ledger_reservations_archive RENAME COLUMN archived_at TO archived_at_before;
ALTER TABLE ledger_reservations_archive DROP COLUMN detail;
ALTER TABLE ledger_reservations_archive ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
UPDATE ledger_reservations_archive SET archived_at = archived_at_before;
ALTER TABLE ledger_reservations_archive DROP COLUMN archived_at_before;
ALTER TABLE ledger_reservations_archive ENABLE TRIGGER ledger_reservations_archive_append_only;
ALTER TABLE ledger_reservations DROP COLUMN detail;
