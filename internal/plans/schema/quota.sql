-- Plan quota: holding, settling and releasing quota for a call, each one
-- statement (one round trip) that locks the subscription row first, so that
-- every hold, settle and release of one subscription is serialised and a
-- quota is never passed however many calls race (internal/plans/quota.go is
-- the only caller; doc.go describes the design).
--
-- A window in p->'windows' is {"unit","kind","hours","limit","start","end"}:
-- the caller computed its bounds (plans.Window.Bounds) at the hold's instant.

-- Retired signature: plan_quota_count without the use's instant.
DROP FUNCTION IF EXISTS plan_quota_count(bigint, text, jsonb, bigint, bigint);

-- plan_quota_used is what the window w of (subscription, item) has used:
-- a rolling window sums the uses after its start, a calendar or period
-- window reads its counter. It only reads (the portal's bars); holds and
-- settles use plan_quota_live, which keeps rolling windows' running counts.
CREATE OR REPLACE FUNCTION plan_quota_used(p_sub bigint, p_item text, w jsonb) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_used bigint;
BEGIN
    IF w->>'kind' = 'rolling' THEN
        IF w->>'unit' = 'requests' THEN
            SELECT coalesce(sum(requests), 0) INTO v_used FROM plan_quota_uses
            WHERE subscription_id = p_sub AND item = p_item AND at > (w->>'start')::timestamptz AND state IN ('held', 'committed');
        ELSE
            SELECT coalesce(sum(tokens), 0) INTO v_used FROM plan_quota_uses
            WHERE subscription_id = p_sub AND item = p_item AND at > (w->>'start')::timestamptz AND state IN ('held', 'committed');
        END IF;
        RETURN v_used;
    END IF;
    SELECT used INTO v_used FROM plan_quota_counters
    WHERE subscription_id = p_sub AND item = p_item AND unit = w->>'unit' AND window_kind = w->>'kind'
      AND window_start = (w->>'start')::timestamptz;
    RETURN coalesce(v_used, 0);
END $$;

-- plan_quota_live is plan_quota_used for a writer holding the
-- subscription's lock: a rolling window reads its running count
-- (plan_quota_rolling, 001037), moving its cut up to the window's start
-- and taking out the uses that left the window since; the count starts
-- from the full sum. Equal to plan_quota_used (TestRollingCountsMatchTheSum).
CREATE OR REPLACE FUNCTION plan_quota_live(p_sub bigint, p_item text, w jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_start timestamptz := (w->>'start')::timestamptz;
    v_unit text := w->>'unit';
    v_hours int := (w->>'hours')::int;
    v_cut timestamptz;
    v_used bigint;
    v_left bigint;
BEGIN
    IF w->>'kind' <> 'rolling' THEN
        RETURN plan_quota_used(p_sub, p_item, w);
    END IF;
    SELECT cut, used INTO v_cut, v_used FROM plan_quota_rolling
    WHERE subscription_id = p_sub AND item = p_item AND unit = v_unit AND hours = v_hours;
    IF NOT FOUND THEN
        v_used := plan_quota_used(p_sub, p_item, w);
        INSERT INTO plan_quota_rolling (subscription_id, item, unit, hours, cut, used)
        VALUES (p_sub, p_item, v_unit, v_hours, v_start, v_used);
        RETURN v_used;
    ELSIF v_start = v_cut THEN
        RETURN v_used;
    ELSIF v_start < v_cut THEN
        -- a caller whose clock is behind the last one's: count it afresh
        RETURN plan_quota_used(p_sub, p_item, w);
    END IF;
    SELECT coalesce(sum(CASE WHEN v_unit = 'requests' THEN requests ELSE tokens END), 0) INTO v_left FROM plan_quota_uses
    WHERE subscription_id = p_sub AND item = p_item AND at > v_cut AND at <= v_start AND state IN ('held', 'committed');
    UPDATE plan_quota_rolling SET cut = v_start, used = used - v_left
    WHERE subscription_id = p_sub AND item = p_item AND unit = v_unit AND hours = v_hours
    RETURNING used INTO v_used;
    RETURN v_used;
END $$;

-- plan_quota_count moves the counters of the windows in p_windows by
-- p_requests and p_tokens for a use made at p_at: a calendar or period
-- window's counter, and a rolling window's running count while the use is
-- still in it (after its cut).
CREATE OR REPLACE FUNCTION plan_quota_count(p_sub bigint, p_item text, p_windows jsonb, p_requests bigint, p_tokens bigint,
                                            p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    w jsonb;
    v_n bigint;
BEGIN
    FOR w IN SELECT * FROM jsonb_array_elements(p_windows) LOOP
        v_n := CASE WHEN w->>'unit' = 'requests' THEN p_requests ELSE p_tokens END;
        CONTINUE WHEN v_n = 0;
        IF w->>'kind' = 'rolling' THEN
            UPDATE plan_quota_rolling SET used = greatest(used + v_n, 0)
            WHERE subscription_id = p_sub AND item = p_item AND unit = w->>'unit' AND hours = (w->>'hours')::int
              AND cut < p_at;
            CONTINUE;
        END IF;
        -- the window's row exists after its first use: update it, and
        -- insert only when missing (a speculative insert that conflicts
        -- costs more than a missed update)
        UPDATE plan_quota_counters SET used = greatest(used + v_n, 0)
        WHERE subscription_id = p_sub AND item = p_item AND unit = w->>'unit' AND window_kind = w->>'kind'
          AND window_start = (w->>'start')::timestamptz;
        CONTINUE WHEN FOUND;
        INSERT INTO plan_quota_counters (subscription_id, item, unit, window_kind, window_start, used)
        VALUES (p_sub, p_item, w->>'unit', w->>'kind', (w->>'start')::timestamptz, greatest(v_n, 0))
        ON CONFLICT (subscription_id, item, unit, window_kind, window_start)
        DO UPDATE SET used = greatest(plan_quota_counters.used + v_n, 0);
    END LOOP;
END $$;

-- plan_quota_free_at is when window w (exhausted for p_need more) can take
-- it: a calendar or period window's end; for a rolling window, the instant
-- the oldest uses have left it (plans.Window.FreeAt states the same rule).
CREATE OR REPLACE FUNCTION plan_quota_free_at(p_sub bigint, p_item text, w jsonb, p_used bigint, p_need bigint)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_left bigint := p_used;
    u record;
BEGIN
    IF w->>'kind' <> 'rolling' THEN
        RETURN (w->>'end')::timestamptz;
    END IF;
    FOR u IN SELECT at, CASE WHEN w->>'unit' = 'requests' THEN requests ELSE tokens END AS n FROM plan_quota_uses
             WHERE subscription_id = p_sub AND item = p_item AND at > (w->>'start')::timestamptz AND state IN ('held', 'committed')
             ORDER BY at, id LOOP
        v_left := v_left - u.n;
        IF v_left + p_need <= (w->>'limit')::bigint THEN
            RETURN u.at + make_interval(hours => (w->>'hours')::int);
        END IF;
    END LOOP;
    RETURN (w->>'end')::timestamptz;
END $$;

-- plan_quota_hold holds quota for one call: p {subscription_id, plan_code,
-- plan_version, anchor, cycle, pool_id, account_id, item, model, key, hash,
-- session_id, rate_card_version, requests, tokens, now, expires_at,
-- windows, fallback, replay_only}. Answers:
--   {"stale": true}: the subscription is not the one the caller read (or no
--     longer in force); the caller reads it again.
--   {"exhausted": true, "free_at", "window", "used", "notify"}: a window
--     has no room (free_at null: the call can never fit that window).
--   {"use_id", "expires_at", "replayed"?}: held.
--   {"declined": true}: this key's call went to credits (p.fallback was set
--     when it found the quota exhausted); {"none": true}: p.replay_only and
--     the key is new.
--   {"error": "idempotency_conflict" | "account_frozen"}.
CREATE OR REPLACE FUNCTION plan_quota_hold(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_sub subscriptions;
    v_use plan_quota_uses;
    v_now timestamptz := (p->>'now')::timestamptz;
    v_item text := p->>'item';
    v_requests bigint := (p->>'requests')::bigint;
    v_tokens bigint := (p->>'tokens')::bigint;
    v_need bigint;
    v_used bigint;
    v_limit bigint;
    v_free timestamptz;
    v_worst jsonb;
    v_worst_free timestamptz;
    v_worst_used bigint;
    v_never boolean := false;
    v_notify boolean;
    v_id bigint;
    w jsonb;
BEGIN
    SELECT * INTO v_sub FROM subscriptions WHERE id = (p->>'subscription_id')::bigint FOR NO KEY UPDATE;
    IF v_sub.id IS NULL OR v_sub.account_id <> (p->>'pool_id')::bigint
       OR v_sub.plan_code <> p->>'plan_code' OR v_sub.plan_version <> (p->>'plan_version')::int
       OR v_sub.anchor <> (p->>'anchor')::timestamptz OR v_sub.cycle <> p->>'cycle'
       OR v_sub.state = 'expired' OR v_now < v_sub.anchor
       OR (v_sub.state = 'past_due' AND v_now >= coalesce(v_sub.grace_until, v_sub.term_end))
       OR (v_sub.state <> 'past_due' AND v_now >= v_sub.term_end) THEN
        RETURN '{"stale": true}';
    END IF;
    -- a replay is read under the subscription's lock: two calls with one
    -- key are one call
    SELECT * INTO v_use FROM plan_quota_uses
    WHERE account_id = (p->>'account_id')::bigint AND idempotency_key = p->>'key';
    IF FOUND THEN
        IF v_use.request_hash <> p->>'hash' THEN
            RETURN '{"error": "idempotency_conflict"}';
        ELSIF v_use.state = 'declined' THEN
            RETURN '{"declined": true, "replayed": true}';
        END IF;
        RETURN jsonb_build_object('use_id', v_use.id, 'expires_at', v_use.expires_at, 'state', v_use.state,
                                  'replayed', true);
    END IF;
    IF (p->>'replay_only')::boolean THEN
        RETURN '{"none": true}';
    END IF;
    IF EXISTS (SELECT 1 FROM ledger_account_view WHERE id IN ((p->>'account_id')::bigint, (p->>'pool_id')::bigint)
               AND status = 'frozen') THEN
        RETURN '{"error": "account_frozen"}';
    END IF;
    FOR w IN SELECT * FROM jsonb_array_elements(p->'windows') LOOP
        v_limit := (w->>'limit')::bigint;
        CONTINUE WHEN v_limit = -1;
        v_need := CASE WHEN w->>'unit' = 'requests' THEN v_requests ELSE v_tokens END;
        v_used := plan_quota_live(v_sub.id, v_item, w);
        IF v_used + v_need > v_limit THEN
            IF v_need > v_limit THEN
                v_free := NULL;
                v_never := true;
            ELSE
                v_free := plan_quota_free_at(v_sub.id, v_item, w, v_used, v_need);
            END IF;
            IF v_worst IS NULL OR (NOT v_never AND v_free > v_worst_free) OR (v_never AND v_free IS NULL) THEN
                v_worst := w;
                v_worst_free := v_free;
                v_worst_used := v_used;
            END IF;
        END IF;
    END LOOP;
    IF v_worst IS NOT NULL THEN
        INSERT INTO plan_quota_exhaustions (subscription_id, item, unit, window_kind, window_hours, window_start, free_at, at)
        VALUES (v_sub.id, v_item, v_worst->>'unit', v_worst->>'kind', coalesce((v_worst->>'hours')::int, 0),
                CASE WHEN v_worst->>'kind' = 'rolling' THEN coalesce(v_worst_free, v_now) ELSE (v_worst->>'start')::timestamptz END,
                v_worst_free, v_now)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_notify = ROW_COUNT;
        IF (p->>'fallback')::boolean THEN
            -- the call goes to credits: remember it, so that a retry with
            -- this key goes there too rather than holding quota freed since
            INSERT INTO plan_quota_uses (subscription_id, pool_id, account_id, item, model, idempotency_key, request_hash,
                                         session_id, rate_card_version, requests, tokens, windows, state, at, expires_at)
            VALUES (v_sub.id, v_sub.account_id, (p->>'account_id')::bigint, v_item, p->>'model', p->>'key', p->>'hash',
                    coalesce(p->>'session_id', ''), (p->>'rate_card_version')::int, 0, 0, '[]', 'declined', v_now, v_now);
        END IF;
        RETURN jsonb_build_object('exhausted', true, 'free_at', v_worst_free, 'window', v_worst, 'used', v_worst_used,
                                  'notify', v_notify);
    END IF;
    INSERT INTO plan_quota_uses (subscription_id, pool_id, account_id, item, model, idempotency_key, request_hash,
                                 session_id, rate_card_version, requests, tokens, windows, state, at, expires_at)
    VALUES (v_sub.id, v_sub.account_id, (p->>'account_id')::bigint, v_item, p->>'model', p->>'key', p->>'hash',
            coalesce(p->>'session_id', ''), (p->>'rate_card_version')::int, v_requests, v_tokens, p->'windows',
            'held', v_now, (p->>'expires_at')::timestamptz)
    RETURNING id INTO v_id;
    PERFORM plan_quota_count(v_sub.id, v_item, p->'windows', v_requests, v_tokens, v_now);
    RETURN jsonb_build_object('use_id', v_id, 'expires_at', (p->>'expires_at')::timestamptz);
END $$;

-- plan_quota_settle commits a held use with what the call used: p {use_id,
-- account_id, requests, tokens, input_tokens, output_tokens,
-- cache_hit_tokens, outcome, hash, now}. Less than the hold gives the rest
-- back; more takes what the windows still have room for, and the remainder
-- is excess_tokens (the caller charges it as credits). A repeat with the
-- same hash answers the first settle. Answers {"use_id", "item",
-- "requests", "tokens", "excess_tokens"} or {"error": "not_found" |
-- "reservation_closed" | "idempotency_conflict"}.
CREATE OR REPLACE FUNCTION plan_quota_settle(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_use plan_quota_uses;
    v_sub bigint;
    v_requests bigint := (p->>'requests')::bigint;
    v_tokens bigint := (p->>'tokens')::bigint;
    v_room bigint;
    v_extra bigint;
    v_excess bigint := 0;
    v_r jsonb;
    w jsonb;
    rolling jsonb;
BEGIN
    SELECT subscription_id INTO v_sub FROM plan_quota_uses
    WHERE id = (p->>'use_id')::bigint AND account_id = (p->>'account_id')::bigint;
    IF v_sub IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    PERFORM 1 FROM subscriptions WHERE id = v_sub FOR NO KEY UPDATE;
    SELECT * INTO v_use FROM plan_quota_uses WHERE id = (p->>'use_id')::bigint;
    IF v_use.state = 'declined' THEN
        RETURN '{"error": "not_found"}';
    ELSIF v_use.state = 'committed' THEN
        IF v_use.close_hash = p->>'hash' THEN
            RETURN v_use.close_result || '{"replayed": true}';
        END IF;
        RETURN '{"error": "idempotency_conflict"}';
    ELSIF v_use.state = 'released' THEN
        RETURN '{"error": "reservation_closed"}';
    END IF;
    v_extra := v_tokens - v_use.tokens;
    IF v_extra > 0 THEN
        -- room left in every tokens window, the rolling ones as they stand now
        FOR w IN SELECT * FROM jsonb_array_elements(v_use.windows) LOOP
            CONTINUE WHEN w->>'unit' <> 'tokens' OR (w->>'limit')::bigint = -1;
            rolling := w;
            IF w->>'kind' = 'rolling' THEN
                rolling := w || jsonb_build_object('start', (p->>'now')::timestamptz - make_interval(hours => (w->>'hours')::int));
            END IF;
            v_room := greatest((w->>'limit')::bigint - plan_quota_live(v_sub, v_use.item, rolling), 0);
            IF v_room < v_extra THEN
                v_excess := v_excess + (v_extra - v_room);
                v_extra := v_room;
            END IF;
        END LOOP;
        v_tokens := v_use.tokens + v_extra;
    END IF;
    PERFORM plan_quota_count(v_sub, v_use.item, v_use.windows, v_requests - v_use.requests, v_tokens - v_use.tokens, v_use.at);
    v_r := jsonb_build_object('use_id', v_use.id, 'item', v_use.item, 'requests', v_requests, 'tokens', v_tokens,
                              'excess_tokens', v_excess);
    UPDATE plan_quota_uses SET state = 'committed', requests = v_requests, tokens = v_tokens, excess_tokens = v_excess,
        input_tokens = (p->>'input_tokens')::bigint, output_tokens = (p->>'output_tokens')::bigint,
        cache_hit_tokens = (p->>'cache_hit_tokens')::bigint, outcome = coalesce(p->>'outcome', ''),
        closed_at = (p->>'now')::timestamptz, close_hash = p->>'hash', close_result = v_r
    WHERE id = v_use.id;
    RETURN v_r;
END $$;

-- plan_quota_release gives a held use's quota back: p {use_id, account_id,
-- now}. Releasing twice answers the first release; a committed use is
-- closed.
CREATE OR REPLACE FUNCTION plan_quota_release(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_use plan_quota_uses;
    v_sub bigint;
BEGIN
    SELECT subscription_id INTO v_sub FROM plan_quota_uses
    WHERE id = (p->>'use_id')::bigint AND account_id = (p->>'account_id')::bigint;
    IF v_sub IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    PERFORM 1 FROM subscriptions WHERE id = v_sub FOR NO KEY UPDATE;
    SELECT * INTO v_use FROM plan_quota_uses WHERE id = (p->>'use_id')::bigint;
    IF v_use.state = 'declined' THEN
        RETURN '{"error": "not_found"}';
    ELSIF v_use.state = 'committed' THEN
        RETURN '{"error": "reservation_closed"}';
    ELSIF v_use.state = 'released' THEN
        RETURN jsonb_build_object('use_id', v_use.id, 'item', v_use.item, 'requests', v_use.requests,
                                  'tokens', v_use.tokens, 'replayed', true);
    END IF;
    PERFORM plan_quota_count(v_sub, v_use.item, v_use.windows, -v_use.requests, -v_use.tokens, v_use.at);
    UPDATE plan_quota_uses SET state = 'released', closed_at = (p->>'now')::timestamptz WHERE id = v_use.id;
    RETURN jsonb_build_object('use_id', v_use.id, 'item', v_use.item, 'requests', v_use.requests, 'tokens', v_use.tokens);
END $$;

-- plan_quota_sweep releases up to p_batch held uses past their expiry (a
-- call whose caller never committed nor released it) and returns how many.
CREATE OR REPLACE FUNCTION plan_quota_sweep(p_now timestamptz, p_batch int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    u record;
    v_n int := 0;
    v_r jsonb;
BEGIN
    FOR u IN SELECT id, account_id FROM plan_quota_uses WHERE state = 'held' AND expires_at <= p_now
             ORDER BY expires_at LIMIT p_batch LOOP
        v_r := plan_quota_release(jsonb_build_object('use_id', u.id, 'account_id', u.account_id, 'now', p_now));
        IF NOT v_r ? 'error' AND NOT v_r ? 'replayed' THEN
            v_n := v_n + 1;
        END IF;
    END LOOP;
    RETURN v_n;
END $$;

-- The ledger's writers run holds, settles and releases in their batches
-- (plans.QuotaOptions.Writer; ledger Apply and 001036).
INSERT INTO ledger_extensions (fn) VALUES ('plan_quota_hold'), ('plan_quota_settle'), ('plan_quota_release')
ON CONFLICT DO NOTHING;
SELECT ledger_extensions_compile();
