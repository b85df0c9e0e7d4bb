-- +goose Up
-- One-time products (internal/products owns these tables): a feature
-- unlock, a model pack (a credit bundle, delivered as a paid lot priced at
-- the price paid, with its own validity) or a fine-tune job (a count of
-- jobs). Like plans, a product is known by its code and each published
-- version is immutable; staff edit one draft per code and publish it as the
-- next version.
CREATE TABLE product_versions (
    code             text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_-]{0,31}$'),
    version          integer NOT NULL CHECK (version > 0),
    name_zh          text NOT NULL CHECK (name_zh <> '' AND length(name_zh) <= 64),
    name_en          text NOT NULL CHECK (name_en <> '' AND length(name_en) <= 64),
    description_zh   text NOT NULL DEFAULT '' CHECK (length(description_zh) <= 300),
    description_en   text NOT NULL DEFAULT '' CHECK (length(description_en) <= 300),
    kind             text NOT NULL CHECK (kind IN ('feature', 'model_pack', 'fine_tune')),
    price_fen        bigint NOT NULL CHECK (price_fen > 0 AND price_fen <= 100000000),
    -- A model pack's credits and the days they stay spendable after
    -- payment (NULL: they never expire); zero and NULL for other kinds.
    credits          numeric(24, 6) NOT NULL DEFAULT 0 CHECK (credits >= 0),
    credit_days      integer CHECK (credit_days BETWEEN 1 AND 3660),
    -- A fine-tune product's number of jobs; NULL for other kinds.
    job_count        integer CHECK (job_count BETWEEN 1 AND 10000),
    -- How long the entitlement lasts after payment (NULL: unlimited).
    entitlement_days integer CHECK (entitlement_days BETWEEN 1 AND 3660),
    -- Days after payment within which the customer may ask for a refund
    -- (0: not refundable).
    refund_days      integer NOT NULL CHECK (refund_days BETWEEN 0 AND 365),
    draft_id         bigint NOT NULL CONSTRAINT product_versions_draft_key UNIQUE,
    published_at     timestamptz NOT NULL,
    published_by     text NOT NULL CHECK (published_by <> ''),
    PRIMARY KEY (code, version),
    CONSTRAINT product_versions_terms_check CHECK (
        (kind = 'model_pack') = (credits > 0) AND
        (kind = 'fine_tune') = (job_count IS NOT NULL) AND
        (kind = 'model_pack' OR credit_days IS NULL))
);

CREATE TRIGGER product_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON product_versions
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new product version instead');

CREATE TABLE product_drafts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL CONSTRAINT product_drafts_code_key UNIQUE,
    based_on    integer,
    spec        jsonb NOT NULL,
    revision    integer NOT NULL DEFAULT 1 CHECK (revision > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text NOT NULL CHECK (updated_by <> ''),
    FOREIGN KEY (code, based_on) REFERENCES product_versions (code, version)
);

-- What an account got from a product: one row per paid order (order_no is
-- unique, so a payment reported many times delivers once). until NULL is
-- unlimited; revoked_at is set once, when the order is refunded.
CREATE TABLE entitlements (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES ledger_accounts (id),
    product_code    text NOT NULL,
    product_version integer NOT NULL,
    kind            text NOT NULL,
    order_no        text NOT NULL CONSTRAINT entitlements_order_key UNIQUE,
    since           timestamptz NOT NULL,
    until           timestamptz,
    job_count       integer,
    lot_id          bigint,
    revoked_at      timestamptz,
    revoke_reason   text NOT NULL DEFAULT '',
    FOREIGN KEY (product_code, product_version) REFERENCES product_versions (code, version),
    CHECK (until IS NULL OR until > since)
);
CREATE INDEX entitlements_account_idx ON entitlements (account_id, since DESC);

-- A product order names the version its price was read from and carries
-- the delivery terms copied from it, so paying and refunding it need not
-- read the catalogue: product_refund_days is the refund window after
-- payment, product_lot_days the model pack lot's validity (NULL: none).
ALTER TABLE payment_orders
    ADD COLUMN product_code text,
    ADD COLUMN product_version integer,
    ADD COLUMN product_refund_days integer,
    ADD COLUMN product_lot_days integer,
    ADD CONSTRAINT payment_orders_product_check CHECK ((purpose = 'product') =
        (product_code IS NOT NULL AND product_version IS NOT NULL AND product_refund_days IS NOT NULL));

-- A refund of a feature unlock or fine-tune product takes no credit back
-- (there is no lot): it has no ledger operation and zero credits.
ALTER TABLE payment_refunds ALTER COLUMN ledger_op_id DROP NOT NULL;
ALTER TABLE payment_refunds DROP CONSTRAINT IF EXISTS payment_refunds_credits_check;
ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_credits_check CHECK (credits >= 0);

-- Redemption codes that grant a plan for N days instead of credits.
ALTER TABLE redemption_batches
    ADD COLUMN plan_code text,
    ADD COLUMN plan_days integer CHECK (plan_days BETWEEN 1 AND 366),
    ADD CONSTRAINT redemption_batches_plan_check CHECK ((plan_code IS NULL) = (plan_days IS NULL));
ALTER TABLE redemption_batches DROP CONSTRAINT IF EXISTS redemption_batches_amount_check;
ALTER TABLE redemption_batches ADD CONSTRAINT redemption_batches_amount_check
    CHECK ((plan_code IS NULL AND amount > 0) OR (plan_code IS NOT NULL AND amount = 0));
ALTER TABLE redemption_codes ADD COLUMN subscription_id bigint;

-- +goose Down
ALTER TABLE redemption_codes DROP COLUMN subscription_id;
ALTER TABLE redemption_batches DROP CONSTRAINT redemption_batches_amount_check;
ALTER TABLE redemption_batches ADD CONSTRAINT redemption_batches_amount_check CHECK (amount > 0);
ALTER TABLE redemption_batches DROP CONSTRAINT redemption_batches_plan_check, DROP COLUMN plan_days, DROP COLUMN plan_code;
ALTER TABLE payment_refunds DROP CONSTRAINT payment_refunds_credits_check;
ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_credits_check CHECK (credits > 0);
ALTER TABLE payment_refunds ALTER COLUMN ledger_op_id SET NOT NULL;
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_product_check, DROP COLUMN product_lot_days,
    DROP COLUMN product_refund_days, DROP COLUMN product_version, DROP COLUMN product_code;
DROP TABLE entitlements;
DROP TABLE product_drafts;
DROP TABLE product_versions;
