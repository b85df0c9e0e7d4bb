-- +goose Up
-- VAT invoices (专票 / 普票) for paid top-ups.

-- Saved buyer titles (发票抬头) of an account, for reuse.
CREATE TABLE invoice_titles (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL,
    type         TEXT NOT NULL CHECK (type IN ('company', 'individual')),
    name         TEXT NOT NULL CHECK (name <> ''),
    -- 税号: the unified social credit code of a company; empty for individuals.
    tax_id       TEXT NOT NULL DEFAULT '',
    address      TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL DEFAULT '',
    bank_name    TEXT NOT NULL DEFAULT '',
    bank_account TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT invoice_titles_company_tax_id CHECK (type = 'individual' OR tax_id <> '')
);
CREATE INDEX invoice_titles_account_idx ON invoice_titles (account_id, id);

-- An invoice request and, once issued, the invoice. The buyer's title is
-- copied in (a later change of the saved profile does not alter it).
-- requested → issued → reversed (红字冲销) → reissued (its items moved to a new
-- request, reissue_of pointing back), or requested → rejected.
CREATE TABLE invoices (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id         BIGINT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('special', 'ordinary')),
    state              TEXT NOT NULL CHECK (state IN ('requested', 'issued', 'reversed', 'reissued', 'rejected')),
    amount_fen         BIGINT NOT NULL CHECK (amount_fen > 0),
    title_id           BIGINT REFERENCES invoice_titles (id) ON DELETE SET NULL,
    buyer_type         TEXT NOT NULL CHECK (buyer_type IN ('company', 'individual')),
    buyer_name         TEXT NOT NULL,
    buyer_tax_id       TEXT NOT NULL DEFAULT '',
    buyer_address      TEXT NOT NULL DEFAULT '',
    buyer_phone        TEXT NOT NULL DEFAULT '',
    buyer_bank_name    TEXT NOT NULL DEFAULT '',
    buyer_bank_account TEXT NOT NULL DEFAULT '',
    email              TEXT NOT NULL,
    number             TEXT CONSTRAINT invoices_number_key UNIQUE,
    issued_on          DATE,
    pdf                BYTEA,
    pdf_source         TEXT CHECK (pdf_source IN ('platform', 'generated')),
    reason             TEXT NOT NULL DEFAULT '',
    requested_at       TIMESTAMPTZ NOT NULL,
    issued_at          TIMESTAMPTZ,
    issued_by          TEXT NOT NULL DEFAULT '',
    closed_at          TIMESTAMPTZ,
    closed_by          TEXT NOT NULL DEFAULT '',
    reissue_of         BIGINT REFERENCES invoices (id),
    CONSTRAINT invoices_special_is_company CHECK (kind = 'ordinary' OR buyer_type = 'company'),
    CONSTRAINT invoices_issued_has_number CHECK (state IN ('requested', 'rejected') OR
        (number IS NOT NULL AND issued_on IS NOT NULL AND pdf IS NOT NULL))
);
CREATE INDEX invoices_account_idx ON invoices (account_id, id DESC);
CREATE INDEX invoices_state_idx ON invoices (state, requested_at, id);

-- The top-ups an invoice covers and how much of each.
CREATE TABLE invoice_items (
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    order_id   BIGINT NOT NULL,
    order_no   TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (invoice_id, order_id)
);
CREATE INDEX invoice_items_order_idx ON invoice_items (order_id);

-- Every state change of an invoice. Append-only.
CREATE TABLE invoice_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX invoice_events_invoice_idx ON invoice_events (invoice_id, id);
CREATE TRIGGER invoice_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON invoice_events
    FOR EACH STATEMENT EXECUTE FUNCTION verification_append_only();

-- +goose Down
DROP TABLE invoice_events;
DROP TABLE invoice_items;
DROP TABLE invoices;
DROP TABLE invoice_titles;
