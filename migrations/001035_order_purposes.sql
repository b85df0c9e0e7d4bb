-- +goose Up
-- Every purpose a payment order can have, in one place, so the plan-change
-- and one-time-product work can each add their columns without rewriting
-- one another's checks. plan_upgrade pays the prorated difference of an
-- upgrade (it names the subscription and the new plan); product buys a
-- one-time product (its own columns come with the products catalogue).
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_purpose_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_purpose_check
    CHECK (purpose IN ('topup', 'plan', 'plan_renewal', 'plan_upgrade', 'product'));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_plan_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_plan_check CHECK ((purpose IN ('plan', 'plan_renewal', 'plan_upgrade')) =
    (plan_code IS NOT NULL AND plan_version IS NOT NULL AND plan_cycle IS NOT NULL));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_credits_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_credits_check
    CHECK (credits > 0 OR (purpose <> 'topup' AND credits = 0));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_renewal_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_renewal_check
    CHECK ((purpose = 'plan_renewal') = (period_start IS NOT NULL));
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_subscription_check
    CHECK ((purpose IN ('plan_renewal', 'plan_upgrade')) = (subscription_id IS NOT NULL));

-- +goose Down
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_subscription_check;
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_renewal_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_renewal_check CHECK ((purpose = 'plan_renewal') =
    (subscription_id IS NOT NULL AND period_start IS NOT NULL));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_credits_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_credits_check
    CHECK (credits > 0 OR (purpose IN ('plan', 'plan_renewal') AND credits = 0));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_plan_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_plan_check CHECK ((purpose IN ('plan', 'plan_renewal')) =
    (plan_code IS NOT NULL AND plan_version IS NOT NULL AND plan_cycle IS NOT NULL));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_purpose_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_purpose_check CHECK (purpose IN ('topup', 'plan', 'plan_renewal'));
