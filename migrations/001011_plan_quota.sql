-- +goose Up
-- Spending plan quota (internal/plans owns these tables; its functions are
-- in internal/plans/schema/quota.sql).
--
-- An account's billing preference says what pays a call to a model its
-- plan covers: plan_first (quota, then credits), wallet_first (credits,
-- then quota), plan_only (quota or refused), wallet_only (credits only).
-- No row is plan_first.
CREATE TABLE plan_billing_preferences (
    account_id bigint PRIMARY KEY REFERENCES ledger_accounts (id),
    preference text NOT NULL CHECK (preference IN ('plan_first', 'wallet_first', 'plan_only', 'wallet_only')),
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL CHECK (updated_by <> '')
);

-- One row per call paid by quota: held at reserve, settled at commit (the
-- actual requests and tokens), or released. A use counts in its windows
-- from `at`; rolling windows sum these rows, calendar and period windows
-- keep counters (below) that a hold, a settle and a release move in the
-- same statement. windows records every quota the hold was checked
-- against, with its window's bounds and limit, so that the settle moves
-- the same counters. item is the plan item's key (its group, or its one
-- model), stable across plan versions, so a window's use carries over an
-- upgrade.
CREATE TABLE plan_quota_uses (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id   bigint NOT NULL REFERENCES subscriptions (id),
    pool_id           bigint NOT NULL,
    account_id        bigint NOT NULL REFERENCES ledger_accounts (id),
    item              text NOT NULL,
    model             text NOT NULL,
    idempotency_key   text NOT NULL CHECK (idempotency_key <> ''),
    request_hash      text NOT NULL,
    session_id        text NOT NULL DEFAULT '',
    rate_card_version integer NOT NULL,
    requests          bigint NOT NULL CHECK (requests >= 0),
    tokens            bigint NOT NULL CHECK (tokens >= 0),
    -- tokens used beyond what the quota had room for at commit, charged as credits
    excess_tokens     bigint NOT NULL DEFAULT 0 CHECK (excess_tokens >= 0),
    input_tokens      bigint NOT NULL DEFAULT 0,
    output_tokens     bigint NOT NULL DEFAULT 0,
    cache_hit_tokens  bigint NOT NULL DEFAULT 0,
    outcome           text NOT NULL DEFAULT '',
    windows           jsonb NOT NULL,
    -- declined: the quota was exhausted and the call went to credits (kept
    -- so that a retry of its key goes there too); counts in no window
    state             text NOT NULL CHECK (state IN ('held', 'committed', 'released', 'declined')),
    at                timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    closed_at         timestamptz,
    close_hash        text,
    close_result      jsonb,
    CONSTRAINT plan_quota_uses_key UNIQUE (account_id, idempotency_key)
);
CREATE INDEX plan_quota_uses_window ON plan_quota_uses (subscription_id, item, at) INCLUDE (requests, tokens)
    WHERE state IN ('held', 'committed');
CREATE INDEX plan_quota_uses_open ON plan_quota_uses (expires_at) WHERE state = 'held';
CREATE INDEX plan_quota_uses_pool ON plan_quota_uses (pool_id, at DESC);

CREATE TABLE plan_quota_counters (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    item            text NOT NULL,
    unit            text NOT NULL CHECK (unit IN ('requests', 'tokens')),
    window_kind     text NOT NULL CHECK (window_kind IN ('day', 'week', 'period')),
    window_start    timestamptz NOT NULL,
    used            bigint NOT NULL CHECK (used >= 0),
    PRIMARY KEY (subscription_id, item, unit, window_kind, window_start)
);

-- A quota found exhausted, once per window: the plan.quota_exhausted
-- webhook is sent for each row (notified_at), retried by the sweep job.
CREATE TABLE plan_quota_exhaustions (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    item            text NOT NULL,
    unit            text NOT NULL,
    window_kind     text NOT NULL,
    window_hours    integer NOT NULL,
    window_start    timestamptz NOT NULL,
    free_at         timestamptz,
    at              timestamptz NOT NULL,
    notified_at     timestamptz,
    PRIMARY KEY (subscription_id, item, unit, window_kind, window_hours, window_start)
);
CREATE INDEX plan_quota_exhaustions_unsent ON plan_quota_exhaustions (at) WHERE notified_at IS NULL;

-- Subscriptions and preferences changing tell every process's quota cache
-- (plans.Quotas listens on plan_changes).
-- +goose StatementBegin
CREATE FUNCTION plan_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('plan_changes', NEW.account_id::text);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER subscriptions_notify AFTER INSERT OR UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION plan_changes_notify();
CREATE TRIGGER plan_billing_preferences_notify AFTER INSERT OR UPDATE ON plan_billing_preferences
    FOR EACH ROW EXECUTE FUNCTION plan_changes_notify();

-- +goose Down
DROP TRIGGER plan_billing_preferences_notify ON plan_billing_preferences;
DROP TRIGGER subscriptions_notify ON subscriptions;
DROP FUNCTION plan_changes_notify();
DROP TABLE plan_quota_exhaustions;
DROP TABLE plan_quota_counters;
DROP TABLE plan_quota_uses;
DROP TABLE plan_billing_preferences;
DROP FUNCTION IF EXISTS plan_quota_hold(jsonb);
DROP FUNCTION IF EXISTS plan_quota_settle(jsonb);
DROP FUNCTION IF EXISTS plan_quota_release(jsonb);
DROP FUNCTION IF EXISTS plan_quota_sweep(timestamptz, int);
DROP FUNCTION IF EXISTS plan_quota_used(plan_quota_uses, jsonb, timestamptz);
