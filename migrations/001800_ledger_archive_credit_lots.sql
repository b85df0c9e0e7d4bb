-- +goose Up
-- A month holding events of credit lines may leave for the archive
-- (ledger.Archive) once every such line is billed through the month's end.
-- internal/creditline checks a line's bills against its credit lot's whole
-- history (its consumption before billed_through, its credit_restore
-- events), so the checkpoint of an archived month also keeps, per credit
-- lot, what it consumed (deduction and reservation_expired_charge, as a
-- positive sum) and what bills paid gave back (credit_restore). Archives
-- recorded before held no credit lot's events (they were refused), so 0 is
-- their value. The columns are 0 for every lot that is not a credit lot.
ALTER TABLE ledger_archive_lots
    ADD COLUMN consumed       numeric(24, 6) NOT NULL DEFAULT 0,
    ADD COLUMN credit_restore numeric(24, 6) NOT NULL DEFAULT 0;

-- What the archived events add to each lot (every event; of them the
-- credit_line events; a credit lot's consumption and credit_restore).
-- A restored archive no longer counts: its events are back.
CREATE OR REPLACE VIEW ledger_archived_lots AS
SELECT l.pool_id, l.lot_id, sum(l.total) AS total, sum(l.credit_line) AS credit_line,
       sum(l.consumed) AS consumed, sum(l.credit_restore) AS credit_restore
FROM ledger_archive_lots l
JOIN ledger_archives a ON a.id = l.archive_id AND a.restored_at IS NULL
GROUP BY l.pool_id, l.lot_id;

-- +goose Down
DROP VIEW ledger_archived_lots;
CREATE VIEW ledger_archived_lots AS
SELECT l.pool_id, l.lot_id, sum(l.total) AS total, sum(l.credit_line) AS credit_line
FROM ledger_archive_lots l
JOIN ledger_archives a ON a.id = l.archive_id AND a.restored_at IS NULL
GROUP BY l.pool_id, l.lot_id;
ALTER TABLE ledger_archive_lots DROP COLUMN credit_restore, DROP COLUMN consumed;
