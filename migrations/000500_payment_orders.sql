-- +goose Up
-- Top-up payment orders (internal/payments). An order is what a customer
-- pays through WeChat Pay, Alipay or a corporate bank transfer; paying it
-- credits a paid lot (and a promo lot for a bonus) in the same transaction
-- that marks it paid. Every state change is a row of
-- payment_order_transitions with its cause.

CREATE TABLE payment_orders (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_no          text NOT NULL,
    account_id        bigint NOT NULL REFERENCES ledger_accounts (id),
    amount_fen        bigint NOT NULL CHECK (amount_fen > 0),
    -- what paying it credits, fixed when the order is made
    credits           numeric(24, 6) NOT NULL CHECK (credits > 0),
    bonus_credits     numeric(24, 6) NOT NULL DEFAULT 0 CHECK (bonus_credits >= 0),
    bonus_valid_secs  bigint NOT NULL DEFAULT 0 CHECK (bonus_valid_secs >= 0), -- 0: the bonus never expires
    channel           text NOT NULL CHECK (channel IN ('wechat', 'alipay', 'bank_transfer')),
    state             text NOT NULL CHECK (state IN ('created', 'pending', 'paid', 'closed', 'failed',
                                                     'needs_review', 'partially_refunded', 'refunded')),
    channel_trade_no  text NOT NULL DEFAULT '',
    qr_code           text NOT NULL DEFAULT '', -- WeChat code_url / Alipay qr_code
    reference_code    text,                     -- bank transfer memo code (internal/refcode)
    expires_at        timestamptz NOT NULL,
    paid_at           timestamptz,
    paid_fen          bigint,                   -- what the channel or bank reported
    refunded_fen      bigint NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= amount_fen),
    paid_lot_id       bigint,
    promo_lot_id      bigint,
    review_reason     text NOT NULL DEFAULT '',
    synced_at         timestamptz,              -- last query at the channel by the sync job
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CONSTRAINT payment_orders_order_no_key UNIQUE (order_no),
    CONSTRAINT payment_orders_reference_code_key UNIQUE (reference_code),
    CHECK ((channel = 'bank_transfer') = (reference_code IS NOT NULL))
);
CREATE INDEX payment_orders_account_idx ON payment_orders (account_id, created_at DESC, id DESC);
CREATE INDEX payment_orders_open_idx ON payment_orders (synced_at NULLS FIRST, id) WHERE state IN ('created', 'pending');

CREATE TABLE payment_order_transitions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES payment_orders (id),
    from_state  text,          -- NULL when the order is made
    to_state    text NOT NULL,
    cause       text NOT NULL, -- e.g. create, qr_created, notify, sync, channel_mismatch, refund
    detail      jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL
);
CREATE INDEX payment_order_transitions_order_idx ON payment_order_transitions (order_id, id);

-- Refunds of paid top-ups; one row per refund request (idempotency key).
CREATE TABLE payment_refunds (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id         bigint NOT NULL REFERENCES payment_orders (id),
    refund_no        text NOT NULL,
    idempotency_key  text NOT NULL,
    amount_fen       bigint NOT NULL CHECK (amount_fen > 0),
    credits          numeric(24, 6) NOT NULL CHECK (credits > 0),
    reason           text NOT NULL DEFAULT '',
    actor            text NOT NULL DEFAULT '',
    -- refunded: the channel accepted it; manual: a bank transfer order, paid back by finance
    state            text NOT NULL CHECK (state IN ('refunded', 'manual')),
    ledger_op_id     bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    CONSTRAINT payment_refunds_refund_no_key UNIQUE (refund_no),
    CONSTRAINT payment_refunds_idempotency_key UNIQUE (order_id, idempotency_key)
);

-- +goose Down
DROP TABLE payment_refunds;
DROP TABLE payment_order_transitions;
DROP TABLE payment_orders;
