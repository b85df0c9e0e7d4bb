-- +goose Up
-- The back office's customer list (internal/backoffice ListCustomers) reads
-- live or test accounts newest first and pages by keyset ((created_at, id)
-- below the last row shown); this index serves that order, so a page reads
-- its 50 rows instead of sorting every account. It names no column the
-- ledger updates, so balance updates stay HOT.
CREATE INDEX ledger_accounts_mode_created_idx ON ledger_accounts (mode, created_at DESC, id DESC);

-- +goose Down
DROP INDEX ledger_accounts_mode_created_idx;
