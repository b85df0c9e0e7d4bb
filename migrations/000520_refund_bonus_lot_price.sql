-- +goose Up
-- A refund takes back its bonus (README, "Refunds and bonus"): each refund
-- of a top-up revokes the same share of the bonus lot granted with it; the
-- unspent part leaves the bonus lot (bonus_revoked), the spent part
-- (bonus_charged credits) is paid for out of the refund at the paid lot's
-- price (bonus_fen, kept: amount_fen is what went back). An order keeps the
-- sum of those deductions beside refunded_fen; everything is undone when
-- refunded_fen + bonus_deducted_fen = amount_fen.
ALTER TABLE payment_orders
    ADD COLUMN bonus_deducted_fen bigint NOT NULL DEFAULT 0 CHECK (bonus_deducted_fen >= 0),
    ADD CONSTRAINT payment_orders_refunds_check CHECK (refunded_fen + bonus_deducted_fen <= amount_fen);
ALTER TABLE payment_refunds
    ADD COLUMN bonus_lot_id bigint,
    ADD COLUMN bonus_revoked numeric(24, 6) NOT NULL DEFAULT 0 CHECK (bonus_revoked >= 0),
    ADD COLUMN bonus_charged numeric(24, 6) NOT NULL DEFAULT 0 CHECK (bonus_charged >= 0),
    ADD COLUMN bonus_fen bigint NOT NULL DEFAULT 0 CHECK (bonus_fen >= 0);

-- The price of paid lots credited before ledger_lots.paid_fen (000206):
--   * a top-up order's paid lot: what the order was paid, and what its
--     refunds paid back (they took no bonus back then);
--   * a manual recharge's (source bank_line:<id>): the statement line's amount;
--   * any other paid lot: its credits at the credit price in force when this
--     runs — the setting credits.credit_price_rmb, which `credits migrate`
--     sets from CREDIT_PRICE_RMB, else the default ¥0.001 — rounded half to
--     even to the fen. That is an assumption: such lots (seed data, credits
--     made directly through the ledger) record no payment.
UPDATE ledger_lots l SET paid_fen = coalesce(o.paid_fen, o.amount_fen), refunded_fen = o.refunded_fen
FROM payment_orders o
WHERE o.paid_lot_id = l.id AND l.kind = 'paid' AND l.paid_fen IS NULL;

-- +goose StatementBegin
DO $$
BEGIN
    -- bank_statement_lines comes with 000600, after this on a new database
    -- (where there is nothing to price).
    IF to_regclass('bank_statement_lines') IS NOT NULL THEN
        EXECUTE $q$
            UPDATE ledger_lots l SET paid_fen = (b.amount * 100)::bigint
            FROM bank_statement_lines b
            WHERE l.kind = 'paid' AND l.paid_fen IS NULL AND l.source_ref = 'bank_line:' || b.id$q$;
    END IF;
END $$;
-- +goose StatementEnd

WITH priced AS (
    SELECT pool_id, id, amount * 100 * coalesce(nullif(current_setting('credits.credit_price_rmb', true), ''), '0.001')::numeric AS x
    FROM ledger_lots WHERE kind = 'paid' AND paid_fen IS NULL)
UPDATE ledger_lots l
SET paid_fen = CASE WHEN p.x = trunc(p.x) + 0.5 AND mod(trunc(p.x), 2) = 0 THEN trunc(p.x) ELSE round(p.x) END
FROM priced p WHERE l.pool_id = p.pool_id AND l.id = p.id;

WITH refunded AS (
    SELECT pool_id, id, paid_fen * refunded / amount AS x
    FROM ledger_lots WHERE kind = 'paid' AND refunded > 0 AND refunded_fen = 0)
UPDATE ledger_lots l
SET refunded_fen = CASE WHEN r.x = trunc(r.x) + 0.5 AND mod(trunc(r.x), 2) = 0 THEN trunc(r.x) ELSE round(r.x) END
FROM refunded r WHERE l.pool_id = r.pool_id AND l.id = r.id;

-- +goose Down
ALTER TABLE payment_refunds DROP COLUMN bonus_fen, DROP COLUMN bonus_charged, DROP COLUMN bonus_revoked, DROP COLUMN bonus_lot_id;
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_refunds_check, DROP COLUMN bonus_deducted_fen;
