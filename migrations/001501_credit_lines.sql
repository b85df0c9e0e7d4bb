-- +goose Up
-- Postpaid credit lines (授信 / 月结) and their bills (账单); see
-- internal/creditline and README "Credit lines and bills".

-- A pool has at most one credit lot: the line is one bucket whose
-- remaining is the unused line.
CREATE UNIQUE INDEX ledger_lots_one_credit_idx ON ledger_lots (pool_id) WHERE kind = 'credit';

-- The line of an enterprise as finance set it. line_fen is the line in
-- RMB; the credit lot holds it in credits at the credit price of the day
-- it was set (credits). billed_through is where the next bill's period
-- starts: every consumption of the credit lot before it is on a bill.
-- froze records that an overdue bill froze the account, so that paying it
-- unfreezes only what the line froze.
CREATE TABLE credit_lines (
    account_id     bigint PRIMARY KEY,
    lot_id         bigint NOT NULL,
    line_fen       bigint NOT NULL CHECK (line_fen > 0),
    credits        numeric(24, 6) NOT NULL CHECK (credits > 0),
    billing_day    smallint NOT NULL CHECK (billing_day BETWEEN 1 AND 28),
    terms_days     smallint NOT NULL CHECK (terms_days BETWEEN 0 AND 90),
    grace_days     smallint NOT NULL CHECK (grace_days BETWEEN 0 AND 90),
    billed_through timestamptz NOT NULL,
    froze          boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    updated_by     text NOT NULL
);

-- Every grant or change of a line, append-only (who, why, which approval).
CREATE TABLE credit_line_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL,
    line_fen    bigint NOT NULL,
    credits     numeric(24, 6) NOT NULL,
    billing_day smallint NOT NULL,
    terms_days  smallint NOT NULL,
    grace_days  smallint NOT NULL,
    actor       text NOT NULL,
    reason      text NOT NULL,
    approval_id bigint,
    op_id       bigint NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX credit_line_changes_account_idx ON credit_line_changes (account_id, id);
CREATE TRIGGER credit_line_changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON credit_line_changes
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('record a new change of the line instead');

-- A bill: the consumption of the credit lot in [period_start, period_end)
-- (ledger time), in credits and in fen at the line's credit price. Due at
-- due_at; overdue after it; frozen after grace_until. One bill per line
-- and period end, so a second run of the billing job finds it.
CREATE TABLE credit_bills (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     bigint NOT NULL,
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL,
    credits        numeric(24, 6) NOT NULL CHECK (credits > 0),
    amount_fen     bigint NOT NULL CHECK (amount_fen >= 0),
    issued_at      timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    grace_until    timestamptz NOT NULL,
    status         text NOT NULL CHECK (status IN ('open', 'overdue', 'frozen', 'paid')),
    reference_code text NOT NULL,
    paid_at        timestamptz,
    paid_via       text NOT NULL DEFAULT '' CHECK (paid_via IN ('', 'transfer', 'qr', 'manual')),
    paid_ref       text NOT NULL DEFAULT '',
    paid_by        text NOT NULL DEFAULT '',
    restore_op     bigint,
    CONSTRAINT credit_bills_period_key UNIQUE (account_id, period_end),
    CONSTRAINT credit_bills_reference_key UNIQUE (reference_code),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
CREATE INDEX credit_bills_unpaid_idx ON credit_bills (due_at) WHERE status <> 'paid';

-- Each reminder or state notice of a bill goes out once: its row is
-- inserted with the mail and webhook jobs, in one transaction.
CREATE TABLE credit_bill_notices (
    bill_id bigint NOT NULL REFERENCES credit_bills (id),
    kind    text NOT NULL CHECK (kind IN ('issued', 'due_soon', 'overdue', 'frozen', 'paid')),
    sent_at timestamptz NOT NULL,
    PRIMARY KEY (bill_id, kind)
);

-- Finance grants a line above limits.credit_line through a second person.
ALTER TABLE admin_approvals DROP CONSTRAINT admin_approvals_action_check;
ALTER TABLE admin_approvals ADD CONSTRAINT admin_approvals_action_check
    CHECK (action IN ('support_grant', 'manual_recharge', 'plan_grant', 'rate_card', 'credit_line'));

-- +goose Down
ALTER TABLE admin_approvals DROP CONSTRAINT admin_approvals_action_check;
ALTER TABLE admin_approvals ADD CONSTRAINT admin_approvals_action_check
    CHECK (action IN ('support_grant', 'manual_recharge', 'plan_grant', 'rate_card'));
DROP TABLE credit_bill_notices;
DROP TABLE credit_bills;
DROP TABLE credit_line_changes;
DROP TABLE credit_lines;
DROP INDEX ledger_lots_one_credit_idx;
