-- +goose Up
-- Invoicing by consumption (按消费开票): finance sets an account's invoicing
-- basis, effective from the first instant of a Shanghai month. The basis in
-- force at t is the latest change with effective_from <= t ('topup' when
-- there is none). A second change for the same month replaces the first.
CREATE TABLE invoicing_basis_changes (
    account_id     BIGINT NOT NULL,
    effective_from TIMESTAMPTZ NOT NULL,
    basis          TEXT NOT NULL CHECK (basis IN ('topup', 'consumption')),
    set_by         TEXT NOT NULL,
    set_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, effective_from)
);

-- One row per account that invoices by consumption: the row invoice
-- requests lock (SELECT … FOR UPDATE) while they check the cap.
CREATE TABLE invoicing_accounts (
    account_id BIGINT PRIMARY KEY
);

-- An invoice for a month's consumption has no items: month is the
-- Shanghai month it covers (its first day), NULL for top-up invoices.
ALTER TABLE invoices ADD COLUMN month DATE;
CREATE INDEX invoices_account_month_idx ON invoices (account_id, month) WHERE month IS NOT NULL;

-- +goose Down
DROP INDEX invoices_account_month_idx;
ALTER TABLE invoices DROP COLUMN month;
DROP TABLE invoicing_accounts;
DROP TABLE invoicing_basis_changes;
