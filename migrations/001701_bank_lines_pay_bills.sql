-- +goose Up
-- A bank statement line can pay a credit line's bill (internal/creditline)
-- by the bill's reference code, matched automatically like a transfer
-- order's (internal/backoffice recharges.go): the line names the bill it
-- paid instead of an order, and one line pays one bill, once.
ALTER TABLE bank_statement_lines ADD COLUMN bill_id bigint REFERENCES credit_bills (id);
ALTER TABLE bank_statement_lines DROP CONSTRAINT bank_statement_lines_matched_order;
ALTER TABLE bank_statement_lines ADD CONSTRAINT bank_statement_lines_matched_order
    CHECK (status <> 'matched' OR (order_no IS NOT NULL) <> (bill_id IS NOT NULL));
CREATE UNIQUE INDEX bank_statement_lines_bill_key ON bank_statement_lines (bill_id) WHERE status = 'matched';

-- +goose Down
DROP INDEX bank_statement_lines_bill_key;
ALTER TABLE bank_statement_lines DROP CONSTRAINT bank_statement_lines_matched_order;
ALTER TABLE bank_statement_lines ADD CONSTRAINT bank_statement_lines_matched_order CHECK (status <> 'matched' OR order_no IS NOT NULL);
ALTER TABLE bank_statement_lines DROP COLUMN bill_id;
