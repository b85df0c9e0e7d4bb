-- +goose Up
-- The trial cap, held by the ledger: an account that has not passed
-- real-name verification is in trial while trial_cap is set. It may then
-- spend granted credit only (promo, plan, grace), and trial_used (what it
-- was charged in trial plus what its open reservations hold) may not pass
-- trial_cap. The ledger's functions check and count both under the pool's
-- row lock, in the transaction of the hold or charge (see
-- internal/ledger/schema/functions.sql); verification clears trial_cap.
-- This replaces the gateway's check-then-act gate and its count
-- (gateway_trial_usage).
ALTER TABLE ledger_accounts
    ADD COLUMN trial_cap ledger_nonneg,
    ADD COLUMN trial_used ledger_nonneg NOT NULL DEFAULT 0;

-- A database that already has accounts (this migration lands after 0003xx
-- and 0007xx were applied): every account with no verification enters
-- trial at TRIAL_CREDIT_CAP's default (10000 credits; a migration cannot
-- read the setting), counting what the gateway counted and what its open
-- reservations hold. A new database has no accounts and no such tables yet.
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('verifications') IS NULL OR to_regclass('gateway_verifications') IS NULL THEN
        RETURN;
    END IF;
    UPDATE ledger_accounts a SET trial_cap = 10000,
        trial_used = coalesce((SELECT sum(r.amount) FROM ledger_reservations r
                               WHERE r.pool_id = a.pool_id AND r.account_id = a.id AND r.status = 'open'), 0)
    WHERE NOT EXISTS (SELECT 1 FROM verifications v WHERE v.account_id = a.id AND v.state = 'verified')
      AND NOT EXISTS (SELECT 1 FROM gateway_verifications g WHERE g.account_id = a.id);
    IF to_regclass('gateway_trial_usage') IS NOT NULL THEN
        UPDATE ledger_accounts a SET trial_used = a.trial_used + u.charged
        FROM gateway_trial_usage u WHERE u.account_id = a.id AND a.trial_cap IS NOT NULL;
        DROP TABLE gateway_trial_usage;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE ledger_accounts DROP COLUMN trial_used, DROP COLUMN trial_cap;
