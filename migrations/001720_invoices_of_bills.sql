-- +goose Up
-- Invoicing a credit line's bill (授信账单开票): an invoice of a paid bill
-- has no items and no month; bill_id names the bill it covers. A bill's
-- invoices never hold more than the bill's amount, and every invoice counts
-- against what the account paid (top-ups and bills) and has not had
-- refunded (internal/invoicing bills.go).
ALTER TABLE invoices ADD COLUMN bill_id BIGINT REFERENCES credit_bills (id);
ALTER TABLE invoices ADD CONSTRAINT invoices_bill_or_month CHECK (bill_id IS NULL OR month IS NULL);
CREATE INDEX invoices_bill_idx ON invoices (bill_id) WHERE bill_id IS NOT NULL;

-- +goose Down
DROP INDEX invoices_bill_idx;
ALTER TABLE invoices DROP CONSTRAINT invoices_bill_or_month;
ALTER TABLE invoices DROP COLUMN bill_id;
