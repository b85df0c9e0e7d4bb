-- +goose Up
-- Usage read model for the customer portal (internal/usage). Usage charges
-- are ledger events (deduction, unpaid_usage, reservation_expired_charge)
-- grouped by op_id; the portal's totals and daily chart read this rollup
-- instead of scanning a long history. It is folded forward from the events
-- (never written by the ledger itself): usage_rollup_marks holds, per pool,
-- the last event id already folded in. Within a pool the ledger writes under
-- the pool's row lock, so the committed events of a pool are always a prefix
-- of its ids and "id > last_event_id" is exactly what is not folded yet.
CREATE TABLE usage_daily (
    pool_id          bigint NOT NULL,
    account_id       bigint NOT NULL,
    day              date NOT NULL,          -- calendar day in Asia/Shanghai
    model            text NOT NULL,
    charges          bigint NOT NULL DEFAULT 0,
    charged          numeric(24, 6) NOT NULL DEFAULT 0,
    unpaid           numeric(24, 6) NOT NULL DEFAULT 0,
    input_tokens     bigint NOT NULL DEFAULT 0,
    output_tokens    bigint NOT NULL DEFAULT 0,
    cache_hit_tokens bigint NOT NULL DEFAULT 0,
    requests         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (pool_id, day, account_id, model)
);

CREATE TABLE usage_rollup_marks (
    pool_id       bigint PRIMARY KEY,
    last_event_id bigint NOT NULL
);

-- The session filter of the usage page looks up one session's charges.
CREATE INDEX usage_events_session_idx ON ledger_events (pool_id, session_id, id)
    WHERE session_id <> '' AND type IN ('deduction', 'unpaid_usage', 'reservation_expired_charge');

-- The limits an enterprise owner sets on its sub-accounts in the portal are
-- the gateway's own (gateway_accounts, migration 000320): one source of truth.

-- +goose Down
DROP INDEX usage_events_session_idx;
DROP TABLE usage_rollup_marks;
DROP TABLE usage_daily;
