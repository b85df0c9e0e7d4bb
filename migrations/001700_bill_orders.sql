-- +goose Up
-- A credit line's bill paid by QR (internal/payments, purpose bill): the
-- order names the bill it pays (credit_bills, internal/creditline) and
-- credits nothing; its payment pays the bill in the same transaction. Other
-- orders name no bill.
ALTER TABLE payment_orders ADD COLUMN bill_id bigint REFERENCES credit_bills (id);
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_purpose_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_purpose_check
    CHECK (purpose IN ('topup', 'plan', 'plan_renewal', 'plan_upgrade', 'product', 'bill'));
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_bill_check
    CHECK ((purpose = 'bill') = (bill_id IS NOT NULL) AND (purpose <> 'bill' OR credits = 0));
CREATE INDEX payment_orders_bill_idx ON payment_orders (bill_id) WHERE bill_id IS NOT NULL;

-- +goose Down
DROP INDEX payment_orders_bill_idx;
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_bill_check;
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_purpose_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_purpose_check
    CHECK (purpose IN ('topup', 'plan', 'plan_renewal', 'plan_upgrade', 'product'));
ALTER TABLE payment_orders DROP COLUMN bill_id;
