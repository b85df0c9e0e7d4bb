-- +goose Up
-- Auto top-up by agreement payments (internal/autotopup, README "Auto
-- top-up"). An agreement order is an ordinary payment order debited against
-- a signed agreement instead of shown as a QR code.
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_pay_mode_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_pay_mode_check CHECK (pay_mode IN ('qr', 'phone', 'agreement'));

-- The customer's agreements with a channel. agreement_no is ours (the
-- channel's out_contract_code / external_agreement_no); contract_id is the
-- channel's, known once signed. At most one agreement per account is in
-- force (signed or paused) at a time.
CREATE TABLE autotopup_agreements (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES ledger_accounts (id),
    channel       text NOT NULL CHECK (channel IN ('wechat', 'alipay')),
    agreement_no  text NOT NULL UNIQUE,
    contract_id   text,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'signed', 'paused', 'terminated')),
    pause_reason  text NOT NULL DEFAULT '',
    signed_at     timestamptz,
    terminated_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (state = 'pending' OR state = 'terminated' OR contract_id IS NOT NULL)
);
CREATE UNIQUE INDEX autotopup_agreements_in_force ON autotopup_agreements (account_id) WHERE state IN ('signed', 'paused');
CREATE UNIQUE INDEX autotopup_agreements_contract ON autotopup_agreements (channel, contract_id) WHERE contract_id IS NOT NULL;

-- What the customer set: the threshold (credits, or a share of the last
-- top-up's credits), the tier to buy, the monthly cap in fen.
CREATE TABLE autotopup_settings (
    account_id        bigint PRIMARY KEY REFERENCES ledger_accounts (id),
    threshold_credits numeric(24, 6) CHECK (threshold_credits > 0),
    threshold_share   numeric(5, 4) CHECK (threshold_share > 0 AND threshold_share < 1),
    tier_fen          bigint NOT NULL CHECK (tier_fen > 0),
    monthly_cap_fen   bigint NOT NULL CHECK (monthly_cap_fen > 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((threshold_credits IS NULL) <> (threshold_share IS NULL))
);

-- One row per crossing below the threshold that led to a top-up: the order
-- debited, its attempts and outcome. (account_id, crossing_event_id) is
-- unique, so a crossing makes one top-up however often it is scanned.
CREATE TABLE autotopup_runs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        bigint NOT NULL REFERENCES ledger_accounts (id),
    agreement_id      bigint NOT NULL REFERENCES autotopup_agreements (id),
    crossing_event_id bigint NOT NULL,
    order_no          text NOT NULL UNIQUE,
    amount_fen        bigint NOT NULL CHECK (amount_fen > 0),
    day               date NOT NULL, -- Beijing date of the crossing
    state             text NOT NULL DEFAULT 'debiting' CHECK (state IN ('debiting', 'succeeded', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    accepted_at       timestamptz, -- the channel accepted the debit; its notify settles it
    next_attempt_at   timestamptz,
    last_error        text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, crossing_event_id)
);
CREATE INDEX autotopup_runs_account_day ON autotopup_runs (account_id, day);

-- The customer's history of auto top-up: every debit, failure and change.
CREATE TABLE autotopup_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES ledger_accounts (id),
    at         timestamptz NOT NULL DEFAULT now(),
    kind       text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX autotopup_history_account ON autotopup_history (account_id, id DESC);
CREATE TRIGGER autotopup_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON autotopup_history
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('the auto top-up history is append-only');

-- The outbox reader's cursor over ledger_events (one row, locked by the
-- scan) and, per pool, whether auto top-up is armed (available credit has
-- been at or above the threshold since the last top-up) and the credits of
-- the last top-up (for a threshold set as a share of it).
CREATE TABLE autotopup_cursor (
    id            integer PRIMARY KEY CHECK (id = 1),
    last_event_id bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE autotopup_pool_state (
    pool_id           bigint PRIMARY KEY,
    armed             boolean NOT NULL DEFAULT true,
    last_topup_credits numeric(24, 6) NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE autotopup_pool_state;
DROP TABLE autotopup_cursor;
DROP TABLE autotopup_history;
DROP TABLE autotopup_runs;
DROP TABLE autotopup_settings;
DROP TABLE autotopup_agreements;
ALTER TABLE payment_orders DROP CONSTRAINT payment_orders_pay_mode_check;
ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_pay_mode_check CHECK (pay_mode IN ('qr', 'phone'));
