-- +goose Up
-- The alert outbox's cursor started at 0, so on a database that already had
-- ledger history the first scan would announce low-balance crossings long
-- past. A cursor that never moved starts at the newest event instead; the
-- scanner does the same when it finds no cursor row (gateway.Alerts).
UPDATE gateway_alert_cursor
SET last_event_id = (SELECT coalesce(max(id), 0) FROM ledger_events), updated_at = now()
WHERE id = 1 AND last_event_id = 0;

-- +goose Down
-- Nothing to undo: where the cursor started is not recorded.
SELECT 1;
