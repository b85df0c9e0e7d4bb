-- +goose Up
-- A running count per rolling window (internal/plans/schema/quota.sql,
-- plan_quota_rolling_used): used is what the uses after cut count, and a
-- hold moves cut up to its window's start, taking out only the uses that
-- left the window since the last one. A hold thus costs the same with 10
-- or 10,000 calls in the window, where summing them grew with each call.
-- Created on first use from the full sum, so existing uses need no backfill.
CREATE TABLE plan_quota_rolling (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    item            text NOT NULL,
    unit            text NOT NULL CHECK (unit IN ('requests', 'tokens')),
    hours           integer NOT NULL CHECK (hours > 0),
    cut             timestamptz NOT NULL,
    used            bigint NOT NULL CHECK (used >= 0),
    PRIMARY KEY (subscription_id, item, unit, hours)
);

-- +goose Down
DROP TABLE plan_quota_rolling;
