-- +goose Up
-- Operator analytics, continued (internal/backoffice analytics.go).
--
-- Sign-up conversion: one row per live pool account (individual or
-- enterprise) with when it signed up, was first verified and first paid a
-- top-up order. The roll-up job refreshes the accounts that signed up in
-- the last 91 days (the longest conversion window the dashboard offers is
-- 90 days); an older row no longer changes what the dashboard shows.
CREATE TABLE analytics_signups (
    account_id     bigint PRIMARY KEY,
    day            date NOT NULL,        -- Asia/Shanghai day of sign-up
    signed_up_at   timestamptz NOT NULL,
    verified_at    timestamptz,
    first_topup_at timestamptz
);
CREATE INDEX analytics_signups_day_idx ON analytics_signups (day);

-- Plan subscribers by plan (tier) and day: subscribers in force at the
-- day's last refresh (a snapshot: a day before the roll-up existed has
-- none), and the subscriptions that ended that day (expired or refunded,
-- from their events).
CREATE TABLE analytics_daily_plan (
    day         date NOT NULL,
    plan_code   text NOT NULL,
    subscribers bigint,
    ended       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, plan_code)
);

-- +goose Down
DROP TABLE analytics_daily_plan;
DROP TABLE analytics_signups;
