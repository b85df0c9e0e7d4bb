-- gateway_quota_commit commits a call that plan quota paid, in one
-- statement of the ledger writer's batch (internal/gateway/quota.go is the
-- only caller): it settles the quota use (plan_quota_settle with p.settle),
-- records the call for the usage pages with the free models' calls, once
-- per use however often the commit is repeated, and answers the settle's
-- result with {"with": {"available"}}: what the account may spend now.
-- p.with: {account_id, pool_id, key, model, rate_card_version,
-- input_tokens, output_tokens, cache_hit_tokens, requests, outcome, now}.
CREATE OR REPLACE FUNCTION gateway_quota_commit(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_r jsonb := plan_quota_settle(p->'settle');
    u jsonb := p->'with';
    v_now timestamptz := (u->>'now')::timestamptz;
BEGIN
    IF v_r ? 'error' THEN
        RETURN v_r;
    END IF;
    INSERT INTO gateway_free_calls (account_id, pool_id, idempotency_key, request_hash, model, session_id,
                                    rate_card_version, state, input_tokens, output_tokens, cache_hit_tokens,
                                    requests, outcome, occurred_at, paid_by)
    VALUES ((u->>'account_id')::bigint, (u->>'pool_id')::bigint, u->>'key', 'quota', u->>'model', '',
            (u->>'rate_card_version')::int, 'committed', (u->>'input_tokens')::bigint, (u->>'output_tokens')::bigint,
            (u->>'cache_hit_tokens')::bigint, (u->>'requests')::bigint, coalesce(u->>'outcome', ''), v_now, 'quota')
    ON CONFLICT (account_id, idempotency_key) DO NOTHING;
    RETURN v_r || jsonb_build_object('with', jsonb_build_object(
        'available', ledger_available((u->>'account_id')::bigint, v_now)));
END $$;

INSERT INTO ledger_extensions (fn) VALUES ('gateway_quota_commit') ON CONFLICT DO NOTHING;
SELECT ledger_extensions_compile();
