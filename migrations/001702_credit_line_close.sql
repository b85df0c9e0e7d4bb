-- +goose Up
-- A credit line can be closed: finance sets it to 0 once nothing of it is
-- used (ledger_credit_line refuses less than what is used, and a line of 0
-- for a pool that has none). The credit lot then stays with amount and
-- remaining 0 (its history of credit_line events sums to 0, so ledger
-- verify holds), and the line's terms stay with its bills. Only a credit
-- lot may be empty; every other lot is still positive.
DROP VIEW ledger_lot_view;
ALTER TABLE ledger_lots ALTER COLUMN amount TYPE ledger_nonneg;
ALTER TABLE ledger_lots ADD CONSTRAINT ledger_lots_amount_check CHECK (amount > 0 OR kind = 'credit');
CREATE VIEW ledger_lot_view AS
SELECT pool_id, id, account_id, kind, amount, remaining, refunded, paid_fen, refunded_fen, expires_at, created_at
FROM ledger_lots;
ALTER TABLE credit_lines DROP CONSTRAINT credit_lines_line_fen_check;
ALTER TABLE credit_lines ADD CONSTRAINT credit_lines_line_fen_check CHECK (line_fen >= 0);
ALTER TABLE credit_lines DROP CONSTRAINT credit_lines_credits_check;
ALTER TABLE credit_lines ADD CONSTRAINT credit_lines_credits_check CHECK (credits >= 0);

-- +goose Down
ALTER TABLE credit_lines DROP CONSTRAINT credit_lines_credits_check;
ALTER TABLE credit_lines ADD CONSTRAINT credit_lines_credits_check CHECK (credits > 0);
ALTER TABLE credit_lines DROP CONSTRAINT credit_lines_line_fen_check;
ALTER TABLE credit_lines ADD CONSTRAINT credit_lines_line_fen_check CHECK (line_fen > 0);
DROP VIEW ledger_lot_view;
ALTER TABLE ledger_lots DROP CONSTRAINT ledger_lots_amount_check;
ALTER TABLE ledger_lots ALTER COLUMN amount TYPE ledger_positive;
CREATE VIEW ledger_lot_view AS
SELECT pool_id, id, account_id, kind, amount, remaining, refunded, paid_fen, refunded_fen, expires_at, created_at
FROM ledger_lots;
