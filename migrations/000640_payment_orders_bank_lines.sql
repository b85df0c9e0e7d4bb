-- +goose Up
-- A bank statement line that finance credits to an account from the
-- unmatched queue (a manual recharge, internal/backoffice) is recorded as a
-- completed bank-transfer top-up order (internal/payments), so the customer
-- sees it among their orders and can invoice it and ask for it back like any
-- other top-up. Such an order has no reference code (the customer never made
-- it): it names its statement line instead, once (payment_orders_bank_line_key),
-- with the line's serial and payer as the bank reported them.
ALTER TABLE payment_orders
    ADD COLUMN bank_line_id     bigint REFERENCES bank_statement_lines (id),
    ADD COLUMN statement_serial text NOT NULL DEFAULT '',
    ADD COLUMN payer_name       text NOT NULL DEFAULT '',
    ADD COLUMN payer_account    text NOT NULL DEFAULT '',
    ADD CONSTRAINT payment_orders_bank_line_key UNIQUE (bank_line_id);

-- Was: a bank transfer order has a reference code, no other order has one.
-- Now: a bank transfer order has a reference code or a statement line,
-- exactly one of them; other orders have neither. (000500 left the former
-- check unnamed: PostgreSQL named it payment_orders_check1, after the
-- refunded_fen check.)
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_check1;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_transfer_source CHECK (
    CASE WHEN channel = 'bank_transfer' THEN (reference_code IS NULL) <> (bank_line_id IS NULL)
         ELSE reference_code IS NULL AND bank_line_id IS NULL END);

-- +goose Down
-- The former check does not come back: orders recorded from statement lines
-- have no reference code, and they stay (they may be refunded or invoiced).
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_transfer_source;
ALTER TABLE payment_orders
    DROP COLUMN bank_line_id,
    DROP COLUMN statement_serial,
    DROP COLUMN payer_name,
    DROP COLUMN payer_account;
