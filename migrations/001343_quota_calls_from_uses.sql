-- +goose Up
-- A call paid by plan quota was written twice: its use (plan_quota_uses,
-- settled at commit) and a copy in gateway_free_calls for the usage pages,
-- a row and five index entries per call on the hot path. The usage pages
-- now read both kinds of zero-credit call through gateway_usage_calls: the
-- free models' calls from gateway_free_calls, the quota-paid ones from
-- their committed uses. A use's id is shown offset by 2^62 so that the two
-- id spaces never meet in a page's (occurred_at, id) cursor, whose 0 and
-- negative values keep their meanings (the newest; none left).
CREATE INDEX plan_quota_uses_pool_committed ON plan_quota_uses (pool_id, closed_at DESC, id)
    WHERE state = 'committed';

CREATE VIEW gateway_usage_calls AS
SELECT id, account_id, pool_id, idempotency_key, model, session_id, rate_card_version, state, input_tokens,
       output_tokens, cache_hit_tokens, requests, outcome, occurred_at, paid_by
FROM gateway_free_calls
WHERE paid_by = 'free'
UNION ALL
SELECT u.id + 4611686018427387904, u.account_id, u.pool_id, 'quota:' || u.id, u.model, ''::text, u.rate_card_version, u.state,
       u.input_tokens, u.output_tokens, u.cache_hit_tokens, u.requests, u.outcome, u.closed_at, 'quota'::text
FROM plan_quota_uses u
WHERE u.state = 'committed';

-- the copies (every one has its committed use)
DELETE FROM gateway_free_calls WHERE paid_by = 'quota';

-- +goose Down
INSERT INTO gateway_free_calls (account_id, pool_id, idempotency_key, request_hash, model, session_id,
                                rate_card_version, state, input_tokens, output_tokens, cache_hit_tokens,
                                requests, outcome, occurred_at, paid_by)
SELECT u.account_id, u.pool_id, 'quota:' || u.id, 'quota', u.model, '', u.rate_card_version, 'committed',
       u.input_tokens, u.output_tokens, u.cache_hit_tokens, u.requests, u.outcome, u.closed_at, 'quota'
FROM plan_quota_uses u WHERE u.state = 'committed'
ON CONFLICT (account_id, idempotency_key) DO NOTHING;
DROP VIEW gateway_usage_calls;
DROP INDEX plan_quota_uses_pool_committed;
