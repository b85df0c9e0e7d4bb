-- +goose Up
-- The back office: audit log, maker-checker approvals, grant reason codes,
-- redemption codes, channel-bill differences and refund requests. See
-- internal/backoffice.

-- Every staff action (and every customer redemption) as an append-only row.
-- Balances are the account's pool ledger balance (credit in lots) before and
-- after the action, read under the pool's row lock.
CREATE TABLE admin_audit_log (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_kind      TEXT NOT NULL CHECK (actor_kind IN ('staff', 'customer', 'system')),
    actor_id        BIGINT,
    actor_email     TEXT NOT NULL DEFAULT '',
    ip              INET,
    action          TEXT NOT NULL CHECK (action <> ''),
    account_id      BIGINT,
    balance_before  NUMERIC(24, 6),
    balance_after   NUMERIC(24, 6),
    reason          TEXT NOT NULL DEFAULT '',
    detail          JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX admin_audit_log_at_idx ON admin_audit_log (at, id);
CREATE INDEX admin_audit_log_actor_idx ON admin_audit_log (actor_id, id);
CREATE INDEX admin_audit_log_account_idx ON admin_audit_log (account_id, id);
CREATE INDEX admin_audit_log_action_idx ON admin_audit_log (action, id);

-- +goose StatementBegin
CREATE FUNCTION admin_audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER admin_audit_log_no_update BEFORE UPDATE OR DELETE ON admin_audit_log
    FOR EACH ROW EXECUTE FUNCTION admin_audit_log_refuse();
CREATE TRIGGER admin_audit_log_no_truncate BEFORE TRUNCATE ON admin_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_log_refuse();

-- Maker-checker: an action above its limit waits here for a second person.
CREATE TABLE admin_approvals (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action             TEXT NOT NULL CHECK (action IN ('support_grant', 'manual_recharge')),
    -- what the approval is about, e.g. 'bank_line:42'; one pending request each
    subject            TEXT NOT NULL DEFAULT '',
    account_id         BIGINT NOT NULL,
    amount             NUMERIC(24, 6) NOT NULL CHECK (amount > 0),
    payload            JSONB NOT NULL,
    reason             TEXT NOT NULL DEFAULT '',
    requested_by       BIGINT NOT NULL,
    requested_by_email TEXT NOT NULL DEFAULT '',
    requested_at       TIMESTAMPTZ NOT NULL,
    idempotency_key    TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'approved', 'rejected', 'applied')),
    decided_by         BIGINT,
    decided_by_email   TEXT NOT NULL DEFAULT '',
    decided_at         TIMESTAMPTZ,
    decision_reason    TEXT NOT NULL DEFAULT '',
    result             JSONB,
    -- the requester can never decide their own request
    CONSTRAINT admin_approvals_not_self CHECK (decided_by IS NULL OR decided_by <> requested_by),
    CONSTRAINT admin_approvals_decided CHECK ((state = 'pending') = (decided_by IS NULL AND decided_at IS NULL)),
    CONSTRAINT admin_approvals_rejection_reason CHECK (state <> 'rejected' OR decision_reason <> '')
);
CREATE UNIQUE INDEX admin_approvals_pending_subject_key ON admin_approvals (subject)
    WHERE state = 'pending' AND subject <> '';
CREATE UNIQUE INDEX admin_approvals_idempotency_key ON admin_approvals (requested_by, idempotency_key)
    WHERE idempotency_key <> '';
CREATE INDEX admin_approvals_pending_idx ON admin_approvals (requested_at) WHERE state = 'pending';

-- The managed list of reasons a support grant may give.
CREATE TABLE grant_reason_codes (
    code        TEXT PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,47}$'),
    label_zh    TEXT NOT NULL CHECK (label_zh <> ''),
    label_en    TEXT NOT NULL CHECK (label_en <> ''),
    active      BOOLEAN NOT NULL DEFAULT true,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO grant_reason_codes (code, label_zh, label_en) VALUES
    ('outage_compensation', '故障补偿', 'Outage compensation'),
    ('goodwill', '客户关怀', 'Goodwill'),
    ('migration', '迁移补贴', 'Migration'),
    ('sales_promotion', '销售推广', 'Sales promotion');

-- Redemption codes (兑换码): batches and their codes, stored as SHA-256.
CREATE TABLE redemption_batches (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign          TEXT NOT NULL CHECK (campaign <> ''),
    amount            NUMERIC(24, 6) NOT NULL CHECK (amount > 0),
    lot_expires_at    TIMESTAMPTZ,
    lot_expires_days  INTEGER CHECK (lot_expires_days > 0),
    code_expires_at   TIMESTAMPTZ,
    one_per_customer  BOOLEAN NOT NULL,
    count             INTEGER NOT NULL CHECK (count > 0),
    created_by        BIGINT NOT NULL,
    created_by_email  TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    CHECK (lot_expires_at IS NULL OR lot_expires_days IS NULL)
);

CREATE TABLE redemption_codes (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id          BIGINT NOT NULL REFERENCES redemption_batches (id),
    code_hash         BYTEA NOT NULL CONSTRAINT redemption_codes_hash_key UNIQUE,
    -- the last 4 characters, so staff can tell codes apart without the code
    hint              TEXT NOT NULL,
    one_per_customer  BOOLEAN NOT NULL,
    redeemed_at       TIMESTAMPTZ,
    redeemed_by       BIGINT,
    lot_id            BIGINT,
    CHECK ((redeemed_at IS NULL) = (redeemed_by IS NULL))
);
CREATE INDEX redemption_codes_batch_idx ON redemption_codes (batch_id);
CREATE UNIQUE INDEX redemption_codes_one_per_customer_key ON redemption_codes (batch_id, redeemed_by)
    WHERE one_per_customer AND redeemed_by IS NOT NULL;

-- Failed redemption attempts, for the per-customer and per-IP throttles.
CREATE TABLE redemption_failures (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  BIGINT NOT NULL,
    ip          INET,
    reason      TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX redemption_failures_account_idx ON redemption_failures (account_id, at);
CREATE INDEX redemption_failures_ip_idx ON redemption_failures (ip, at);

-- Channel reconciliation: imported bills and the differences found.
CREATE TABLE channel_bill_imports (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel      TEXT NOT NULL,
    filename     TEXT NOT NULL DEFAULT '',
    period_from  TIMESTAMPTZ NOT NULL,
    period_to    TIMESTAMPTZ NOT NULL,
    lines        INTEGER NOT NULL,
    imported_by  BIGINT,
    imported_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE channel_differences (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_id          BIGINT NOT NULL REFERENCES channel_bill_imports (id),
    channel            TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('only_channel', 'only_ours', 'amount_differs')),
    trade_status       TEXT NOT NULL CHECK (trade_status IN ('paid', 'refund')),
    out_trade_no       TEXT NOT NULL,
    refund_no          TEXT NOT NULL DEFAULT '',
    channel_trade_no   TEXT NOT NULL DEFAULT '',
    channel_amount     NUMERIC(14, 2),
    our_amount         NUMERIC(14, 2),
    traded_at          TIMESTAMPTZ,
    state              TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    resolution_reason  TEXT NOT NULL DEFAULT '',
    resolved_by        BIGINT,
    resolved_at        TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT channel_differences_key UNIQUE (channel, kind, trade_status, out_trade_no, refund_no),
    CHECK (state = 'open' OR (resolution_reason <> '' AND resolved_by IS NOT NULL))
);
CREATE INDEX channel_differences_open_idx ON channel_differences (created_at) WHERE state = 'open';

-- Customers' requests to refund unconsumed paid credit.
CREATE TABLE refund_requests (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       BIGINT NOT NULL,
    order_no         TEXT NOT NULL DEFAULT '',
    amount           NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    reason           TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'approved', 'rejected', 'done')),
    requested_at     TIMESTAMPTZ NOT NULL,
    decided_by       BIGINT,
    decided_at       TIMESTAMPTZ,
    decision_reason  TEXT NOT NULL DEFAULT '',
    refund_ref       TEXT NOT NULL DEFAULT '',
    done_at          TIMESTAMPTZ,
    CHECK (state = 'requested' OR decided_by IS NOT NULL),
    CHECK (state <> 'rejected' OR decision_reason <> '')
);
CREATE UNIQUE INDEX refund_requests_open_order_key ON refund_requests (account_id, order_no)
    WHERE state IN ('requested', 'approved') AND order_no <> '';
CREATE INDEX refund_requests_open_idx ON refund_requests (requested_at) WHERE state IN ('requested', 'approved');

-- +goose Down
DROP TABLE refund_requests;
DROP TABLE channel_differences;
DROP TABLE channel_bill_imports;
DROP TABLE redemption_failures;
DROP TABLE redemption_codes;
DROP TABLE redemption_batches;
DROP TABLE grant_reason_codes;
DROP TABLE admin_approvals;
DROP TABLE admin_audit_log;
DROP FUNCTION admin_audit_log_refuse();
