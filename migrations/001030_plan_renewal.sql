-- +goose Up
-- Renewal (internal/plans, renewal.go). A renewal order is the bill for a
-- subscription's next period, made by the plans job N days before the term
-- ends (or at the end, for a period that costs nothing): one per
-- (subscription, period start), the period start being the term end it
-- extends from. renewed_at is set when the period was applied (paid, or
-- free); the subscription's row lock and its term end (which moves on with
-- the renewal) make that happen at most once.
CREATE TABLE subscription_renewals (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL CHECK (period_end > period_start),
    plan_code       text NOT NULL,
    plan_version    integer NOT NULL,
    cycle           text NOT NULL CHECK (cycle IN ('monthly', 'yearly')),
    price_fen       bigint NOT NULL CHECK (price_fen >= 0),
    ordered_at      timestamptz NOT NULL,
    renewed_at      timestamptz,
    -- The payment order that paid it (NULL for a free renewal).
    order_no        text,
    PRIMARY KEY (subscription_id, period_start),
    FOREIGN KEY (plan_code, plan_version) REFERENCES plan_versions (code, version)
);

-- A renewal is paid through a payment order of purpose plan_renewal that
-- names the subscription and the period start it pays. Customers may open
-- several (a QR expired, another channel), so two can be paid; at most one
-- of them is ever marked paid: the other goes to review (refund).
ALTER TABLE payment_orders
    ADD COLUMN subscription_id bigint,
    ADD COLUMN period_start timestamptz,
    ADD CONSTRAINT payment_orders_renewal_fkey FOREIGN KEY (subscription_id, period_start)
        REFERENCES subscription_renewals (subscription_id, period_start),
    ADD CONSTRAINT payment_orders_renewal_check CHECK ((purpose = 'plan_renewal') =
        (subscription_id IS NOT NULL AND period_start IS NOT NULL));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_purpose_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_purpose_check CHECK (purpose IN ('topup', 'plan', 'plan_renewal'));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_plan_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_plan_check CHECK ((purpose IN ('plan', 'plan_renewal')) =
    (plan_code IS NOT NULL AND plan_version IS NOT NULL AND plan_cycle IS NOT NULL));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_credits_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_credits_check
    CHECK (credits > 0 OR (purpose IN ('plan', 'plan_renewal') AND credits = 0));
-- A period is never charged twice: one paid order per (subscription, period).
CREATE UNIQUE INDEX payment_orders_renewal_paid_key ON payment_orders (subscription_id, period_start)
    WHERE purpose = 'plan_renewal' AND paid_at IS NOT NULL;

-- +goose Down
DROP INDEX payment_orders_renewal_paid_key;
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_credits_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_credits_check CHECK (credits > 0 OR (purpose = 'plan' AND credits = 0));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_plan_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_plan_check CHECK ((purpose = 'plan') =
    (plan_code IS NOT NULL AND plan_version IS NOT NULL AND plan_cycle IS NOT NULL));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_purpose_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_purpose_check CHECK (purpose IN ('topup', 'plan'));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_renewal_check, DROP CONSTRAINT payment_orders_renewal_fkey,
    DROP COLUMN period_start, DROP COLUMN subscription_id;
DROP TABLE subscription_renewals;
