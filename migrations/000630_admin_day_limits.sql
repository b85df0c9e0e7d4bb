-- +goose Up
-- Cumulative maker-checker limits: what each staff member and each customer
-- account received today (an Asia/Shanghai calendar day) by support grants
-- and manual recharges without a second person, plus what approvals applied
-- that day. See internal/backoffice/limits.go.

-- One counter row per (action, staff member or account, day). A grant or
-- recharge locks its two rows (staff first, then account) in the
-- transaction that applies it, so concurrent requests see each other's
-- totals. amount is in the approval's unit: credits for support_grant,
-- yuan for manual_recharge.
CREATE TABLE admin_limit_days (
    action      TEXT NOT NULL CHECK (action IN ('support_grant', 'manual_recharge')),
    scope       TEXT NOT NULL CHECK (scope IN ('staff', 'account')),
    subject_id  BIGINT NOT NULL,
    day         DATE NOT NULL,
    used        NUMERIC(24, 6) NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (action, scope, subject_id, day)
);

-- What the counters add up: one append-only row per amount counted, either
-- applied directly ('direct', keyed by the request) or by an approval
-- ('approval', keyed by the approval). A direct row of a split grant names
-- the approval that holds the part over the limit. The unique key makes a
-- repeated request find its first result instead of counting twice.
CREATE TABLE admin_limit_uses (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action       TEXT NOT NULL CHECK (action IN ('support_grant', 'manual_recharge')),
    via          TEXT NOT NULL CHECK (via IN ('direct', 'approval')),
    request_key  TEXT NOT NULL CHECK (request_key <> ''),
    staff_id     BIGINT NOT NULL,
    account_id   BIGINT NOT NULL,
    day          DATE NOT NULL,
    amount       NUMERIC(24, 6) NOT NULL CHECK (amount > 0),
    lot_id       BIGINT NOT NULL,
    approval_id  BIGINT REFERENCES admin_approvals (id),
    at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT admin_limit_uses_request_key UNIQUE (action, request_key)
);
CREATE INDEX admin_limit_uses_staff_idx ON admin_limit_uses (staff_id, day);
CREATE INDEX admin_limit_uses_account_idx ON admin_limit_uses (account_id, day);

-- +goose StatementBegin
CREATE FUNCTION admin_limit_uses_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_limit_uses is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER admin_limit_uses_no_update BEFORE UPDATE OR DELETE ON admin_limit_uses
    FOR EACH ROW EXECUTE FUNCTION admin_limit_uses_refuse();
CREATE TRIGGER admin_limit_uses_no_truncate BEFORE TRUNCATE ON admin_limit_uses
    FOR EACH STATEMENT EXECUTE FUNCTION admin_limit_uses_refuse();

-- +goose Down
DROP TABLE admin_limit_uses;
DROP FUNCTION admin_limit_uses_refuse();
DROP TABLE admin_limit_days;
