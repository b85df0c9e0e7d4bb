-- +goose Up
-- Batches keep a pool's running state (balance, reserved, last_at) in a
-- variable while consecutive reserves and commits of that pool run, and
-- write the account row once when the batch moves on to another pool or
-- ends: one account UPDATE per pool per batch instead of one per operation,
-- and no chain of row versions for the next operation's read to walk.
-- ledger_apply now also takes each operation's pool (the Go writer knows
-- it), so a commit finds its reservation by primary key without first
-- looking up the account. The functions (ledger_reserve_t, ledger_commit_t,
-- ledger_apply) are defined in internal/ledger/schema/functions.sql; this
-- migration keeps the type they pass the state in.

CREATE TYPE ledger_step AS (st ledger_accounts, res jsonb);

-- +goose Down
DROP TYPE ledger_step;
