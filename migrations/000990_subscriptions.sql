-- +goose Up
-- Subscriptions to plans (internal/plans owns these tables). A subscription
-- belongs to a pool account (an enterprise's plan covers its pool) and
-- references the plan version it bought, which it keeps until its next
-- renewal. Periods are computed from anchor and cycle (plans.PeriodAt);
-- term_end is the end of what was paid or comped: the subscription is in
-- force while now < term_end and expires then unless renewed.
CREATE TABLE subscriptions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES ledger_accounts (id),
    plan_code    text NOT NULL,
    plan_version integer NOT NULL,
    cycle        text NOT NULL CHECK (cycle IN ('monthly', 'yearly')),
    anchor       timestamptz NOT NULL,
    term_end     timestamptz NOT NULL CHECK (term_end > anchor),
    -- active: renews at term_end (once renewal exists); canceled: renewal
    -- turned off, in force until term_end; expired: over.
    state        text NOT NULL CHECK (state IN ('active', 'canceled', 'expired')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    FOREIGN KEY (plan_code, plan_version) REFERENCES plan_versions (code, version)
);

-- One subscription in force per account.
CREATE UNIQUE INDEX subscriptions_live_key ON subscriptions (account_id) WHERE state <> 'expired';

-- Every change of a subscription, written in the transaction that made it.
CREATE TABLE subscription_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    kind            text NOT NULL CHECK (kind IN ('created', 'comped', 'renewed', 'canceled', 'expired')),
    plan_code       text NOT NULL,
    plan_version    integer NOT NULL,
    term_end        timestamptz NOT NULL,
    actor           text NOT NULL CHECK (actor <> ''),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    at              timestamptz NOT NULL
);
CREATE INDEX subscription_events_subscription ON subscription_events (subscription_id, id);

-- The plan credits granted for each month of a subscription (a monthly
-- plan's period, a yearly plan's month), at most one row per month: the
-- ledger lot's idempotency key is plan:<subscription>:<period start unix>,
-- and this key makes the grant visible to the job that looks for due
-- months. lot_id is NULL when the plan grants no credits (Free).
CREATE TABLE subscription_grants (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL CHECK (period_end > period_start),
    plan_code       text NOT NULL,
    plan_version    integer NOT NULL,
    credits         numeric(24, 6) NOT NULL CHECK (credits >= 0),
    lot_id          bigint,
    granted_at      timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, period_start)
);

CREATE TRIGGER subscription_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON subscription_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('write a new subscription event instead');
CREATE TRIGGER subscription_grants_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON subscription_grants
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('grants are never changed');

-- +goose Down
DROP TABLE subscription_grants;
DROP TABLE subscription_events;
DROP TABLE subscriptions;
