-- +goose Up
-- The credit ledger. See internal/ledger/doc.go for the design. Every table
-- carries pool_id (the account that owns the lots: the account itself, or
-- the enterprise for a sub-account) first in its keys, so the ledger can be
-- distributed by pool_id later.

CREATE SEQUENCE ledger_op_seq;

-- Enumerations rather than CHECK (x IN (...)): PostgreSQL re-prepares every
-- CHECK expression on each statement that writes the row, which on the hot
-- path (an event insert, an account or lot update per operation) cost more
-- than the write itself; an enum column checks its value for free.
CREATE TYPE ledger_account_kind AS ENUM ('individual', 'enterprise', 'sub');
CREATE TYPE ledger_account_mode AS ENUM ('live', 'test');
CREATE TYPE ledger_account_status AS ENUM ('active', 'frozen');
CREATE TYPE ledger_lot_kind AS ENUM ('paid', 'promo', 'plan', 'grace');
CREATE TYPE ledger_reservation_status AS ENUM ('open', 'committed', 'released', 'expired', 'expired_charged');
CREATE TYPE ledger_event_type AS ENUM ('purchase', 'grant', 'deduction', 'reservation', 'reservation_release',
    'reservation_expired_charge', 'refund', 'expiry', 'adjustment', 'transfer', 'unpaid_usage', 'allocation', 'status');

CREATE TABLE ledger_accounts (
    id           bigint PRIMARY KEY,
    pool_id      bigint NOT NULL,
    kind         ledger_account_kind NOT NULL,
    parent_id    bigint REFERENCES ledger_accounts (id),
    mode         ledger_account_mode NOT NULL DEFAULT 'live',
    external_id  text,
    name         text NOT NULL DEFAULT '',
    status       ledger_account_status NOT NULL DEFAULT 'active',
    -- sub-accounts: what the account may still spend from the pool (NULL = no limit)
    allocation   numeric(24, 6) CHECK (allocation >= 0),
    -- pools only: sum of the lots' remaining amounts (= balance_after of the last event)
    balance      numeric(24, 6) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    reserved     numeric(24, 6) NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    has_paid     boolean NOT NULL DEFAULT false,
    grace_used   boolean NOT NULL DEFAULT false,
    last_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_external_id_key UNIQUE (mode, external_id),
    CHECK ((kind = 'sub') = (parent_id IS NOT NULL))
) WITH (fillfactor = 70); -- room for HOT updates of the running state
CREATE SEQUENCE ledger_accounts_id_seq OWNED BY ledger_accounts.id;
CREATE INDEX ledger_accounts_pool_idx ON ledger_accounts (pool_id);

CREATE TABLE ledger_lots (
    pool_id      bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    account_id   bigint NOT NULL,
    kind         ledger_lot_kind NOT NULL,
    amount       numeric(24, 6) NOT NULL CHECK (amount > 0),
    remaining    numeric(24, 6) NOT NULL CHECK (remaining >= 0),
    refunded     numeric(24, 6) NOT NULL DEFAULT 0,
    expires_at   timestamptz,
    source_ref   text NOT NULL DEFAULT '',
    actor        text NOT NULL DEFAULT '',
    reason_code  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (pool_id, id)
) WITH (fillfactor = 70);
CREATE UNIQUE INDEX ledger_lots_id_idx ON ledger_lots (id);
-- No index mentions remaining, so spending from a lot is a HOT update (no
-- index writes); the pool's lots are found through the primary key.
CREATE INDEX ledger_lots_due_idx ON ledger_lots (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE ledger_reservations (
    pool_id      bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    account_id   bigint NOT NULL,
    amount       numeric(24, 6) NOT NULL CHECK (amount > 0),
    holds        jsonb NOT NULL,
    status       ledger_reservation_status NOT NULL,
    expires_at   timestamptz NOT NULL,
    model        text NOT NULL DEFAULT '',
    session_id   text NOT NULL DEFAULT '',
    request_id   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    closed_at    timestamptz,
    -- the commit or release that closed it: its idempotency record
    close_key    text,
    close_op     text,
    close_hash   text,
    close_result jsonb,
    PRIMARY KEY (pool_id, id)
);
CREATE UNIQUE INDEX ledger_reservations_id_idx ON ledger_reservations (id);
CREATE INDEX ledger_reservations_due_idx ON ledger_reservations (expires_at) WHERE status = 'open';

CREATE TABLE ledger_idempotency (
    pool_id      bigint NOT NULL,
    account_id   bigint NOT NULL,
    key          text NOT NULL,
    op           text NOT NULL,
    args_hash    text NOT NULL,
    result       jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool_id, account_id, key)
);

CREATE TABLE ledger_events (
    pool_id         bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    account_id      bigint NOT NULL,
    lot_id          bigint,
    op_id           bigint NOT NULL,
    type            ledger_event_type NOT NULL,
    amount          numeric(24, 6) NOT NULL,
    balance_after   numeric(24, 6) NOT NULL,
    unpaid          numeric(24, 6) NOT NULL DEFAULT 0,
    reservation_id  bigint,
    idempotency_key text NOT NULL DEFAULT '',
    actor           text NOT NULL DEFAULT '',
    reason_code     text NOT NULL DEFAULT '',
    source_ref      text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    request_id      text NOT NULL DEFAULT '',
    session_id      text NOT NULL DEFAULT '',
    detail          jsonb,
    occurred_at     timestamptz NOT NULL,
    at              timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (pool_id, id)
);
-- BalanceAt: one probe for the last event at or before an instant.
CREATE INDEX ledger_events_at_idx ON ledger_events (pool_id, at, id);
-- A sub-account's own events (an account that is its own pool pages its
-- events through the primary key, so its rows stay out of this index).
CREATE INDEX ledger_events_sub_idx ON ledger_events (pool_id, account_id, id) WHERE account_id <> pool_id;

-- +goose StatementBegin
CREATE FUNCTION ledger_events_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'write a correcting event (adjustment, refund) instead';
END $$;
-- +goose StatementEnd
CREATE TRIGGER ledger_events_no_update BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_events_refuse();
CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_refuse();

-- +goose Down
DROP TABLE ledger_events;
DROP FUNCTION ledger_events_refuse();
DROP TABLE ledger_idempotency;
DROP TABLE ledger_reservations;
DROP TABLE ledger_lots;
DROP TABLE ledger_accounts;
DROP SEQUENCE ledger_op_seq;
DROP TYPE ledger_event_type;
DROP TYPE ledger_reservation_status;
DROP TYPE ledger_lot_kind;
DROP TYPE ledger_account_status;
DROP TYPE ledger_account_mode;
DROP TYPE ledger_account_kind;
