-- +goose Up
-- Budgets: caps on spend per scope, held by the ledger (see
-- internal/ledger/budget.go and ledger_budget_hold in
-- internal/ledger/schema/functions.sql).
--
-- Labels: the gateway sends a project and a key label with a reserve or a
-- usage charge; the ledger stores them on the reservation and on every
-- event of the call, so usage can be read by project and key.
ALTER TABLE ledger_events
    ADD COLUMN project text NOT NULL DEFAULT '',
    ADD COLUMN key_label text NOT NULL DEFAULT '';
ALTER TABLE ledger_reservations
    ADD COLUMN project text NOT NULL DEFAULT '',
    ADD COLUMN key_label text NOT NULL DEFAULT '',
    -- the budgets the hold counted in, and the start of each one's period
    -- then: commit and release move the same counters (and none once a
    -- budget's period has moved on)
    ADD COLUMN budget_ids bigint[],
    ADD COLUMN budget_starts timestamptz[];

-- budgeted: the pool has budgets (any of its accounts). The hot path reads
-- the pool's row anyway, so a pool without budgets pays nothing for them.
ALTER TABLE ledger_accounts ADD COLUMN budgeted boolean NOT NULL DEFAULT false;

CREATE TYPE ledger_budget_period AS ENUM ('day', 'week', 'month', 'none');

-- A budget caps what one scope may spend in a period: an account (an
-- individual, an enterprise with all its sub-accounts, or one sub-account),
-- a project label within an account, or a key label within a project.
-- cap is in credits (a budget in yuan is converted when set; unit and
-- amount keep what was entered). used counts what the scope was charged
-- in the period starting at period_start plus what its open holds made in
-- that period hold; a hold in a later period starts again from 0, so a
-- period resets without a job. hard_stop refuses a hold that would pass
-- cap; thresholds (percent) raise one alert each per period.
CREATE TABLE ledger_budgets (
    pool_id      bigint NOT NULL REFERENCES ledger_accounts (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    account_id   bigint NOT NULL REFERENCES ledger_accounts (id),
    project      text NOT NULL DEFAULT '',
    key_label    text NOT NULL DEFAULT '',
    period       ledger_budget_period NOT NULL,
    cap          ledger_positive NOT NULL,
    unit         text NOT NULL CHECK (unit IN ('credits', 'yuan')),
    amount       numeric(24, 6) NOT NULL CHECK (amount > 0),
    thresholds   smallint[] NOT NULL DEFAULT '{}',
    hard_stop    boolean NOT NULL,
    period_start timestamptz NOT NULL DEFAULT '-infinity',
    used         numeric(24, 6) NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    updated_by   text NOT NULL CHECK (updated_by <> ''),
    PRIMARY KEY (pool_id, id),
    CONSTRAINT ledger_budgets_scope UNIQUE (account_id, project, key_label)
);
CREATE UNIQUE INDEX ledger_budgets_id_idx ON ledger_budgets (id);

-- A threshold a budget's use reached in a period, once per period: the
-- alert job mails and posts the budget.threshold webhook for each row
-- (notified_at).
CREATE TABLE ledger_budget_alerts (
    pool_id      bigint NOT NULL,
    budget_id    bigint NOT NULL,
    period_start timestamptz NOT NULL,
    threshold    smallint NOT NULL,
    used         numeric(24, 6) NOT NULL,
    cap          numeric(24, 6) NOT NULL,
    refused      boolean NOT NULL,
    at           timestamptz NOT NULL,
    notified_at  timestamptz,
    PRIMARY KEY (pool_id, budget_id, period_start, threshold)
);
CREATE INDEX ledger_budget_alerts_unsent ON ledger_budget_alerts (at) WHERE notified_at IS NULL;

-- The usage pages read the labels through the published view.
CREATE OR REPLACE VIEW ledger_event_view AS
SELECT pool_id, id, account_id, lot_id, op_id, type, amount, balance_after, unpaid, reservation_id,
       model, session_id, request_id, detail, occurred_at, at, recorded_at, project, key_label
FROM ledger_events;

-- +goose Down
DROP VIEW ledger_event_view;
CREATE VIEW ledger_event_view AS
SELECT pool_id, id, account_id, lot_id, op_id, type, amount, balance_after, unpaid, reservation_id,
       model, session_id, request_id, detail, occurred_at, at, recorded_at
FROM ledger_events;
DROP TABLE ledger_budget_alerts;
DROP TABLE ledger_budgets;
DROP TYPE ledger_budget_period;
ALTER TABLE ledger_accounts DROP COLUMN budgeted;
ALTER TABLE ledger_reservations DROP COLUMN budget_starts, DROP COLUMN budget_ids, DROP COLUMN key_label, DROP COLUMN project;
ALTER TABLE ledger_events DROP COLUMN key_label, DROP COLUMN project;
