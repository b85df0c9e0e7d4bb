-- +goose Up
-- The portal's usage list (and its CSV) reads a pool's calls newest first by
-- when each call happened (occurred_at), so that a usage event reported late
-- sits among the calls of its time; the transactions list stays in the order
-- the ledger recorded events. These partial indexes serve that order and its
-- keyset paging ((occurred_at, id) below the last row shown) for usage events
-- and committed free calls.
CREATE INDEX ledger_events_usage_occurred_idx ON ledger_events (pool_id, occurred_at DESC, id DESC)
    WHERE type IN ('deduction', 'unpaid_usage', 'reservation_expired_charge');
CREATE INDEX gateway_free_calls_occurred_idx ON gateway_free_calls (pool_id, occurred_at DESC, id DESC)
    WHERE state = 'committed';

-- +goose Down
DROP INDEX gateway_free_calls_occurred_idx;
DROP INDEX ledger_events_usage_occurred_idx;
