-- +goose Up
-- The price of a paid lot (see internal/ledger/price.go, LotValue): paid_fen
-- is the RMB paid for it, in fen, set by ledger_credit when the caller
-- records it (payments: QR and bank transfer orders; the back office: manual
-- recharges) and NULL on other kinds; refunded_fen is how much of it refunds
-- took back (money paid back plus any bonus deduction), kept by
-- ledger_refund. The revenue report values a lot's consumption, expiry and
-- refunds at this price, not at today's CREDIT_PRICE_RMB. No CHECK
-- constraints: ledger_lots is written on every spend, and PostgreSQL plans
-- a table's CHECKs again on each such statement (see 000203); the ledger's
-- functions refuse bad values instead. Existing paid lots get their price
-- in 000520 (it needs payment_orders).
ALTER TABLE ledger_lots
    ADD COLUMN paid_fen bigint,
    ADD COLUMN refunded_fen bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE ledger_lots DROP COLUMN refunded_fen, DROP COLUMN paid_fen;
