-- +goose Up
-- Changing plans (internal/plans, changes.go).
--
-- An upgrade order (payment_orders purpose plan_upgrade) names the version it
-- upgrades from, so that paying it after the subscription moved (another
-- upgrade was paid first, or the period ended) sends it to review instead of
-- applying a price computed for another plan.
ALTER TABLE payment_orders
    ADD COLUMN from_plan_code    text,
    ADD COLUMN from_plan_version integer,
    ADD CONSTRAINT payment_orders_upgrade_check CHECK ((purpose = 'plan_upgrade') =
        (from_plan_code IS NOT NULL AND from_plan_version IS NOT NULL));

-- Each applied upgrade: what it cost, what it granted, and from which plan.
-- One upgrade per (subscription, period, from-version): two racing upgrades
-- of one subscription can never both apply from the same plan (the
-- subscription's row lock serialises them; this key makes it a rule of the
-- database too). An order applies at most once (order_no).
CREATE TABLE subscription_upgrades (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id   bigint NOT NULL REFERENCES subscriptions (id),
    period_start      timestamptz NOT NULL,
    period_end        timestamptz NOT NULL CHECK (period_end > period_start),
    from_plan_code    text NOT NULL,
    from_plan_version integer NOT NULL,
    to_plan_code      text NOT NULL,
    to_plan_version   integer NOT NULL,
    cycle             text NOT NULL CHECK (cycle IN ('monthly', 'yearly')),
    price_fen         bigint NOT NULL CHECK (price_fen >= 0),
    credits           numeric(24, 6) NOT NULL CHECK (credits >= 0),
    lot_id            bigint,
    order_no          text UNIQUE,
    priced_at         timestamptz NOT NULL,
    applied_at        timestamptz NOT NULL,
    CONSTRAINT subscription_upgrades_from_key UNIQUE (subscription_id, period_start, from_plan_code, from_plan_version),
    FOREIGN KEY (from_plan_code, from_plan_version) REFERENCES plan_versions (code, version),
    FOREIGN KEY (to_plan_code, to_plan_version) REFERENCES plan_versions (code, version)
);
CREATE TRIGGER subscription_upgrades_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON subscription_upgrades
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('upgrades are never changed');

-- +goose Down
DROP TABLE subscription_upgrades;
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_upgrade_check,
    DROP COLUMN from_plan_version, DROP COLUMN from_plan_code;
