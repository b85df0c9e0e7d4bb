-- +goose Up
-- Model allow-lists (internal/access): the models an account or a
-- sub-account may call. No row: every model on the rate card. A
-- sub-account's list lies within its enterprise's when it is set, and a
-- call is checked against both, so an enterprise that narrows its list
-- narrows its sub-accounts' at once. Changes are audited (model_list_set).
CREATE TABLE access_model_lists (
    account_id bigint PRIMARY KEY REFERENCES ledger_accounts (id),
    models     text[] NOT NULL CHECK (cardinality(models) > 0),
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL CHECK (updated_by <> '')
);

-- +goose Down
DROP TABLE access_model_lists;
