-- +goose Up
-- Postpaid credit lines (授信, internal/creditline): a pool's credit line is
-- one lot of kind credit, spent after every other lot; its remaining is
-- the unused line. A change of the line is a credit_line event on that lot
-- and a paid bill gives the line back with a credit_restore event. New enum
-- values cannot be used in the transaction that adds them, so the index
-- that names one is in the next migration.
ALTER TYPE ledger_lot_kind ADD VALUE IF NOT EXISTS 'credit';
ALTER TYPE ledger_event_type ADD VALUE IF NOT EXISTS 'credit_line';
ALTER TYPE ledger_event_type ADD VALUE IF NOT EXISTS 'credit_restore';

-- +goose Down
-- Enum values cannot be dropped; the credit lots and their events would
-- have to go first, which an append-only ledger does not do.
SELECT 1;
