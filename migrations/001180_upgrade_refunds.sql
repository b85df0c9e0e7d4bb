-- +goose Up
-- A paid upgrade can be refunded through the refund approval (internal/plans
-- upgrade_refund.go): the subscription goes back to the plan it was upgraded
-- from for the rest of the period and the upgrade's plan lot is revoked.
-- Each refund is one append-only row; an upgrade is refunded once.
CREATE TABLE subscription_upgrade_refunds (
    upgrade_id      bigint PRIMARY KEY REFERENCES subscription_upgrades (id),
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    order_no        text NOT NULL UNIQUE,
    unused_fen      bigint NOT NULL CHECK (unused_fen >= 0),
    consumed        numeric(24, 6) NOT NULL CHECK (consumed >= 0),
    entitled        numeric(24, 6) NOT NULL CHECK (entitled >= 0),
    excess          numeric(24, 6) NOT NULL CHECK (excess >= 0),
    deduction_fen   bigint NOT NULL CHECK (deduction_fen >= 0),
    refund_fen      bigint NOT NULL CHECK (refund_fen > 0),
    revoked         numeric(24, 6) NOT NULL CHECK (revoked >= 0),
    actor           text NOT NULL,
    refunded_at     timestamptz NOT NULL
);
CREATE TRIGGER subscription_upgrade_refunds_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON subscription_upgrade_refunds
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('upgrade refunds are never changed');

-- After a refund the customer may buy the same upgrade again in the period:
-- an upgrade from a version counts the refunded ones before it (round).
ALTER TABLE subscription_upgrades ADD COLUMN round integer NOT NULL DEFAULT 0 CHECK (round >= 0);
ALTER TABLE subscription_upgrades DROP CONSTRAINT subscription_upgrades_from_key;
ALTER TABLE subscription_upgrades ADD CONSTRAINT subscription_upgrades_from_key
    UNIQUE (subscription_id, period_start, from_plan_code, from_plan_version, round);

ALTER TABLE subscription_events DROP CONSTRAINT subscription_events_kind_check;
ALTER TABLE subscription_events ADD CONSTRAINT subscription_events_kind_check CHECK (kind IN (
    'created', 'comped', 'granted', 'renewed', 'renewal_ordered', 'past_due', 'canceled', 'resumed',
    'upgraded', 'downgrade_scheduled', 'change_withdrawn', 'downgraded', 'extended', 'refunded', 'expired',
    'upgrade_refunded'));

-- +goose Down
ALTER TABLE subscription_events DROP CONSTRAINT subscription_events_kind_check;
ALTER TABLE subscription_events ADD CONSTRAINT subscription_events_kind_check CHECK (kind IN (
    'created', 'comped', 'granted', 'renewed', 'renewal_ordered', 'past_due', 'canceled', 'resumed',
    'upgraded', 'downgrade_scheduled', 'change_withdrawn', 'downgraded', 'extended', 'refunded', 'expired'));
ALTER TABLE subscription_upgrades DROP CONSTRAINT subscription_upgrades_from_key;
ALTER TABLE subscription_upgrades ADD CONSTRAINT subscription_upgrades_from_key
    UNIQUE (subscription_id, period_start, from_plan_code, from_plan_version);
ALTER TABLE subscription_upgrades DROP COLUMN round;
DROP TABLE subscription_upgrade_refunds;
