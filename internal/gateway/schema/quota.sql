-- gateway_quota_commit commits a call that plan quota paid, in one
-- statement of the ledger writer's batch (internal/gateway/quota.go is the
-- only caller): it settles the quota use (plan_quota_settle with p.settle)
-- — the committed use is what the usage pages show of the call
-- (gateway_usage_calls, migration 001343) — and answers the settle's
-- result with {"with": {"available"}}: what the account may spend now.
-- p.with: {account_id, now}.
CREATE OR REPLACE FUNCTION gateway_quota_commit(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_r jsonb := plan_quota_settle(p->'settle');
    u jsonb := p->'with';
    v_now timestamptz := (u->>'now')::timestamptz;
BEGIN
    IF v_r ? 'error' THEN
        RETURN v_r;
    END IF;
    RETURN v_r || jsonb_build_object('with', jsonb_build_object(
        'available', ledger_available((u->>'account_id')::bigint, v_now)));
END $$;

INSERT INTO ledger_extensions (fn) VALUES ('gateway_quota_commit') ON CONFLICT DO NOTHING;
SELECT ledger_extensions_compile();
