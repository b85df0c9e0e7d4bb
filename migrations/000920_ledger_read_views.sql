-- +goose Up
-- The ledger's published relations. Other packages never name the ledger's
-- tables: they call the read functions of internal/ledger (reads.go) or,
-- where a report or a page joins the ledger with its own tables in one
-- statement, read these views (TestNoLedgerTablesOutside enforces it). Each
-- view is a plain projection, so the planner inlines it and a query over it
-- keeps the plan it had over the table; the ledger may change its tables as
-- long as these columns keep their meaning. They are for reading only:
-- every write goes through the ledger's functions.

-- Accounts: balance is a pool's ledger balance (the credit in its lots,
-- holds included); a sub-account's is 0, it spends from pool_id.
CREATE VIEW ledger_account_view AS
SELECT id, pool_id, kind, parent_id, mode, external_id, name, status, allocation, balance, created_at
FROM ledger_accounts;

-- Lots: credit of one kind in a pool, with its price (paid_fen, paid lots).
CREATE VIEW ledger_lot_view AS
SELECT pool_id, id, account_id, kind, amount, remaining, refunded, paid_fen, refunded_fen, expires_at, created_at
FROM ledger_lots;

-- Events: the append-only history. Within a pool, committed events are a
-- prefix of the ids (key (pool_id, id)); at is the ledger time, monotonic
-- per pool.
CREATE VIEW ledger_event_view AS
SELECT pool_id, id, account_id, lot_id, op_id, type, amount, balance_after, unpaid, reservation_id,
       model, session_id, request_id, detail, occurred_at, at, recorded_at
FROM ledger_events;

-- +goose Down
DROP VIEW ledger_event_view;
DROP VIEW ledger_lot_view;
DROP VIEW ledger_account_view;
