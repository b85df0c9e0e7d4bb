-- +goose Up
-- What an order buys: a top-up (credits) or a plan. A plan order names the
-- plan code, the version its price was read from and the billing cycle;
-- paying it starts the subscription (internal/plans, through the payments
-- PlanPaid hook) in the transaction that marks it paid, and credits no lot.
ALTER TABLE payment_orders
    ADD COLUMN purpose text NOT NULL DEFAULT 'topup'
        CONSTRAINT payment_orders_purpose_check CHECK (purpose IN ('topup', 'plan')),
    ADD COLUMN plan_code text,
    ADD COLUMN plan_version integer,
    ADD COLUMN plan_cycle text CONSTRAINT payment_orders_plan_cycle_check CHECK (plan_cycle IN ('monthly', 'yearly')),
    ADD CONSTRAINT payment_orders_plan_check CHECK ((purpose = 'plan') =
        (plan_code IS NOT NULL AND plan_version IS NOT NULL AND plan_cycle IS NOT NULL));
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_credits_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_credits_check
    CHECK (credits > 0 OR (purpose = 'plan' AND credits = 0));

-- +goose Down
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_credits_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_credits_check CHECK (credits > 0);
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_plan_check,
    DROP COLUMN plan_cycle, DROP COLUMN plan_version, DROP COLUMN plan_code, DROP COLUMN purpose;
