-- +goose Up
-- The enforcement switch (README "Enforcement switch"): per account
-- (enforcement; NULL follows its enterprise, then the global setting
-- access.enforcement) enforce, shadow or off.
ALTER TABLE ledger_accounts
    ADD COLUMN enforcement text CHECK (enforcement IN ('enforce', 'shadow', 'off'));

-- A shadow or off call the checks would have refused for credit holds
-- nothing: its reservation's amount is 0 (its commit then charges what is
-- available and records the rest as unpaid usage, never a negative
-- balance).
ALTER TABLE ledger_reservations ALTER COLUMN amount TYPE ledger_nonneg;

-- What shadow mode let through: one row per call a check would have
-- refused (code: insufficient_credits, allocation_exceeded,
-- concurrency_limit, budget_exceeded, plan_quota_exhausted), written in
-- the transaction of the hold or charge.
CREATE TABLE ledger_shadow_refusals (
    pool_id        bigint NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    account_id     bigint NOT NULL,
    op             text NOT NULL CHECK (op IN ('reserve', 'charge')),
    code           text NOT NULL,
    amount         numeric(24, 6) NOT NULL,
    available      numeric(24, 6),
    reservation_id bigint,
    op_id          bigint,
    model          text NOT NULL DEFAULT '',
    at             timestamptz NOT NULL,
    PRIMARY KEY (pool_id, id)
);
CREATE INDEX ledger_shadow_refusals_account ON ledger_shadow_refusals (account_id, id DESC);

-- +goose Down
DROP TABLE ledger_shadow_refusals;
ALTER TABLE ledger_reservations ALTER COLUMN amount TYPE ledger_positive;
ALTER TABLE ledger_accounts DROP COLUMN enforcement;
