-- +goose Up
-- Tiers by cumulative recharge (Kimi's model; internal/access, README
-- "Tiers by cumulative recharge"). A tier applies from min_paid_fen paid
-- (what paid lots cost, in fen, less what refunds gave back; promotions,
-- bonuses, grants and plans are not paid lots) and sets the pool's rate
-- limits (rpm, tpm: read by the gateway) and how many reservations it may
-- hold open at once (max_open: checked by ledger_reserve under the pool's
-- lock). No row: no tiers, the default limits and no cap.
CREATE TABLE ledger_tiers (
    min_paid_fen bigint PRIMARY KEY CHECK (min_paid_fen >= 0),
    rpm          integer NOT NULL CHECK (rpm > 0),
    tpm          bigint NOT NULL CHECK (tpm > 0),
    max_open     integer NOT NULL CHECK (max_open > 0),
    updated_at   timestamptz NOT NULL,
    updated_by   text NOT NULL CHECK (updated_by <> '')
);

-- paid_fen: the pool's cumulative recharge (ledger_credit adds a paid
-- lot's price, ledger_refund takes the fen it states back); max_open: its
-- tier's cap, kept with paid_fen and by ledger_set_tiers (NULL: none).
ALTER TABLE ledger_accounts
    ADD COLUMN paid_fen bigint NOT NULL DEFAULT 0,
    ADD COLUMN max_open integer;
UPDATE ledger_accounts a SET paid_fen = x.fen
FROM (SELECT pool_id, sum(coalesce(paid_fen, 0) - refunded_fen) AS fen FROM ledger_lots WHERE kind = 'paid' GROUP BY pool_id) x
WHERE a.id = x.pool_id;

-- The cap counts a pool's open, unexpired holds.
CREATE INDEX ledger_reservations_open_idx ON ledger_reservations (pool_id, expires_at) WHERE status = 'open';

-- +goose Down
DROP INDEX ledger_reservations_open_idx;
ALTER TABLE ledger_accounts DROP COLUMN max_open, DROP COLUMN paid_fen;
DROP TABLE ledger_tiers;
