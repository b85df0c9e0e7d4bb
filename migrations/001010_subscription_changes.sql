-- +goose Up
-- The columns and kinds every later part of plans writes (changes, renewal,
-- grace), laid down once so that they share one shape:
--   next_*: a change scheduled for the current period's end (a downgrade, or
--   a cycle change); applied by the renewal at the period boundary.
--   past_due: the term ended unpaid; the plan stays in force during grace
--   (grace_until), then the account falls to Free.
ALTER TABLE subscriptions
    ADD COLUMN next_plan_code    text,
    ADD COLUMN next_plan_version integer,
    ADD COLUMN next_cycle        text CHECK (next_cycle IN ('monthly', 'yearly')),
    ADD COLUMN grace_until       timestamptz,
    ADD CONSTRAINT subscriptions_next_check CHECK ((next_plan_code IS NULL) = (next_cycle IS NULL)),
    ADD CONSTRAINT subscriptions_next_plan_fkey FOREIGN KEY (next_plan_code, next_plan_version)
        REFERENCES plan_versions (code, version);
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_state_check;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_state_check
    CHECK (state IN ('active', 'canceled', 'past_due', 'expired'));

ALTER TABLE subscription_events DROP CONSTRAINT subscription_events_kind_check;
ALTER TABLE subscription_events ADD CONSTRAINT subscription_events_kind_check CHECK (kind IN (
    'created', 'comped', 'granted', 'renewed', 'renewal_ordered', 'past_due', 'canceled', 'resumed',
    'upgraded', 'downgrade_scheduled', 'change_withdrawn', 'downgraded', 'extended', 'refunded', 'expired'));

-- +goose Down
ALTER TABLE subscription_events DROP CONSTRAINT subscription_events_kind_check;
ALTER TABLE subscription_events ADD CONSTRAINT subscription_events_kind_check
    CHECK (kind IN ('created', 'comped', 'renewed', 'canceled', 'expired'));
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_state_check;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_state_check CHECK (state IN ('active', 'canceled', 'expired'));
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_next_plan_fkey, DROP CONSTRAINT subscriptions_next_check,
    DROP COLUMN grace_until, DROP COLUMN next_cycle, DROP COLUMN next_plan_version, DROP COLUMN next_plan_code;
