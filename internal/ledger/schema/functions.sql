-- The ledger's PL/pgSQL functions: the one live definition of each.
--
-- This file is applied as a whole, in one transaction, after the numbered
-- migrations every time `credits migrate` runs, and when the test template
-- is built (internal/platform/db.Migrate, through migrations.Repeatables;
-- dbtest names its template by a hash that includes this file). The
-- numbered migrations (000200 onwards) keep the tables, types, domains,
-- sequences and triggers; the two trigger functions, ledger_events_refuse
-- (000200) and ledger_accounts_kind_check (000203), stay there with their
-- triggers.
--
-- Editing:
--   * change a function here and nowhere else; every statement is
--     CREATE OR REPLACE, so running the file again changes nothing;
--   * CREATE OR REPLACE cannot change a function's argument types or
--     return type: add the old signature to the DROP FUNCTION IF EXISTS
--     list below (it runs in the same transaction as the new definition)
--     and define the new one; a new return type under the same arguments
--     needs its DROP in a numbered migration instead;
--   * a column or type a function needs comes from a numbered migration,
--     which runs before this file;
--   * a function no longer used is dropped below (IF EXISTS), for the
--     databases that still have it.
--
-- Each operation takes its request as one jsonb document and returns its
-- result as jsonb ({"error": code} for a refusal), so one operation is one
-- round trip and many operations pipeline into one call (ledger_apply).
-- Every operation first locks the pool's account row: that lock
-- serialises all writes to one pool's lots, balance and keys. The Go
-- package internal/ledger is the only caller; its doc.go describes the
-- design.

-- Retired: ledger_charge_t (one charge on the running state) gave way to
-- ledger_charge_run (a run of charges, its rows written at once).
DROP FUNCTION IF EXISTS ledger_charge_t(jsonb, ledger_accounts);
-- Retired: ledger_flush (000202) wrote a batch's running state back; the
-- batch functions now do it inline.
DROP FUNCTION IF EXISTS ledger_flush(ledger_accounts);
-- Retired: ledger_retired_key (the archive probe, LANGUAGE sql, planned in
-- every transaction) is now part of the key read of ledger_replay and
-- ledger_reserve_t.
DROP FUNCTION IF EXISTS ledger_retired_key(bigint, bigint, text);
-- Retired signatures: ledger_take and ledger_spend_more without the
-- granted-only flag of the trial rules.
DROP FUNCTION IF EXISTS ledger_take(bigint, numeric, timestamptz);
DROP FUNCTION IF EXISTS ledger_spend_more(bigint, bigint, numeric, numeric, numeric, bigint, bigint, jsonb, timestamptz);
-- ledger_spend_order's result gained the lot kind (a reservation's holds
-- name it, so that an answer can say what plan credit paid), then its
-- expiry (ledger_charge_run walks a run's lots in memory); a result type
-- cannot be replaced in place.
DROP FUNCTION IF EXISTS ledger_spend_order(bigint, timestamptz, boolean);
-- The budget helpers counted in rows of ledger_budgets before the counters
-- moved to the pool's row (migration 001101).
DROP FUNCTION IF EXISTS ledger_budget_hold(bigint, bigint, text, text, numeric, timestamptz);
DROP FUNCTION IF EXISTS ledger_budget_settle(bigint, bigint[], timestamptz[], numeric, timestamptz);
-- ledger_budget_hold gained p_force (shadow mode counts a refused hold).
DROP FUNCTION IF EXISTS ledger_budget_hold(ledger_accounts, bigint, text, text, numeric, timestamptz);
-- ledger_budget_hold gained pool_ends and pool_limits (its fast path); a
-- result type cannot be replaced in place.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'ledger_budget_hold' AND NOT 'pool_limits' = ANY (proargnames)) THEN
        DROP FUNCTION ledger_budget_hold(ledger_accounts, bigint, text, text, numeric, timestamptz, boolean);
    END IF;
END $$;

-- ledger_lock locks the pool of p_account and returns the account row read
-- after the lock (NULL id when the account does not exist).
CREATE OR REPLACE FUNCTION ledger_lock(p_account bigint) RETURNS ledger_accounts LANGUAGE plpgsql AS $$
DECLARE
    v_pool bigint;
    r ledger_accounts;
BEGIN
    -- an account that is its own pool (the usual case): one locking read
    SELECT * INTO r FROM ledger_accounts WHERE id = p_account AND pool_id = p_account FOR UPDATE;
    IF FOUND THEN
        RETURN r;
    END IF;
    SELECT pool_id INTO v_pool FROM ledger_accounts WHERE id = p_account;
    IF NOT FOUND THEN
        RETURN r;
    END IF;
    PERFORM 1 FROM ledger_accounts WHERE id = v_pool FOR UPDATE;
    SELECT * INTO r FROM ledger_accounts WHERE id = p_account;
    RETURN r;
END $$;

-- ledger_spendable is the sum of the pool's unexpired lots at p_at.
CREATE OR REPLACE FUNCTION ledger_spendable(p_pool bigint, p_at timestamptz) RETURNS numeric LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(remaining), 0) FROM ledger_lots
            WHERE pool_id = p_pool AND remaining > 0 AND (expires_at IS NULL OR expires_at > p_at));
END $$;

-- ledger_available is what p_account may spend at p_at: the pool's
-- spendable credits, capped by a sub-account's allocation. Published: the
-- SQL of other packages' ledger extensions may call it (gateway_quota_commit
-- answers with it), as Go code calls Balance.
CREATE OR REPLACE FUNCTION ledger_available(p_account bigint, p_at timestamptz) RETURNS numeric LANGUAGE plpgsql STABLE AS $$
DECLARE
    a ledger_accounts;
BEGIN
    SELECT * INTO a FROM ledger_accounts WHERE id = p_account;
    IF a.allocation IS NULL THEN
        RETURN ledger_spendable(a.pool_id, p_at);
    END IF;
    RETURN least(a.allocation, ledger_spendable(a.pool_id, p_at));
END $$;

-- ledger_replay returns the stored result of an earlier call with the same
-- idempotency key, a conflict when its arguments differ, or NULL.
-- A key the retention job has moved to the archive (ledger_retire) is a
-- retry from outside the retry window, refused as retry_window_passed
-- rather than applied again. The hot table and the archive are read in one
-- statement (the archive only when the hot table misses: LIMIT 1 stops the
-- UNION ALL at the first row), which PL/pgSQL plans once a session; as a
-- LANGUAGE sql function the archive probe was parsed and planned again in
-- every transaction.
CREATE OR REPLACE FUNCTION ledger_replay(p_pool bigint, p_account bigint, p_op text, p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_key text := coalesce(p->>'key', '');
    v_op text;
    v_hash text;
    v_result jsonb;
BEGIN
    IF v_key = '' THEN
        RETURN NULL;
    END IF;
    SELECT op, args_hash, result INTO v_op, v_hash, v_result FROM ledger_idempotency
    WHERE pool_id = p_pool AND account_id = p_account AND key = v_key
    UNION ALL
    SELECT NULL, NULL, '{"error": "retry_window_passed"}'::jsonb FROM ledger_idempotency_archive
    WHERE pool_id = p_pool AND account_id = p_account AND hashtextextended(key, 0) = hashtextextended(v_key, 0) AND key = v_key
    LIMIT 1;
    IF NOT FOUND OR v_op IS NULL THEN
        RETURN v_result; -- a key never used, or an archived one
    END IF;
    IF v_op = p_op AND v_hash = coalesce(p->>'hash', '') THEN
        RETURN v_result || '{"replayed": true}';
    END IF;
    RETURN '{"error": "idempotency_conflict"}';
END $$;

CREATE OR REPLACE FUNCTION ledger_remember(p_pool bigint, p_account bigint, p_op text, p jsonb, p_result jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(p->>'key', '') <> '' THEN
        INSERT INTO ledger_idempotency (pool_id, account_id, key, op, args_hash, result)
        VALUES (p_pool, p_account, p->>'key', p_op, coalesce(p->>'hash', ''), p_result);
    END IF;
END $$;

-- ledger_emit appends one event row.
CREATE OR REPLACE FUNCTION ledger_emit(p_pool bigint, p_account bigint, p_lot bigint, p_op bigint, p_type text,
                            p_amount numeric, p_balance numeric, p_unpaid numeric, p_res bigint,
                            p jsonb, p_at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, unpaid,
                               reservation_id, idempotency_key, actor, reason_code, source_ref, model,
                               request_id, session_id, detail, occurred_at, at, project, key_label)
    VALUES (p_pool, p_account, p_lot, p_op, p_type::ledger_event_type, p_amount, p_balance, p_unpaid, p_res,
            coalesce(p->>'key', ''), coalesce(p->>'actor', ''), coalesce(p->>'reason_code', ''),
            coalesce(p->>'source_ref', ''), coalesce(p->>'model', ''), coalesce(p->>'request_id', ''),
            coalesce(p->>'session_id', ''), nullif(p->'detail', 'null'::jsonb),
            coalesce((p->>'occurred_at')::timestamptz, p_at), p_at,
            coalesce(p->>'project', ''), coalesce(p->>'key_label', ''));
END $$;

-- ledger_spend_order is the one SQL statement of the spending order: the
-- pool's lots spendable at p_at (remaining > 0, not expired), the credit
-- line's lot (kind credit) after every other; then soonest expiry first, no
-- expiry last; on equal expiry granted kinds (grace, promo, plan) before
-- paid; then the oldest, then the lower id. p_granted_only (an account in
-- trial) leaves paid lots and the credit line out. ledger_take, ledger_reserve,
-- ledger_reserve_t and ledger_charge_run all read lots through it (the last
-- one also reads each lot's expiry); ledger.SpendOrder states the
-- same order in Go and the model-based test checks they agree.
CREATE OR REPLACE FUNCTION ledger_spend_order(p_pool bigint, p_at timestamptz, p_granted_only boolean)
RETURNS TABLE (id bigint, remaining numeric, kind text, expires_at timestamptz) LANGUAGE sql STABLE AS $$
    SELECT l.id, l.remaining, l.kind, l.expires_at FROM ledger_lots l
    WHERE l.pool_id = p_pool AND l.remaining > 0 AND (l.expires_at IS NULL OR l.expires_at > p_at)
      AND NOT (p_granted_only AND l.kind IN ('paid', 'credit'))
    ORDER BY (l.kind = 'credit'), l.expires_at ASC NULLS LAST, (l.kind = 'paid'), l.created_at, l.id
$$;

-- ledger_take takes up to p_amount from the pool's unexpired lots in
-- spending order (ledger_spend_order) and
-- returns what it took from each lot; p_granted_only (an account in trial)
-- leaves paid lots alone. The caller holds the pool lock.
CREATE OR REPLACE FUNCTION ledger_take(p_pool bigint, p_amount numeric, p_at timestamptz, p_granted_only boolean)
RETURNS TABLE (lot_id bigint, taken numeric) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_left numeric := p_amount;
BEGIN
    IF v_left <= 0 THEN
        RETURN;
    END IF;
    FOR r IN SELECT o.id, o.remaining FROM ledger_spend_order(p_pool, p_at, p_granted_only) o LOOP
        lot_id := r.id;
        taken := least(v_left, r.remaining);
        UPDATE ledger_lots SET remaining = remaining - taken WHERE pool_id = p_pool AND id = r.id;
        RETURN NEXT;
        v_left := v_left - taken;
        EXIT WHEN v_left <= 0;
    END LOOP;
END $$;

-- ledger_grace gives the pool one grace lot when the policy is on (p has a
-- "grace" object), the pool has paid before, has nothing left to spend, has
-- had no grace since its last top-up and has no active grace lot. It
-- returns the pool balance after.
CREATE OR REPLACE FUNCTION ledger_grace(p_pool bigint, p_account bigint, p_balance numeric, p_op bigint, p jsonb, p_at timestamptz)
RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    v_amount numeric;
    v_lot bigint;
    v_pool ledger_accounts;
BEGIN
    IF p->'grace' IS NULL OR jsonb_typeof(p->'grace') <> 'object' THEN
        RETURN p_balance;
    END IF;
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = p_pool;
    IF NOT v_pool.has_paid OR v_pool.grace_used OR ledger_spendable(p_pool, p_at) > 0 THEN
        RETURN p_balance;
    END IF;
    IF EXISTS (SELECT 1 FROM ledger_lots WHERE pool_id = p_pool AND kind = 'grace' AND remaining > 0
               AND expires_at > p_at) THEN
        RETURN p_balance;
    END IF;
    v_amount := (p->'grace'->>'amount')::numeric;
    INSERT INTO ledger_lots (pool_id, account_id, kind, amount, remaining, expires_at, source_ref, actor, reason_code, created_at)
    VALUES (p_pool, p_pool, 'grace', v_amount, v_amount,
            p_at + make_interval(secs => (p->'grace'->>'lifetime_seconds')::float8), 'grace', 'system', 'grace', p_at)
    RETURNING id INTO v_lot;
    PERFORM ledger_emit(p_pool, p_account, v_lot, p_op, 'grant', v_amount, p_balance + v_amount, 0, NULL,
                        jsonb_build_object('actor', 'system', 'reason_code', 'grace', 'source_ref', 'grace'), p_at);
    UPDATE ledger_accounts SET balance = balance + v_amount, grace_used = true WHERE id = p_pool;
    RETURN p_balance + v_amount;
END $$;

-- ledger_spend_more charges up to p_amount from available lots for a sub-
-- or pool account, capped by the allocation, from granted lots only when
-- p_granted_only (an account in trial); returns what it charged and the
-- new balance and allocation.
CREATE OR REPLACE FUNCTION ledger_spend_more(p_pool bigint, p_account bigint, p_amount numeric, p_alloc numeric,
                                  p_bal numeric, p_op bigint, p_res bigint, p jsonb, p_at timestamptz,
                                  p_granted_only boolean,
                                  OUT charged numeric, OUT balance numeric, OUT allocation numeric)
LANGUAGE plpgsql AS $$
DECLARE
    v_cap numeric := p_amount;
    t record;
BEGIN
    charged := 0;
    balance := p_bal;
    allocation := p_alloc;
    IF p_alloc IS NOT NULL THEN
        v_cap := least(v_cap, p_alloc);
    END IF;
    FOR t IN SELECT * FROM ledger_take(p_pool, v_cap, p_at, p_granted_only) LOOP
        balance := balance - t.taken;
        charged := charged + t.taken;
        PERFORM ledger_emit(p_pool, p_account, t.lot_id, p_op, 'deduction', -t.taken, balance, 0, p_res, p, p_at);
    END LOOP;
    IF allocation IS NOT NULL THEN
        allocation := allocation - charged;
    END IF;
END $$;

-- ledger_plan_share is what operation p_op of the pool took from plan lots
-- (deductions; a reservation's holds name their kind instead), for
-- answers that say what paid: plan credit or the wallet. The type is
-- compared as text so that the planner cannot pick the partial usage index
-- (pool_id, occurred_at) for it: on a table without statistics (a new
-- database) the generic plan did, and walked all the pool's deductions for
-- each charge; (pool_id, at, id) finds the operation's few rows.
-- PL/pgSQL, so that the statement's plan is kept for the session: as a
-- LANGUAGE sql function (a join, never inlined) it was planned again in
-- every transaction, about a millisecond over the partitions of
-- ledger_events.
CREATE OR REPLACE FUNCTION ledger_plan_share(p_pool bigint, p_op bigint, p_at timestamptz) RETURNS numeric LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(-e.amount), 0) FROM ledger_events e
            JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
            WHERE e.pool_id = p_pool AND e.at = p_at AND e.op_id = p_op AND e.type::text = 'deduction' AND l.kind = 'plan');
END $$;

-- ledger_close_replay answers a repeated commit or release from the
-- reservation row, which records the key, arguments and result of the call
-- that closed it; NULL when the reservation was not closed by this key.
CREATE OR REPLACE FUNCTION ledger_close_replay(r ledger_reservations, p_op text, p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF r.close_key IS NULL OR r.close_key <> coalesce(p->>'key', '') THEN
        RETURN NULL;
    END IF;
    IF r.close_op = p_op AND r.close_hash = coalesce(p->>'hash', '') THEN
        RETURN r.close_result || '{"replayed": true}';
    END IF;
    RETURN '{"error": "idempotency_conflict"}';
END $$;

-- ledger_tier_cap is the open-reservation cap of the tier a cumulative
-- recharge of p_paid fen reaches (NULL: no tier).
CREATE OR REPLACE FUNCTION ledger_tier_cap(p_paid bigint) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT max_open FROM ledger_tiers WHERE min_paid_fen <= p_paid ORDER BY min_paid_fen DESC LIMIT 1
$$;

-- ledger_set_tiers replaces the tier table: p {tiers: [{min_paid_fen,
-- rpm, tpm, max_open}], actor, now}, and gives every pool whose cap
-- changes its new one, in the caller's transaction (each such pool row is
-- locked, so a change applies between two holds). Returns {pools: n}.
CREATE OR REPLACE FUNCTION ledger_set_tiers(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM ledger_tiers;
    INSERT INTO ledger_tiers (min_paid_fen, rpm, tpm, max_open, updated_at, updated_by)
    SELECT (t->>'min_paid_fen')::bigint, (t->>'rpm')::integer, (t->>'tpm')::bigint, (t->>'max_open')::integer,
           (p->>'now')::timestamptz, p->>'actor'
    FROM jsonb_array_elements(p->'tiers') t;
    UPDATE ledger_accounts SET max_open = ledger_tier_cap(paid_fen)
    WHERE id = pool_id AND max_open IS DISTINCT FROM ledger_tier_cap(paid_fen);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN jsonb_build_object('pools', v_n);
END $$;

-- ledger_credit adds a lot: p {account_id, kind, amount, expires_at,
-- event_type, source_ref, actor, reason_code, paid_fen, key, hash, now};
-- paid_fen (a paid lot's price in fen) is absent when not recorded. A paid
-- lot's price adds to the pool's cumulative recharge (paid_fen), which may
-- move it to another tier (max_open) at once.
CREATE OR REPLACE FUNCTION ledger_credit(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_amount numeric := (p->>'amount')::numeric;
    v_op bigint;
    v_lot ledger_lots;
    v_fen bigint;
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    v_r := ledger_replay(v_pool.id, v_acc.id, 'credit', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    INSERT INTO ledger_lots (pool_id, account_id, kind, amount, remaining, expires_at, source_ref, actor, reason_code, created_at, paid_fen)
    VALUES (v_pool.id, v_acc.id, (p->>'kind')::ledger_lot_kind, v_amount, v_amount, (p->>'expires_at')::timestamptz,
            coalesce(p->>'source_ref', ''), coalesce(p->>'actor', ''), coalesce(p->>'reason_code', ''), v_at,
            (p->>'paid_fen')::bigint)
    RETURNING * INTO v_lot;
    PERFORM ledger_emit(v_pool.id, v_acc.id, v_lot.id, v_op, p->>'event_type', v_amount, v_pool.balance + v_amount, 0, NULL, p, v_at);
    v_fen := CASE WHEN v_lot.kind = 'paid' THEN coalesce(v_lot.paid_fen, 0) ELSE 0 END;
    UPDATE ledger_accounts SET balance = balance + v_amount, last_at = v_at,
        has_paid = has_paid OR v_lot.kind = 'paid',
        grace_used = grace_used AND v_lot.kind <> 'paid',
        paid_fen = paid_fen + v_fen,
        max_open = CASE WHEN v_fen <> 0 THEN ledger_tier_cap(paid_fen + v_fen) ELSE max_open END
    WHERE id = v_pool.id;
    IF v_acc.id <> v_pool.id AND v_acc.allocation IS NOT NULL THEN
        UPDATE ledger_accounts SET allocation = allocation + v_amount WHERE id = v_acc.id;
    END IF;
    v_r := jsonb_build_object('op_id', v_op, 'lot', to_jsonb(v_lot));
    PERFORM ledger_remember(v_pool.id, v_acc.id, 'credit', p, v_r);
    RETURN v_r;
END $$;

-- ledger_credit_line sets the pool's credit line (授信) to p.amount
-- credits: p {account_id, amount, source_ref, actor, reason_code, key,
-- hash, now}. The line is the pool's one lot of kind credit, spent after
-- every other lot, whose remaining is the unused line: the first call
-- creates it, a later one changes its amount and its remaining by the same
-- delta, as one credit_line event on the lot (none when the line is
-- unchanged). A line cannot drop below what is used of it (consumed and
-- not yet restored, or held): credit_line_in_use. A line of 0 closes it
-- (the lot stays, empty); without a line it is no_credit_line. Only an
-- account that is its own pool has a line. Returns {op_id, lot, delta}.
CREATE OR REPLACE FUNCTION ledger_credit_line(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_acc ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_line numeric := (p->>'amount')::numeric;
    v_delta numeric;
    v_op bigint;
    v_lot ledger_lots;
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    IF v_acc.id <> v_acc.pool_id THEN
        RETURN '{"error": "invalid_argument"}';
    END IF;
    v_r := ledger_replay(v_acc.id, v_acc.id, 'credit_line', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_acc.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    SELECT * INTO v_lot FROM ledger_lots WHERE pool_id = v_acc.id AND kind = 'credit';
    IF NOT FOUND AND v_line = 0 THEN
        RETURN '{"error": "no_credit_line"}'; -- nothing to close
    END IF;
    IF NOT FOUND THEN
        INSERT INTO ledger_lots (pool_id, account_id, kind, amount, remaining, expires_at, source_ref, actor, reason_code, created_at)
        VALUES (v_acc.id, v_acc.id, 'credit', v_line, v_line, NULL, coalesce(p->>'source_ref', ''),
                coalesce(p->>'actor', ''), coalesce(p->>'reason_code', ''), v_at)
        RETURNING * INTO v_lot;
        v_delta := v_line;
    ELSE
        v_delta := v_line - v_lot.amount;
        IF v_lot.remaining + v_delta < 0 THEN
            RETURN jsonb_build_object('error', 'credit_line_in_use', 'available', v_lot.amount - v_lot.remaining);
        END IF;
        UPDATE ledger_lots SET amount = v_line, remaining = remaining + v_delta
        WHERE pool_id = v_acc.id AND id = v_lot.id RETURNING * INTO v_lot;
    END IF;
    IF v_delta <> 0 THEN
        PERFORM ledger_emit(v_acc.id, v_acc.id, v_lot.id, v_op, 'credit_line', v_delta, v_acc.balance + v_delta, 0, NULL, p, v_at);
        UPDATE ledger_accounts SET balance = balance + v_delta, last_at = v_at WHERE id = v_acc.id;
    END IF;
    v_r := jsonb_build_object('op_id', v_op, 'lot', to_jsonb(v_lot), 'delta', v_delta);
    PERFORM ledger_remember(v_acc.id, v_acc.id, 'credit_line', p, v_r);
    RETURN v_r;
END $$;

-- ledger_credit_restore gives p.amount credits of the pool's credit line
-- back (a paid bill): p {account_id, amount, source_ref, actor,
-- reason_code, key, hash, now}; one credit_restore event on the credit
-- lot. It cannot give back more than is used of the line
-- (credit_restore_exceeds) and needs a line (no_credit_line). Returns
-- {op_id, lot}.
CREATE OR REPLACE FUNCTION ledger_credit_restore(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_acc ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_amount numeric := (p->>'amount')::numeric;
    v_op bigint;
    v_lot ledger_lots;
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    IF v_acc.id <> v_acc.pool_id THEN
        RETURN '{"error": "invalid_argument"}';
    END IF;
    v_r := ledger_replay(v_acc.id, v_acc.id, 'credit_restore', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    SELECT * INTO v_lot FROM ledger_lots WHERE pool_id = v_acc.id AND kind = 'credit';
    IF NOT FOUND THEN
        RETURN '{"error": "no_credit_line"}';
    END IF;
    IF v_lot.remaining + v_amount > v_lot.amount THEN
        RETURN jsonb_build_object('error', 'credit_restore_exceeds', 'available', v_lot.amount - v_lot.remaining);
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_acc.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    UPDATE ledger_lots SET remaining = remaining + v_amount WHERE pool_id = v_acc.id AND id = v_lot.id RETURNING * INTO v_lot;
    PERFORM ledger_emit(v_acc.id, v_acc.id, v_lot.id, v_op, 'credit_restore', v_amount, v_acc.balance + v_amount, 0, NULL, p, v_at);
    UPDATE ledger_accounts SET balance = balance + v_amount, last_at = v_at WHERE id = v_acc.id;
    v_r := jsonb_build_object('op_id', v_op, 'lot', to_jsonb(v_lot));
    PERFORM ledger_remember(v_acc.id, v_acc.id, 'credit_restore', p, v_r);
    RETURN v_r;
END $$;

-- ledger_budget_period_start is where the budget period holding p_at
-- starts, in Asia/Shanghai: its day, its week (from Monday), its month;
-- -infinity for a budget without a period.
CREATE OR REPLACE FUNCTION ledger_budget_period_start(p_period ledger_budget_period, p_at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_period = 'none' THEN '-infinity'::timestamptz
                ELSE date_trunc(p_period::text, p_at AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai' END
$$;

-- ledger_budget_period_end is where the period starting at p_start ends
-- (the next one starts), NULL for a budget without a period.
CREATE OR REPLACE FUNCTION ledger_budget_period_end(p_period ledger_budget_period, p_start timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_period = 'none' THEN NULL::timestamptz
                ELSE ((p_start AT TIME ZONE 'Asia/Shanghai') + ('1 ' || p_period::text)::interval) AT TIME ZONE 'Asia/Shanghai' END
$$;

-- ledger_budget_alert records that a budget's use reached threshold
-- percent of its cap in a period, once per period (the alert job sends
-- it). PL/pgSQL keeps the INSERT's plan for the session (LANGUAGE sql
-- planned it at every call).
CREATE OR REPLACE FUNCTION ledger_budget_alert(p_pool bigint, p_budget bigint, p_start timestamptz, p_threshold smallint,
                                    p_used numeric, p_cap numeric, p_refused boolean, p_at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_budget_alerts (pool_id, budget_id, period_start, threshold, used, cap, refused, at)
    VALUES (p_pool, p_budget, p_start, p_threshold, p_used, p_cap, p_refused, p_at)
    ON CONFLICT DO NOTHING;
END $$;

-- ledger_budget_limit is the use below which a hold is uneventful for a
-- budget that has used p_used: under the next threshold not reached yet
-- and, for a hard stop, under the cap (the fast path's budget_limits).
-- PL/pgSQL without a query: as a LANGUAGE sql function with a subquery it
-- could not be inlined and was planned again at every call.
CREATE OR REPLACE FUNCTION ledger_budget_limit(p_cap numeric, p_thresholds smallint[], p_hard boolean, p_used numeric)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_next smallint;
    v_t smallint;
BEGIN
    FOREACH v_t IN ARRAY coalesce(p_thresholds, '{}') LOOP
        IF v_t * p_cap > p_used * 100 AND (v_next IS NULL OR v_t < v_next) THEN
            v_next := v_t;
        END IF;
    END LOOP;
    RETURN least(coalesce(v_next * p_cap / 100, 'Infinity'::numeric), CASE WHEN p_hard THEN p_cap ELSE 'Infinity'::numeric END);
END $$;

-- ledger_budget_hold counts a hold (or charge) of p_amount in every budget
-- over the call's scope: the account's own, its project's and its key's
-- within it, and, for a sub-account, its enterprise's. The counters are
-- the pool's (p_st: its account row, locked by the caller, or the batch's
-- running state of it): slot n of budget_starts and budget_used is the
-- period budget n last counted in and what it used there, so the check and
-- the count are one step for concurrent calls and cost no row update of
-- their own.
--
-- The fast path reads no budget: slot n's scope, period end and limit
-- (budget_scopes, budget_ends, budget_limits; migration 001341) say
-- whether the hold is uneventful in it — same period, no threshold
-- reached, under a hard stop's cap — and then it only adds to the
-- counters. Otherwise the full path reads the budgets over the call: a
-- budget whose period has moved on starts again from 0; when a hard-stop
-- budget would pass its cap nothing is counted and refusal is {"error":
-- "budget_exceeded", "available" (the least room under any hard-stop
-- budget), "retry_at" (when the refusing budgets' periods end; null when
-- one never does), "budget_id"}; the refusing budget's thresholds up to
-- 100 % are recorded as reached; thresholds crossed are recorded; and the
-- slots' ends and limits are set again (stored on the pool's row, and
-- returned in pool_ends and pool_limits for a caller's running state).
-- ids, slots and starts name the budgets counted, their slots and the
-- period of each (NULL when none applies); pool_starts and pool_used are
-- the pool's new counters (for the caller to store).
CREATE OR REPLACE FUNCTION ledger_budget_hold(p_st ledger_accounts, p_account bigint, p_project text, p_key text,
                                   p_amount numeric, p_at timestamptz, p_force boolean,
                                   OUT ids bigint[], OUT slots integer[], OUT starts timestamptz[],
                                   OUT pool_starts timestamptz[], OUT pool_used numeric[], OUT refusal jsonb,
                                   OUT pool_ends timestamptz[], OUT pool_limits numeric[])
LANGUAGE plpgsql AS $$
DECLARE
    v_a bigint[] := ARRAY[p_account];
    v_p text[] := ARRAY[''];
    v_k text[] := ARRAY[''];
    v_scopes text[];
    v_used numeric;
    v_avail numeric;
    v_end timestamptz;
    v_retry timestamptz;
    v_never boolean := false;
    v_refused bigint;
    v_t smallint;
    v_alerts jsonb := '[]';
    v_fast boolean := true;
    b record;
    a jsonb;
BEGIN
    ids := '{}';
    slots := '{}';
    starts := '{}';
    pool_starts := p_st.budget_starts;
    pool_used := p_st.budget_used;
    pool_ends := p_st.budget_ends;
    pool_limits := p_st.budget_limits;
    IF p_st.budget_scopes IS NOT NULL THEN
        v_scopes := ARRAY[p_account || '||'];
        IF p_project <> '' THEN
            v_scopes := v_scopes || (p_account || '|' || p_project || '|');
        END IF;
        IF p_key <> '' THEN
            v_scopes := v_scopes || (p_account || '|' || p_project || '|' || p_key);
        END IF;
        IF p_account <> p_st.id THEN
            v_scopes := v_scopes || (p_st.id || '||');
        END IF;
        FOR n IN 1 .. coalesce(cardinality(p_st.budget_scopes), 0) LOOP
            CONTINUE WHEN p_st.budget_scopes[n] IS NULL OR NOT p_st.budget_scopes[n] = ANY (v_scopes);
            IF NOT coalesce(p_at < p_st.budget_ends[n] AND coalesce(pool_used[n], 0) + p_amount < p_st.budget_limits[n], false) THEN
                v_fast := false;
                EXIT;
            END IF;
            ids := ids || p_st.budget_ids[n];
            slots := slots || n;
            starts := starts || p_st.budget_starts[n];
            pool_used[n] := coalesce(pool_used[n], 0) + p_amount;
        END LOOP;
        IF v_fast THEN
            IF cardinality(ids) = 0 THEN
                ids := NULL; slots := NULL; starts := NULL; pool_starts := NULL; pool_used := NULL;
                pool_ends := NULL; pool_limits := NULL;
            END IF;
            RETURN;
        END IF;
        ids := '{}';
        slots := '{}';
        starts := '{}';
        pool_used := p_st.budget_used;
    END IF;

    IF p_project <> '' THEN
        v_a := v_a || p_account; v_p := v_p || p_project; v_k := v_k || ''::text;
    END IF;
    IF p_key <> '' THEN
        v_a := v_a || p_account; v_p := v_p || p_project; v_k := v_k || p_key;
    END IF;
    IF p_account <> p_st.id THEN
        v_a := v_a || p_st.id; v_p := v_p || ''::text; v_k := v_k || ''::text;
    END IF;
    FOR b IN SELECT x.id, x.slot, x.period, x.cap, x.hard_stop, x.thresholds,
                    ledger_budget_period_start(x.period, p_at) AS st
             FROM unnest(v_a, v_p, v_k) s(a, p, k)
             JOIN ledger_budgets x ON x.account_id = s.a AND x.project = s.p AND x.key_label = s.k
             WHERE x.pool_id = p_st.id LOOP
        v_used := CASE WHEN p_st.budget_ids[b.slot] = b.id AND pool_starts[b.slot] = b.st
                       THEN coalesce(pool_used[b.slot], 0) ELSE 0 END;
        IF b.hard_stop THEN
            v_avail := least(coalesce(v_avail, b.cap), greatest(b.cap - v_used, 0));
            IF v_used + p_amount > b.cap THEN
                v_end := ledger_budget_period_end(b.period, b.st);
                IF v_end IS NULL THEN
                    v_never := true;
                    v_refused := b.id;
                ELSIF NOT v_never AND (v_retry IS NULL OR v_end > v_retry) THEN
                    v_retry := v_end;
                    v_refused := b.id;
                END IF;
                FOREACH v_t IN ARRAY b.thresholds LOOP
                    IF v_t <= 100 AND v_used * 100 < v_t * b.cap THEN
                        PERFORM ledger_budget_alert(p_st.id, b.id, b.st, v_t, v_used, b.cap, true, p_at);
                    END IF;
                END LOOP;
            END IF;
        END IF;
        FOREACH v_t IN ARRAY b.thresholds LOOP
            IF v_used * 100 < v_t * b.cap AND (v_used + p_amount) * 100 >= v_t * b.cap THEN
                v_alerts := v_alerts || jsonb_build_object('id', b.id, 'st', b.st, 't', v_t, 'used', v_used + p_amount, 'cap', b.cap);
            END IF;
        END LOOP;
        ids := ids || b.id;
        slots := slots || b.slot;
        starts := starts || b.st;
        pool_starts[b.slot] := b.st;
        pool_used[b.slot] := v_used + p_amount;
        -- the slot's fast path from here: until its period ends, below the
        -- next threshold this use has not reached and a hard stop's cap
        pool_ends[b.slot] := coalesce(ledger_budget_period_end(b.period, b.st), 'infinity');
        pool_limits[b.slot] := ledger_budget_limit(b.cap, b.thresholds, b.hard_stop, v_used + p_amount);
    END LOOP;
    IF v_refused IS NOT NULL THEN
        refusal := jsonb_build_object('error', 'budget_exceeded', 'available', v_avail, 'budget_id', v_refused,
                                      'retry_at', CASE WHEN v_never THEN NULL ELSE v_retry END);
    END IF;
    IF v_refused IS NOT NULL AND NOT p_force OR cardinality(ids) = 0 THEN
        ids := NULL;
        slots := NULL;
        starts := NULL;
        pool_starts := NULL;
        pool_used := NULL;
        pool_ends := NULL;
        pool_limits := NULL;
        RETURN;
    END IF;
    UPDATE ledger_accounts SET budget_ends = pool_ends, budget_limits = pool_limits WHERE id = p_st.id;
    FOR a IN SELECT * FROM jsonb_array_elements(v_alerts) LOOP
        PERFORM ledger_budget_alert(p_st.id, (a->>'id')::bigint, (a->>'st')::timestamptz, (a->>'t')::smallint,
                                    (a->>'used')::numeric, (a->>'cap')::numeric, false, p_at);
    END LOOP;
END $$;

-- ledger_budget_settle moves the counters of the budgets a hold counted in
-- (p_ids in slots p_slots, in the periods p_starts) by p_delta: what a
-- commit charged less what it held, a release's -hold. p_bids, p_bstarts
-- and p_used are the pool's slots, periods and counters; it returns the
-- new counters. A budget deleted since (its slot no longer holds its id)
-- or whose period has moved on (its new period started from 0) is left
-- alone; use never goes below 0. Thresholds a positive delta crosses are
-- recorded.
CREATE OR REPLACE FUNCTION ledger_budget_settle(p_pool bigint, p_bids bigint[], p_bstarts timestamptz[], p_used numeric[],
                                     p_ids bigint[], p_slots integer[], p_starts timestamptz[], p_delta numeric,
                                     p_at timestamptz) RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE
    v_used numeric[] := p_used;
    s integer;
    b record;
    v_t smallint;
BEGIN
    IF p_ids IS NULL OR p_slots IS NULL OR p_delta = 0 THEN
        RETURN p_used;
    END IF;
    FOR i IN 1 .. cardinality(p_ids) LOOP
        s := p_slots[i];
        CONTINUE WHEN p_bids[s] IS DISTINCT FROM p_ids[i] OR p_bstarts[s] IS DISTINCT FROM p_starts[i];
        v_used[s] := greatest(coalesce(v_used[s], 0) + p_delta, 0);
        IF p_delta > 0 THEN
            SELECT cap, thresholds INTO b FROM ledger_budgets WHERE pool_id = p_pool AND id = p_ids[i];
            FOREACH v_t IN ARRAY b.thresholds LOOP
                IF (v_used[s] - p_delta) * 100 < v_t * b.cap AND v_used[s] * 100 >= v_t * b.cap THEN
                    PERFORM ledger_budget_alert(p_pool, p_ids[i], p_starts[i], v_t, v_used[s], b.cap, false, p_at);
                END IF;
            END LOOP;
        END IF;
    END LOOP;
    RETURN v_used;
END $$;

-- ledger_budget_set creates or changes the budget of a scope: p
-- {account_id, project, key_label, period, cap, unit, amount, thresholds,
-- hard_stop, actor, now}. The pool is locked first, like every write that
-- holds, so a change applies between two holds and never within one. A
-- budget that is changed keeps what its period has counted; a new one (or
-- one given another period kind) gets the pool's next slot or starts its
-- slot again from what its scope was charged in the current period (the
-- ledger's events since the period's start) plus what its scope holds open
-- now: those holds are entered in the budget (their commits and releases
-- then settle it like any other), so calls in flight when a budget is set
-- can not pass it. The pool is marked budgeted, so its holds look budgets
-- up. Returns {"id"}.
CREATE OR REPLACE FUNCTION ledger_budget_set(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_old ledger_budgets;
    v_id bigint;
    v_slot integer;
    v_period ledger_budget_period := (p->>'period')::ledger_budget_period;
    v_project text := coalesce(p->>'project', '');
    v_label text := coalesce(p->>'key_label', '');
    v_start timestamptz;
    v_used numeric;
    v_now timestamptz := (p->>'now')::timestamptz;
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    IF v_acc.id = v_acc.pool_id THEN
        v_pool := v_acc;
    ELSE
        SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    END IF;
    SELECT * INTO v_old FROM ledger_budgets WHERE account_id = v_acc.id AND project = v_project AND key_label = v_label;
    v_slot := coalesce(v_old.slot, coalesce(cardinality(v_pool.budget_ids), 0) + 1);
    INSERT INTO ledger_budgets AS b (pool_id, account_id, project, key_label, period, cap, unit, amount, thresholds,
                                     hard_stop, slot, created_at, updated_at, updated_by)
    VALUES (v_acc.pool_id, v_acc.id, v_project, v_label, v_period, (p->>'cap')::numeric, p->>'unit', (p->>'amount')::numeric,
            ARRAY(SELECT jsonb_array_elements_text(coalesce(p->'thresholds', '[]')))::smallint[],
            (p->>'hard_stop')::boolean, v_slot, v_now, v_now, p->>'actor')
    ON CONFLICT (account_id, project, key_label) DO UPDATE SET
        period = EXCLUDED.period, cap = EXCLUDED.cap, unit = EXCLUDED.unit, amount = EXCLUDED.amount,
        thresholds = EXCLUDED.thresholds, hard_stop = EXCLUDED.hard_stop, updated_at = EXCLUDED.updated_at,
        updated_by = EXCLUDED.updated_by
    RETURNING id INTO v_id;
    IF v_old.id IS NULL OR v_old.period <> v_period THEN
        v_start := ledger_budget_period_start(v_period, v_now);
        SELECT coalesce(sum(-e.amount), 0) INTO v_used FROM ledger_events e
        WHERE e.pool_id = v_acc.pool_id AND e.at >= v_start
          AND e.type IN ('deduction', 'reservation_expired_charge')
          AND (v_acc.id = v_acc.pool_id AND v_project = '' AND v_label = '' OR e.account_id = v_acc.id)
          AND (v_project = '' AND v_label = '' OR e.project = v_project)
          AND (v_label = '' OR e.key_label = v_label);
        -- the open holds over its scope enter it in this period (a budget
        -- that changed its period kind replaces its old period in them)
        WITH open_holds AS (
            UPDATE ledger_reservations r SET
                budget_ids = CASE WHEN v_id = ANY (r.budget_ids) THEN r.budget_ids
                                  ELSE coalesce(r.budget_ids, '{}') || v_id END,
                budget_slots = CASE WHEN v_id = ANY (r.budget_ids) THEN r.budget_slots
                                    ELSE coalesce(r.budget_slots, '{}') || v_slot END,
                budget_starts = CASE WHEN v_id = ANY (r.budget_ids)
                                     THEN ARRAY(SELECT CASE WHEN u.id = v_id THEN v_start ELSE u.st END
                                                FROM unnest(r.budget_ids, r.budget_starts) WITH ORDINALITY u(id, st, n)
                                                ORDER BY u.n)
                                     ELSE coalesce(r.budget_starts, '{}') || v_start END
            WHERE r.pool_id = v_acc.pool_id AND r.status = 'open'
              AND (v_acc.id = v_acc.pool_id AND v_project = '' AND v_label = '' OR r.account_id = v_acc.id)
              AND (v_project = '' AND v_label = '' OR r.project = v_project)
              AND (v_label = '' OR r.key_label = v_label)
            RETURNING r.amount)
        SELECT v_used + coalesce(sum(amount), 0) INTO v_used FROM open_holds;
        v_pool.budget_ids[v_slot] := v_id;
        v_pool.budget_starts[v_slot] := v_start;
        v_pool.budget_used[v_slot] := v_used;
    END IF;
    -- the hold's fast path: the slot's scope, where its counter's period
    -- ends and its limit under the (new) cap and thresholds
    v_pool.budget_scopes[v_slot] := v_acc.id || '|' || v_project || '|' || v_label;
    v_pool.budget_ends[v_slot] := coalesce(ledger_budget_period_end(v_period, v_pool.budget_starts[v_slot]), 'infinity');
    v_pool.budget_limits[v_slot] := ledger_budget_limit((p->>'cap')::numeric,
        ARRAY(SELECT jsonb_array_elements_text(coalesce(p->'thresholds', '[]')))::smallint[],
        (p->>'hard_stop')::boolean, coalesce(v_pool.budget_used[v_slot], 0));
    UPDATE ledger_accounts SET budgeted = true, budget_ids = v_pool.budget_ids, budget_starts = v_pool.budget_starts,
        budget_used = v_pool.budget_used, budget_scopes = v_pool.budget_scopes, budget_ends = v_pool.budget_ends,
        budget_limits = v_pool.budget_limits
    WHERE id = v_pool.id;
    RETURN jsonb_build_object('id', v_id);
END $$;

-- ledger_budget_delete removes a budget: p {budget_id, account_id}; the
-- account must be the budget's pool or its account. Its slot is emptied,
-- never to be reused, so holds that counted in it settle into nothing. A
-- pool left without budgets is no longer budgeted. Returns {"id"} or
-- {"error": "not_found"}.
CREATE OR REPLACE FUNCTION ledger_budget_delete(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_b ledger_budgets;
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    DELETE FROM ledger_budgets WHERE pool_id = v_acc.pool_id AND id = (p->>'budget_id')::bigint
        AND (account_id = v_acc.id OR v_acc.id = v_acc.pool_id)
    RETURNING * INTO v_b;
    IF v_b.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    v_pool.budget_ids[v_b.slot] := NULL;
    v_pool.budget_starts[v_b.slot] := NULL;
    v_pool.budget_used[v_b.slot] := NULL;
    v_pool.budget_scopes[v_b.slot] := NULL;
    UPDATE ledger_accounts SET budgeted = EXISTS (SELECT 1 FROM ledger_budgets WHERE pool_id = v_acc.pool_id),
        budget_ids = v_pool.budget_ids, budget_starts = v_pool.budget_starts, budget_used = v_pool.budget_used,
        budget_scopes = v_pool.budget_scopes
    WHERE id = v_acc.pool_id;
    RETURN jsonb_build_object('id', v_b.id);
END $$;

-- ledger_reserve holds credits: p {account_id, amount, ttl_seconds, key,
-- hash, model, session_id, request_id, project, key_label, detail, now,
-- grace}. The hot path:
-- one locking read, one replay probe, one read of the spendable lots (which
-- both checks the amount and picks the lots in spending order), then one
-- update and one event per lot taken, the reservation, the pool's running
-- state and the idempotency record. The call's key, request, session and
-- detail go on the reservation row (and the key on its idempotency record),
-- not on its events: those are kept for good, the row and the record leave
-- the hot tables with the retention job (storage per billed request).
--
-- An account in trial (trial_cap set: not yet verified) holds from granted
-- lots only (promo, plan, grace): a hold that needs paid credit is refused
-- (trial_paid_credit), and so is one that would take its trial_used (what
-- it was charged in trial plus what its open reservations hold) past its
-- cap (trial_cap_reached). Both are checked here, under the pool's lock, and
-- trial_used grows by the hold in the same transaction.
--
-- A pool whose tier caps its open reservations (max_open) is refused a
-- hold while that many of its reservations are open and unexpired
-- (concurrency_limit), counted under the pool's lock, so no interleaving
-- of concurrent holds passes the cap.
--
-- In a pool with budgets the hold counts in every budget over its scope
-- (ledger_budget_hold), after every other check and under the same lock;
-- a hard-stop budget it would pass refuses it (budget_exceeded, with
-- retry_at). The reservation records the budgets and their periods, and
-- the labels (project, key_label), which its events carry too.
CREATE OR REPLACE FUNCTION ledger_reserve(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_amount numeric := (p->>'amount')::numeric;
    v_key text := coalesce(p->>'key', '');
    v_model text := coalesce(p->>'model', '');
    v_session text := coalesce(p->>'session_id', '');
    v_request text := coalesce(p->>'request_id', '');
    v_detail jsonb := nullif(p->'detail', 'null'::jsonb);
    v_project text := coalesce(p->>'project', '');
    v_label text := coalesce(p->>'key_label', '');
    v_bids bigint[];
    v_bstarts timestamptz[];
    v_bslots integer[];
    v_pstarts timestamptz[];
    v_pused numeric[];
    v_refusal jsonb;
    v_left numeric := v_amount;
    v_seen numeric := 0;
    v_more boolean := false;
    v_lots bigint[] := '{}';
    v_takes numeric[] := '{}';
    v_kinds text[] := '{}';
    v_op bigint;
    v_res bigint;
    v_bal numeric;
    v_holds jsonb := '[]';
    v_exp timestamptz;
    v_trial boolean;
    v_paid numeric;
    v_mode text;
    v_held numeric := v_amount;
    v_shadow text;
    v_avail numeric;
    l record;
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    IF v_acc.id = v_acc.pool_id THEN
        v_pool := v_acc;
    ELSE
        SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    END IF;
    v_trial := v_acc.trial_cap IS NOT NULL;
    v_mode := coalesce(v_acc.enforcement, v_pool.enforcement, p->>'enforcement', 'enforce');
    v_r := ledger_replay(v_pool.id, v_acc.id, 'reserve', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    IF v_acc.status = 'frozen' OR v_pool.status = 'frozen' THEN
        RETURN '{"error": "account_frozen"}';
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    IF v_mode <> 'off' AND v_acc.allocation IS NOT NULL AND v_acc.allocation < v_amount THEN
        IF v_mode = 'enforce' THEN
            RETURN jsonb_build_object('error', 'allocation_exceeded', 'available', v_acc.allocation);
        END IF;
        v_shadow := 'allocation_exceeded';
        v_avail := v_acc.allocation;
    END IF;
    FOR l IN SELECT o.id, o.remaining, o.kind FROM ledger_spend_order(v_pool.id, v_at, v_trial) o WHERE v_mode <> 'off' LOOP
        IF v_left <= 0 THEN
            v_more := true; -- credit is left after the hold
            EXIT;
        END IF;
        v_lots := v_lots || l.id;
        v_kinds := v_kinds || l.kind;
        v_takes := v_takes || least(v_left, l.remaining);
        v_left := v_left - least(v_left, l.remaining);
        v_seen := v_seen + l.remaining;
    END LOOP;
    IF v_left > 0 AND v_trial THEN
        -- every granted lot was read; paid credit would cover the rest,
        -- but only a verified account may spend it
        SELECT coalesce(sum(remaining), 0) INTO v_paid FROM ledger_lots
        WHERE pool_id = v_pool.id AND kind IN ('paid', 'credit') AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_at);
        IF v_seen + v_paid >= v_amount THEN
            RETURN '{"error": "trial_paid_credit"}';
        END IF;
        v_seen := v_seen + v_paid;
    END IF;
    IF v_left > 0 AND v_mode = 'enforce' THEN
        -- every spendable lot was read: v_seen is what is available
        RETURN jsonb_build_object('error', 'insufficient_credits', 'available', v_seen);
    END IF;
    IF v_left > 0 AND v_mode = 'shadow' AND v_shadow IS NULL THEN
        v_shadow := 'insufficient_credits';
        v_avail := v_seen;
    END IF;
    IF v_mode = 'off' OR v_shadow IS NOT NULL THEN
        -- off, or shadow letting a call through that credit would have
        -- refused: nothing is held; its commit charges what is available
        -- and records the rest as unpaid usage
        v_held := 0;
        v_lots := '{}';
        v_takes := '{}';
        v_kinds := '{}';
        v_more := true;
    END IF;
    IF v_trial AND v_acc.trial_used + v_amount > v_acc.trial_cap THEN
        RETURN jsonb_build_object('error', 'trial_cap_reached', 'available', greatest(v_acc.trial_cap - v_acc.trial_used, 0));
    END IF;
    -- the count is a test of its own, planned only for a capped pool (as in
    -- ledger_reserve_t)
    IF v_mode <> 'off' AND v_pool.max_open IS NOT NULL THEN
        IF (SELECT count(*) FROM ledger_reservations
            WHERE pool_id = v_pool.id AND status = 'open' AND expires_at > v_at) >= v_pool.max_open THEN
            IF v_mode = 'enforce' THEN
                RETURN jsonb_build_object('error', 'concurrency_limit', 'limit', v_pool.max_open);
            END IF;
            v_shadow := coalesce(v_shadow, 'concurrency_limit');
        END IF;
    END IF;
    IF v_pool.budgeted AND v_mode <> 'off' THEN
        SELECT h.ids, h.slots, h.starts, h.pool_starts, h.pool_used, h.refusal
        INTO v_bids, v_bslots, v_bstarts, v_pstarts, v_pused, v_refusal
        FROM ledger_budget_hold(v_pool, v_acc.id, v_project, v_label, v_held, v_at, v_mode = 'shadow') h;
        IF v_refusal IS NOT NULL AND v_mode = 'enforce' THEN
            RETURN v_refusal;
        END IF;
        IF v_refusal IS NOT NULL THEN
            v_shadow := coalesce(v_shadow, 'budget_exceeded');
        END IF;
    END IF;
    IF v_shadow IS NULL AND p ? 'shadow_refusal' THEN
        -- a refusal the caller let through (plan quota in shadow mode)
        v_shadow := p->>'shadow_refusal';
    END IF;
    v_op := nextval('ledger_op_seq');
    v_res := nextval('ledger_reservations_id_seq');
    v_bal := v_pool.balance;
    FOR i IN 1 .. cardinality(v_lots) LOOP
        v_bal := v_bal - v_takes[i];
        UPDATE ledger_lots SET remaining = remaining - v_takes[i] WHERE pool_id = v_pool.id AND id = v_lots[i];
        INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                   idempotency_key, model, request_id, session_id, detail, occurred_at, at,
                                   project, key_label)
        VALUES (v_pool.id, v_acc.id, v_lots[i], v_op, 'reservation', -v_takes[i], v_bal, v_res,
                '', v_model, '', '', NULL, v_at, v_at, v_project, v_label);
        v_holds := v_holds || jsonb_build_object('lot', v_lots[i], 'amount', v_takes[i], 'kind', v_kinds[i]);
    END LOOP;
    v_exp := v_at + make_interval(secs => (p->>'ttl_seconds')::float8);
    INSERT INTO ledger_reservations (pool_id, id, account_id, amount, holds, status, expires_at, model,
                                     session_id, request_id, created_at, project, key_label, budget_ids, budget_starts,
                                     budget_slots, detail)
    OVERRIDING SYSTEM VALUE
    VALUES (v_pool.id, v_res, v_acc.id, v_held, v_holds, 'open', v_exp, v_model, v_session, v_request, v_at,
            v_project, v_label, v_bids, v_bstarts, v_bslots, v_detail);
    IF v_acc.allocation IS NOT NULL AND v_held > 0 THEN
        UPDATE ledger_accounts SET allocation = allocation - v_held WHERE id = v_acc.id;
    END IF;
    UPDATE ledger_accounts SET balance = v_bal, reserved = reserved + v_held, last_at = v_at,
        budget_starts = coalesce(v_pstarts, budget_starts), budget_used = coalesce(v_pused, budget_used)
    WHERE id = v_pool.id;
    IF v_trial AND v_held > 0 THEN
        UPDATE ledger_accounts SET trial_used = trial_used + v_held WHERE id = v_acc.id;
    END IF;
    IF NOT v_more AND v_seen = v_amount AND p ? 'grace' THEN
        -- the hold took everything that was spendable
        PERFORM ledger_grace(v_pool.id, v_acc.id, v_bal, v_op, p, v_at);
    END IF;
    v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_res, 'account_id', v_acc.id, 'amount', v_held,
                              'expires_at', v_exp, 'holds', v_holds);
    IF v_shadow IS NOT NULL THEN
        INSERT INTO ledger_shadow_refusals (pool_id, account_id, op, code, amount, available, reservation_id, op_id, model, at)
        VALUES (v_pool.id, v_acc.id, 'reserve', v_shadow, v_amount, v_avail, v_res, v_op, v_model, v_at);
        v_r := v_r || jsonb_build_object('shadow_refusal', v_shadow, 'requested', v_amount);
    END IF;
    IF v_key <> '' THEN
        INSERT INTO ledger_idempotency (pool_id, account_id, key, op, args_hash, result)
        VALUES (v_pool.id, v_acc.id, v_key, 'reserve', coalesce(p->>'hash', ''), v_r);
    END IF;
    RETURN v_r;
END $$;

-- ledger_commit charges a reservation: p {reservation_id, actual, key,
-- hash, detail, now, grace}. Its idempotency record is kept on the
-- reservation row (close_key, close_hash, close_result); a key other than
-- the default "commit:<id>" is also recorded in ledger_idempotency, so it
-- stays unique among the account's keys.
--
-- For an account in trial the hold leaves trial_used and what is charged
-- enters it; an actual beyond the hold is charged from granted lots only
-- and only up to the cap, and the rest is recorded as unpaid usage (a
-- commit is never refused: the usage happened).
CREATE OR REPLACE FUNCTION ledger_commit(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint := (p->>'reservation_id')::bigint;
    v_res ledger_reservations;
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_actual numeric := (p->>'actual')::numeric;
    v_key text := coalesce(p->>'key', '');
    v_custom boolean;
    v_detail jsonb := nullif(p->'detail', 'null'::jsonb);
    v_left numeric;
    v_op bigint;
    v_bal numeric;
    v_alloc numeric;
    v_h numeric;
    v_c numeric;
    v_lot bigint;
    v_charged numeric := 0;
    v_released numeric := 0;
    v_avail numeric;
    v_more record;
    h jsonb;
    v_account bigint;
    v_trial boolean;
    v_used numeric;
BEGIN
    SELECT account_id INTO v_account FROM ledger_reservations WHERE id = v_id;
    IF NOT FOUND THEN
        RETURN '{"error": "not_found"}';
    END IF;
    v_acc := ledger_lock(v_account);
    IF v_acc.id = v_acc.pool_id THEN
        v_pool := v_acc;
    ELSE
        SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    END IF;
    v_trial := v_acc.trial_cap IS NOT NULL;
    v_used := v_acc.trial_used;
    SELECT * INTO v_res FROM ledger_reservations WHERE pool_id = v_pool.id AND id = v_id;
    v_r := ledger_close_replay(v_res, 'commit', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    v_custom := v_key <> 'commit:' || v_id;
    IF v_custom THEN
        v_r := ledger_replay(v_pool.id, v_acc.id, 'commit', p);
        IF v_r IS NOT NULL THEN
            RETURN v_r;
        END IF;
    END IF;
    IF v_res.status IN ('committed', 'released') THEN
        RETURN '{"error": "reservation_closed"}';
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    v_bal := v_pool.balance;
    v_alloc := v_acc.allocation;
    v_left := v_actual;
    IF v_res.status = 'open' THEN
        FOR h IN SELECT * FROM jsonb_array_elements(v_res.holds) LOOP
            v_h := (h->>'amount')::numeric;
            v_lot := (h->>'lot')::bigint;
            v_c := least(v_left, v_h);
            -- the hold comes back to the lot, then what is charged leaves it;
            -- the charge's row carries the call (key, request, session,
            -- detail), the release beside it only its amount, model and
            -- labels: the row is not written twice (storage per request)
            IF v_c > 0 THEN
                INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                           idempotency_key, model, request_id, session_id, detail, occurred_at, at, project, key_label)
                VALUES (v_pool.id, v_acc.id, v_lot, v_op, 'reservation_release', v_h, v_bal + v_h, v_res.id,
                        '', v_res.model, '', '', NULL, v_at, v_at, v_res.project, v_res.key_label),
                       (v_pool.id, v_acc.id, v_lot, v_op, 'deduction', -v_c, v_bal + v_h - v_c, v_res.id,
                        v_key, v_res.model, v_res.request_id, v_res.session_id, v_detail, v_at, v_at, v_res.project, v_res.key_label);
            ELSE
                INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                           idempotency_key, model, request_id, session_id, detail, occurred_at, at, project, key_label)
                VALUES (v_pool.id, v_acc.id, v_lot, v_op, 'reservation_release', v_h, v_bal + v_h, v_res.id,
                        v_key, v_res.model, v_res.request_id, v_res.session_id, v_detail, v_at, v_at, v_res.project, v_res.key_label);
            END IF;
            v_bal := v_bal + v_h - v_c;
            v_left := v_left - v_c;
            v_charged := v_charged + v_c;
            IF v_h > v_c THEN
                UPDATE ledger_lots SET remaining = remaining + (v_h - v_c) WHERE pool_id = v_pool.id AND id = v_lot;
                v_released := v_released + (v_h - v_c);
            END IF;
        END LOOP;
        IF v_alloc IS NOT NULL THEN
            v_alloc := v_alloc + v_released;
        END IF;
        IF v_trial THEN
            -- the hold leaves the trial count; what it charged stays
            v_used := greatest(v_used - v_res.amount, 0) + v_charged;
        END IF;
    ELSIF v_res.status = 'expired_charged' THEN
        -- the sweep already charged the whole hold (and left it in the
        -- trial count); only an excess remains
        v_left := greatest(v_actual - v_res.amount, 0);
    END IF;
    IF v_left > 0 THEN
        p := p || jsonb_build_object('model', v_res.model, 'session_id', v_res.session_id, 'request_id', v_res.request_id,
                                     'project', v_res.project, 'key_label', v_res.key_label);
        SELECT * INTO v_more FROM ledger_spend_more(v_pool.id, v_acc.id,
            CASE WHEN v_trial THEN least(v_left, greatest(v_acc.trial_cap - v_used, 0)) ELSE v_left END,
            v_alloc, v_bal, v_op, v_res.id, p, v_at, v_trial);
        v_bal := v_more.balance;
        v_alloc := v_more.allocation;
        v_left := v_left - v_more.charged;
        v_charged := v_charged + v_more.charged;
        v_used := v_used + v_more.charged;
        IF v_left > 0 THEN
            PERFORM ledger_emit(v_pool.id, v_acc.id, NULL, v_op, 'unpaid_usage', 0, v_bal, v_left, v_res.id, p, v_at);
        END IF;
    END IF;
    -- the budgets: the hold leaves them and what was charged enters (after
    -- the sweep charged the hold, only the excess is new)
    UPDATE ledger_accounts SET balance = v_bal, last_at = v_at,
        reserved = reserved - CASE WHEN v_res.status = 'open' THEN v_res.amount ELSE 0 END,
        budget_used = ledger_budget_settle(v_pool.id, v_pool.budget_ids, v_pool.budget_starts, v_pool.budget_used,
            v_res.budget_ids, v_res.budget_slots, v_res.budget_starts,
            v_charged - CASE WHEN v_res.status = 'open' THEN v_res.amount ELSE 0 END, v_at)
    WHERE id = v_pool.id;
    IF v_acc.id <> v_pool.id AND v_alloc IS DISTINCT FROM v_acc.allocation THEN
        UPDATE ledger_accounts SET allocation = v_alloc WHERE id = v_acc.id;
    END IF;
    IF v_trial THEN
        UPDATE ledger_accounts SET trial_used = v_used WHERE id = v_acc.id;
    END IF;
    IF p ? 'grace' THEN
        PERFORM ledger_grace(v_pool.id, v_acc.id, v_bal, v_op, p, v_at);
    END IF;
    SELECT coalesce(sum(remaining), 0) INTO v_avail FROM ledger_lots
    WHERE pool_id = v_pool.id AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_at);
    IF v_alloc IS NOT NULL THEN
        v_avail := least(v_avail, v_alloc);
    END IF;
    v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_res.id, 'charged', v_charged,
                              'released', v_released, 'unpaid', v_left, 'available', v_avail,
                              'plan_charged', ledger_plan_share(v_pool.id, v_op, v_at));
    UPDATE ledger_reservations SET status = 'committed', closed_at = v_at,
        close_key = v_key, close_op = 'commit', close_hash = coalesce(p->>'hash', ''), close_result = v_r
    WHERE pool_id = v_pool.id AND id = v_res.id;
    IF v_custom THEN
        PERFORM ledger_remember(v_pool.id, v_acc.id, 'commit', p, v_r);
    END IF;
    RETURN v_r;
END $$;

-- ledger_release frees a reservation's hold: p {reservation_id, key, hash,
-- now}. Like commit, it keeps its idempotency record on the reservation.
-- An account in trial gets the hold back in its trial count too.
CREATE OR REPLACE FUNCTION ledger_release(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint := (p->>'reservation_id')::bigint;
    v_res ledger_reservations;
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_key text := coalesce(p->>'key', '');
    v_op bigint;
    v_bal numeric;
    v_h numeric;
    v_avail numeric;
    v_alloc numeric;
    h jsonb;
    v_account bigint;
BEGIN
    SELECT account_id INTO v_account FROM ledger_reservations WHERE id = v_id;
    IF NOT FOUND THEN
        RETURN '{"error": "not_found"}';
    END IF;
    v_acc := ledger_lock(v_account);
    IF v_acc.id = v_acc.pool_id THEN
        v_pool := v_acc;
    ELSE
        SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    END IF;
    SELECT * INTO v_res FROM ledger_reservations WHERE pool_id = v_pool.id AND id = v_id;
    v_r := ledger_close_replay(v_res, 'release', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    IF v_res.status <> 'open' THEN
        RETURN '{"error": "reservation_closed"}';
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    v_bal := v_pool.balance;
    FOR h IN SELECT * FROM jsonb_array_elements(v_res.holds) LOOP
        v_h := (h->>'amount')::numeric;
        v_bal := v_bal + v_h;
        INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                   idempotency_key, model, request_id, session_id, occurred_at, at, project, key_label)
        VALUES (v_pool.id, v_acc.id, (h->>'lot')::bigint, v_op, 'reservation_release', v_h, v_bal, v_res.id,
                v_key, v_res.model, v_res.request_id, v_res.session_id, v_at, v_at, v_res.project, v_res.key_label);
        UPDATE ledger_lots SET remaining = remaining + v_h WHERE pool_id = v_pool.id AND id = (h->>'lot')::bigint;
    END LOOP;
    UPDATE ledger_accounts SET balance = v_bal, reserved = reserved - v_res.amount, last_at = v_at,
        budget_used = ledger_budget_settle(v_pool.id, v_pool.budget_ids, v_pool.budget_starts, v_pool.budget_used,
            v_res.budget_ids, v_res.budget_slots, v_res.budget_starts, -v_res.amount, v_at)
    WHERE id = v_pool.id;
    v_alloc := v_acc.allocation;
    IF v_acc.id <> v_pool.id AND v_alloc IS NOT NULL THEN
        v_alloc := v_alloc + v_res.amount;
        UPDATE ledger_accounts SET allocation = v_alloc WHERE id = v_acc.id;
    END IF;
    IF v_acc.trial_cap IS NOT NULL THEN
        UPDATE ledger_accounts SET trial_used = greatest(trial_used - v_res.amount, 0) WHERE id = v_acc.id;
    END IF;
    SELECT coalesce(sum(remaining), 0) INTO v_avail FROM ledger_lots
    WHERE pool_id = v_pool.id AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_at);
    IF v_alloc IS NOT NULL THEN
        v_avail := least(v_avail, v_alloc);
    END IF;
    v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_res.id, 'released', v_res.amount, 'available', v_avail);
    UPDATE ledger_reservations SET status = 'released', closed_at = v_at,
        close_key = v_key, close_op = 'release', close_hash = coalesce(p->>'hash', ''), close_result = v_r
    WHERE pool_id = v_pool.id AND id = v_res.id;
    RETURN v_r;
END $$;

-- ledger_charge deducts usage that already happened: p {account_id, amount,
-- key, hash, model, session_id, request_id, occurred_at, detail, now, grace}.
-- What the available balance cannot cover is recorded as unpaid usage. The
-- result names the pool whose lots it spent ("pool"), as a reserve's does,
-- so the Go side learns an account's pool from its first charge.
--
-- An account in trial is charged from granted lots only; a charge that
-- would need its paid credit (trial_paid_credit) or take its trial_used past
-- the cap (trial_cap_reached) is refused, as its reservation would be.
-- So is one that would pass a hard-stop budget (budget_exceeded): p may
-- carry the labels project and key_label, as a reserve's.
CREATE OR REPLACE FUNCTION ledger_charge(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_amount numeric := (p->>'amount')::numeric;
    v_op bigint;
    v_more record;
    v_left numeric;
    v_trial boolean;
    v_granted numeric;
    v_paid numeric;
    v_bids bigint[];
    v_bstarts timestamptz[];
    v_bslots integer[];
    v_pstarts timestamptz[];
    v_pused numeric[];
    v_refusal jsonb;
    v_mode text;
    v_shadow text;
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    v_mode := coalesce(v_acc.enforcement, v_pool.enforcement, p->>'enforcement', 'enforce');
    v_r := ledger_replay(v_pool.id, v_acc.id, 'charge', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    IF v_acc.status = 'frozen' OR v_pool.status = 'frozen' THEN
        RETURN '{"error": "account_frozen"}';
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_trial := v_acc.trial_cap IS NOT NULL;
    IF v_trial THEN
        SELECT coalesce(sum(remaining) FILTER (WHERE kind NOT IN ('paid', 'credit')), 0),
               coalesce(sum(remaining) FILTER (WHERE kind IN ('paid', 'credit')), 0)
        INTO v_granted, v_paid FROM ledger_lots
        WHERE pool_id = v_pool.id AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_at);
        IF v_amount > v_granted AND v_paid > 0 THEN
            RETURN '{"error": "trial_paid_credit"}';
        END IF;
        IF v_acc.trial_used + v_amount > v_acc.trial_cap THEN
            RETURN jsonb_build_object('error', 'trial_cap_reached', 'available', greatest(v_acc.trial_cap - v_acc.trial_used, 0));
        END IF;
    END IF;
    IF v_pool.budgeted AND v_mode <> 'off' THEN
        SELECT h.ids, h.slots, h.starts, h.pool_starts, h.pool_used, h.refusal
        INTO v_bids, v_bslots, v_bstarts, v_pstarts, v_pused, v_refusal
        FROM ledger_budget_hold(v_pool, v_acc.id, coalesce(p->>'project', ''), coalesce(p->>'key_label', ''), v_amount, v_at,
                               v_mode = 'shadow') h;
        IF v_refusal IS NOT NULL AND v_mode = 'enforce' THEN
            RETURN v_refusal;
        END IF;
        IF v_refusal IS NOT NULL THEN
            v_shadow := 'budget_exceeded';
        END IF;
    END IF;
    v_op := nextval('ledger_op_seq');
    SELECT * INTO v_more FROM ledger_spend_more(v_pool.id, v_acc.id, v_amount, v_acc.allocation, v_pool.balance, v_op, NULL, p, v_at, v_trial);
    v_left := v_amount - v_more.charged;
    IF v_left > 0 THEN
        PERFORM ledger_emit(v_pool.id, v_acc.id, NULL, v_op, 'unpaid_usage', 0, v_more.balance, v_left, NULL, p, v_at);
    END IF;
    IF v_bids IS NOT NULL THEN
        -- the budgets counted the whole amount; what could not be paid leaves them
        v_pused := ledger_budget_settle(v_pool.id, v_pool.budget_ids, v_pstarts, v_pused, v_bids, v_bslots, v_bstarts,
                                        v_more.charged - v_amount, v_at);
    END IF;
    UPDATE ledger_accounts SET balance = v_more.balance, last_at = v_at,
        budget_starts = coalesce(v_pstarts, budget_starts), budget_used = coalesce(v_pused, budget_used)
    WHERE id = v_pool.id;
    IF v_acc.id <> v_pool.id AND v_acc.allocation IS NOT NULL THEN
        UPDATE ledger_accounts SET allocation = v_more.allocation WHERE id = v_acc.id;
    END IF;
    IF v_trial THEN
        UPDATE ledger_accounts SET trial_used = trial_used + v_more.charged WHERE id = v_acc.id;
    END IF;
    PERFORM ledger_grace(v_pool.id, v_acc.id, v_more.balance, v_op, p, v_at);
    v_r := jsonb_build_object('op_id', v_op, 'charged', v_more.charged, 'unpaid', v_left,
                              'available', ledger_available(v_acc.id, v_at), 'pool', v_pool.id,
                              'plan_charged', ledger_plan_share(v_pool.id, v_op, v_at));
    IF v_shadow IS NOT NULL THEN
        INSERT INTO ledger_shadow_refusals (pool_id, account_id, op, code, amount, available, op_id, model, at)
        VALUES (v_pool.id, v_acc.id, 'charge', v_shadow, v_amount, (v_refusal->>'available')::numeric, v_op,
                coalesce(p->>'model', ''), v_at);
        v_r := v_r || jsonb_build_object('shadow_refusal', v_shadow);
    END IF;
    PERFORM ledger_remember(v_pool.id, v_acc.id, 'charge', p, v_r);
    RETURN v_r;
END $$;

-- ledger_refund gives back the unconsumed part of a paid lot: p {lot_id,
-- amount, fen, bonus, key, hash, actor, reason_code, source_ref, now}.
-- fen (what the credits are worth at the lot's price, ledger.LotValue) is
-- added to the lot's refunded_fen, never beyond its paid_fen. bonus
-- {lot_id, revoked, charged, charged_fen} takes back the share of the bonus
-- lot granted with the paid lot in the same operation: revoked unspent
-- credits leave it as an expiry event with reason refund_bonus (and count
-- in its refunded); the refund event's detail records fen and the bonus
-- figures, which the revenue report reads.
CREATE OR REPLACE FUNCTION ledger_refund(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_lot ledger_lots;
    v_bonus ledger_lots;
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_amount numeric := (p->>'amount')::numeric;
    v_fen bigint := coalesce((p->>'fen')::bigint, 0);
    v_revoke numeric := coalesce((p->'bonus'->>'revoked')::numeric, 0);
    v_detail jsonb;
    v_op bigint;
    v_account bigint;
BEGIN
    SELECT account_id INTO v_account FROM ledger_lots WHERE id = (p->>'lot_id')::bigint;
    IF NOT FOUND THEN
        RETURN '{"error": "not_found"}';
    END IF;
    v_acc := ledger_lock(v_account);
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    v_r := ledger_replay(v_pool.id, v_acc.id, 'refund', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    SELECT * INTO v_lot FROM ledger_lots WHERE pool_id = v_pool.id AND id = (p->>'lot_id')::bigint;
    IF v_lot.kind <> 'paid' THEN
        RETURN '{"error": "not_refundable"}';
    END IF;
    IF v_amount > v_lot.remaining THEN
        RETURN jsonb_build_object('error', 'refund_exceeds_lot', 'available', v_lot.remaining);
    END IF;
    IF v_fen < 0 OR v_lot.refunded_fen + v_fen > coalesce(v_lot.paid_fen, v_lot.refunded_fen + v_fen) THEN
        RETURN '{"error": "invalid_argument"}';
    END IF;
    IF p ? 'bonus' THEN
        SELECT * INTO v_bonus FROM ledger_lots WHERE pool_id = v_pool.id AND id = (p->'bonus'->>'lot_id')::bigint;
        IF NOT FOUND OR v_bonus.kind IN ('paid', 'credit') OR v_revoke < 0 OR v_revoke > v_bonus.remaining THEN
            RETURN '{"error": "invalid_argument"}';
        END IF;
        v_detail := jsonb_build_object('bonus_lot', v_bonus.id, 'bonus_revoked', v_revoke,
                                       'bonus_charged', (p->'bonus'->>'charged')::numeric,
                                       'bonus_fen', (p->'bonus'->>'charged_fen')::bigint);
    END IF;
    IF p ? 'fen' THEN
        v_detail := coalesce(v_detail, '{}') || jsonb_build_object('fen', v_fen);
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    UPDATE ledger_lots SET remaining = remaining - v_amount, refunded = refunded + v_amount, refunded_fen = refunded_fen + v_fen
    WHERE pool_id = v_pool.id AND id = v_lot.id;
    PERFORM ledger_emit(v_pool.id, v_acc.id, v_lot.id, v_op, 'refund', -v_amount, v_pool.balance - v_amount, 0, NULL,
                        p || jsonb_build_object('detail', v_detail), v_at);
    IF v_revoke > 0 THEN
        UPDATE ledger_lots SET remaining = remaining - v_revoke, refunded = refunded + v_revoke
        WHERE pool_id = v_pool.id AND id = v_bonus.id;
        PERFORM ledger_emit(v_pool.id, v_bonus.account_id, v_bonus.id, v_op, 'expiry', -v_revoke,
                            v_pool.balance - v_amount - v_revoke, 0, NULL,
                            p || jsonb_build_object('reason_code', 'refund_bonus', 'detail', jsonb_build_object('refund_lot', v_lot.id)), v_at);
    END IF;
    UPDATE ledger_accounts SET balance = balance - v_amount - v_revoke, last_at = v_at,
        paid_fen = paid_fen - v_fen,
        max_open = CASE WHEN v_fen <> 0 THEN ledger_tier_cap(paid_fen - v_fen) ELSE max_open END
    WHERE id = v_pool.id;
    v_r := jsonb_build_object('op_id', v_op, 'lot_id', v_lot.id, 'refunded', v_amount,
                              'remaining', v_lot.remaining - v_amount, 'bonus_revoked', v_revoke);
    PERFORM ledger_remember(v_pool.id, v_acc.id, 'refund', p, v_r);
    RETURN v_r;
END $$;

-- ledger_revoke takes back what is left of a granted lot (plan or promo)
-- before its expiry, as an expiry event with the caller's reason code
-- (plans' yearly refund revokes the remaining plan lots, reason
-- plan_refund): p {lot_id, key, hash, actor, reason_code, source_ref, now},
-- and amount to take at most that much of it (a referral reward's share
-- when the top-up it rewarded is partly refunded; absent: all that is left).
-- Credit held by open reservations is not in remaining and is left to
-- their commit or release. A lot with nothing left writes no event.
CREATE OR REPLACE FUNCTION ledger_revoke(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_lot ledger_lots;
    v_take numeric;
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_op bigint;
    v_account bigint;
BEGIN
    SELECT account_id INTO v_account FROM ledger_lots WHERE id = (p->>'lot_id')::bigint;
    IF NOT FOUND THEN
        RETURN '{"error": "not_found"}';
    END IF;
    v_acc := ledger_lock(v_account);
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    v_r := ledger_replay(v_pool.id, v_acc.id, 'revoke', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    SELECT * INTO v_lot FROM ledger_lots WHERE pool_id = v_pool.id AND id = (p->>'lot_id')::bigint;
    IF v_lot.kind IN ('paid', 'credit') THEN
        RETURN '{"error": "invalid_argument"}';
    END IF;
    v_op := 0;
    v_take := v_lot.remaining;
    IF p ? 'amount' THEN
        v_take := least(v_take, greatest((p->>'amount')::numeric, 0));
    END IF;
    IF v_take > 0 THEN
        v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
        v_op := nextval('ledger_op_seq');
        UPDATE ledger_lots SET remaining = remaining - v_take WHERE pool_id = v_pool.id AND id = v_lot.id;
        PERFORM ledger_emit(v_pool.id, v_lot.account_id, v_lot.id, v_op, 'expiry', -v_take,
                            v_pool.balance - v_take, 0, NULL, p, v_at);
        UPDATE ledger_accounts SET balance = balance - v_take, last_at = v_at WHERE id = v_pool.id;
    END IF;
    v_r := jsonb_build_object('op_id', v_op, 'lot_id', v_lot.id, 'revoked', v_take);
    PERFORM ledger_remember(v_pool.id, v_acc.id, 'revoke', p, v_r);
    RETURN v_r;
END $$;

-- ledger_transfer moves spending allocation between two accounts of one
-- enterprise: p {from, to, amount, key, hash, actor, reason_code, now}.
CREATE OR REPLACE FUNCTION ledger_transfer(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_from ledger_accounts;
    v_to ledger_accounts;
    v_pool ledger_accounts;
    v_r jsonb;
    v_at timestamptz;
    v_amount numeric := (p->>'amount')::numeric;
    v_op bigint;
    v_from_alloc numeric;
    v_to_alloc numeric;
BEGIN
    v_from := ledger_lock((p->>'from')::bigint);
    SELECT * INTO v_to FROM ledger_accounts WHERE id = (p->>'to')::bigint;
    IF v_from.id IS NULL OR v_to.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_from.pool_id;
    IF v_from.pool_id <> v_to.pool_id OR v_pool.kind <> 'enterprise' OR v_from.id = v_to.id THEN
        RETURN '{"error": "cross_enterprise_transfer"}';
    END IF;
    v_r := ledger_replay(v_pool.id, v_from.id, 'transfer', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    IF v_from.allocation IS NOT NULL AND v_from.allocation < v_amount THEN
        RETURN jsonb_build_object('error', 'allocation_exceeded', 'available', v_from.allocation);
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    v_from_alloc := v_from.allocation - v_amount;
    v_to_alloc := v_to.allocation + v_amount;
    UPDATE ledger_accounts SET allocation = v_from_alloc WHERE id = v_from.id;
    UPDATE ledger_accounts SET allocation = v_to_alloc WHERE id = v_to.id;
    PERFORM ledger_emit(v_pool.id, v_from.id, NULL, v_op, 'transfer', -v_amount, v_pool.balance, 0, NULL,
                        p || jsonb_build_object('detail', jsonb_build_object('to', v_to.id, 'allocation_after', v_from_alloc)), v_at);
    PERFORM ledger_emit(v_pool.id, v_to.id, NULL, v_op, 'transfer', v_amount, v_pool.balance, 0, NULL,
                        p || jsonb_build_object('detail', jsonb_build_object('from', v_from.id, 'allocation_after', v_to_alloc)), v_at);
    UPDATE ledger_accounts SET last_at = v_at WHERE id = v_pool.id;
    v_r := jsonb_build_object('op_id', v_op, 'from_allocation', v_from_alloc, 'to_allocation', v_to_alloc);
    PERFORM ledger_remember(v_pool.id, v_from.id, 'transfer', p, v_r);
    RETURN v_r;
END $$;

-- ledger_set_account changes status or allocation, or ends an account's
-- trial, and records who did it: p {account_id, status?, allocation?,
-- set_allocation, end_trial, actor, reason_code, now}. Ending a trial
-- (verification passed) clears trial_cap, writing a status event with
-- {"trial": "ended"}; an account not in trial is left as it is.
CREATE OR REPLACE FUNCTION ledger_set_account(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_acc ledger_accounts;
    v_pool ledger_accounts;
    v_at timestamptz;
    v_op bigint;
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    IF p ? 'status' THEN
        UPDATE ledger_accounts SET status = (p->>'status')::ledger_account_status WHERE id = v_acc.id;
        PERFORM ledger_emit(v_pool.id, v_acc.id, NULL, v_op, 'status', 0, v_pool.balance, 0, NULL,
                            p || jsonb_build_object('detail', jsonb_build_object('status', p->>'status')), v_at);
    END IF;
    IF (p->>'set_allocation')::boolean THEN
        IF v_acc.kind <> 'sub' THEN
            RETURN '{"error": "invalid_argument"}';
        END IF;
        UPDATE ledger_accounts SET allocation = (p->>'allocation')::numeric WHERE id = v_acc.id;
        PERFORM ledger_emit(v_pool.id, v_acc.id, NULL, v_op, 'allocation', 0, v_pool.balance, 0, NULL,
                            p || jsonb_build_object('detail', jsonb_build_object('allocation', p->'allocation')), v_at);
    END IF;
    IF (p->>'end_trial')::boolean AND v_acc.trial_cap IS NOT NULL THEN
        UPDATE ledger_accounts SET trial_cap = NULL WHERE id = v_acc.id;
        PERFORM ledger_emit(v_pool.id, v_acc.id, NULL, v_op, 'status', 0, v_pool.balance, 0, NULL,
                            p || jsonb_build_object('detail', jsonb_build_object('trial', 'ended',
                                'trial_cap', v_acc.trial_cap, 'trial_used', v_acc.trial_used)), v_at);
    END IF;
    UPDATE ledger_accounts SET last_at = v_at WHERE id = v_pool.id;
    RETURN jsonb_build_object('op_id', v_op);
END $$;

-- ledger_expire_due writes an expiry event for the remainder of up to
-- p_batch lots past their expiry; pools are locked in id order so several
-- sweepers never deadlock, and each lot is re-read under the lock.
CREATE OR REPLACE FUNCTION ledger_expire_due(p_now timestamptz, p_batch int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_lot ledger_lots;
    v_pool ledger_accounts;
    v_at timestamptz;
    v_op bigint;
    v_n int := 0;
BEGIN
    FOR c IN SELECT pool_id, id FROM ledger_lots
             WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= p_now
             ORDER BY pool_id, id LIMIT p_batch LOOP
        SELECT * INTO v_pool FROM ledger_accounts WHERE id = c.pool_id FOR UPDATE;
        SELECT * INTO v_lot FROM ledger_lots WHERE pool_id = c.pool_id AND id = c.id;
        CONTINUE WHEN v_lot.remaining = 0;
        v_at := greatest(p_now, coalesce(v_pool.last_at, '-infinity'));
        v_op := nextval('ledger_op_seq');
        UPDATE ledger_lots SET remaining = 0 WHERE pool_id = c.pool_id AND id = c.id;
        PERFORM ledger_emit(c.pool_id, v_lot.account_id, c.id, v_op, 'expiry', -v_lot.remaining,
                            v_pool.balance - v_lot.remaining, 0, NULL,
                            jsonb_build_object('actor', 'system', 'reason_code', 'lot_expired', 'source_ref', v_lot.source_ref), v_at);
        UPDATE ledger_accounts SET balance = balance - v_lot.remaining, last_at = v_at WHERE id = c.pool_id;
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END $$;

-- ledger_sweep_reservations closes up to p_batch open reservations past
-- their TTL: 'release' gives the hold back (to an account in trial, to its
-- trial count too), 'charge' charges it in full.
CREATE OR REPLACE FUNCTION ledger_sweep_reservations(p_now timestamptz, p_policy text, p_batch int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_res ledger_reservations;
    v_pool ledger_accounts;
    v_acc ledger_accounts;
    v_at timestamptz;
    v_op bigint;
    v_bal numeric;
    v_h numeric;
    h jsonb;
    v_p jsonb;
    v_n int := 0;
BEGIN
    FOR c IN SELECT pool_id, id FROM ledger_reservations
             WHERE status = 'open' AND expires_at <= p_now
             ORDER BY pool_id, id LIMIT p_batch LOOP
        SELECT * INTO v_pool FROM ledger_accounts WHERE id = c.pool_id FOR UPDATE;
        SELECT * INTO v_res FROM ledger_reservations WHERE pool_id = c.pool_id AND id = c.id;
        CONTINUE WHEN v_res.status <> 'open';
        SELECT * INTO v_acc FROM ledger_accounts WHERE id = v_res.account_id;
        v_at := greatest(p_now, coalesce(v_pool.last_at, '-infinity'));
        v_op := nextval('ledger_op_seq');
        v_bal := v_pool.balance;
        v_p := jsonb_build_object('actor', 'system', 'reason_code', 'reservation_ttl', 'model', v_res.model,
                                  'session_id', v_res.session_id, 'request_id', v_res.request_id,
                                  'project', v_res.project, 'key_label', v_res.key_label);
        FOR h IN SELECT * FROM jsonb_array_elements(v_res.holds) LOOP
            v_h := (h->>'amount')::numeric;
            v_bal := v_bal + v_h;
            PERFORM ledger_emit(c.pool_id, v_res.account_id, (h->>'lot')::bigint, v_op, 'reservation_release', v_h, v_bal, 0, v_res.id, v_p, v_at);
            IF p_policy = 'charge' THEN
                v_bal := v_bal - v_h;
                PERFORM ledger_emit(c.pool_id, v_res.account_id, (h->>'lot')::bigint, v_op, 'reservation_expired_charge', -v_h, v_bal, 0, v_res.id, v_p, v_at);
            ELSE
                UPDATE ledger_lots SET remaining = remaining + v_h WHERE pool_id = c.pool_id AND id = (h->>'lot')::bigint;
            END IF;
        END LOOP;
        UPDATE ledger_reservations SET status = (CASE WHEN p_policy = 'charge' THEN 'expired_charged' ELSE 'expired' END)::ledger_reservation_status,
            closed_at = v_at WHERE pool_id = c.pool_id AND id = c.id;
        UPDATE ledger_accounts SET balance = v_bal, reserved = reserved - v_res.amount, last_at = v_at,
            budget_used = CASE WHEN p_policy = 'charge' THEN budget_used
                ELSE ledger_budget_settle(c.pool_id, v_pool.budget_ids, v_pool.budget_starts, v_pool.budget_used,
                    v_res.budget_ids, v_res.budget_slots, v_res.budget_starts, -v_res.amount, v_at) END
        WHERE id = c.pool_id;
        IF p_policy <> 'charge' AND v_acc.id <> v_pool.id AND v_acc.allocation IS NOT NULL THEN
            UPDATE ledger_accounts SET allocation = allocation + v_res.amount WHERE id = v_acc.id;
        END IF;
        IF p_policy <> 'charge' AND v_acc.trial_cap IS NOT NULL THEN
            -- released: the hold leaves the trial count (charged, it stays)
            UPDATE ledger_accounts SET trial_used = greatest(trial_used - v_res.amount, 0) WHERE id = v_acc.id;
        END IF;
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END $$;

-- ledger_retire moves what no retry can reach any more out of the hot
-- tables into their archives, at most p_batch rows of each per call:
-- closed reservations, in id order up to the first one still open or
-- closed at or after p_cutoff (so every id up to the new
-- ledger_retention.reservations_through has left, and a commit or release
-- of one is refused as retry_window_passed), and the idempotency records
-- of the per-request operations (reserve, charge, commit, release) created
-- before p_cutoff, whose keys ledger_replay then refuses. Records of
-- credits, refunds and transfers stay: payments may retry them at any
-- time, and there are few. It sets ledger.retiring for its transaction,
-- which ledger_retire_guard (migration 001550) requires with the owner
-- role, so the application role cannot run it. Returns
-- {"reservations": n, "idempotency": n, "reservations_through": id}.
CREATE OR REPLACE FUNCTION ledger_retire(p_cutoff timestamptz, p_batch int) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_through bigint;
    v_stop bigint;
    v_last bigint;
    v_res bigint := 0;
    v_idem bigint := 0;
BEGIN
    PERFORM set_config('ledger.retiring', 'on', true);
    SELECT reservations_through INTO v_through FROM ledger_retention FOR UPDATE;
    SELECT min(c.id) FILTER (WHERE c.status = 'open' OR c.closed_at IS NULL OR c.closed_at >= p_cutoff), max(c.id)
    INTO v_stop, v_last
    FROM (SELECT id, status, closed_at FROM ledger_reservations WHERE id > v_through ORDER BY id LIMIT p_batch) c;
    IF v_last IS NOT NULL THEN
        v_last := coalesce(v_stop - 1, v_last);
        WITH gone AS (
            DELETE FROM ledger_reservations r WHERE r.id > v_through AND r.id <= v_last RETURNING r.*)
        INSERT INTO ledger_reservations_archive SELECT g.*, now() FROM gone g;
        GET DIAGNOSTICS v_res = ROW_COUNT;
        v_through := greatest(v_through, v_last);
    END IF;
    WITH c AS (
        SELECT pool_id, account_id, key FROM ledger_idempotency
        WHERE created_at < p_cutoff AND op IN ('reserve', 'charge', 'commit', 'release') LIMIT p_batch),
    gone AS (
        DELETE FROM ledger_idempotency i USING c
        WHERE i.pool_id = c.pool_id AND i.account_id = c.account_id AND i.key = c.key RETURNING i.*)
    INSERT INTO ledger_idempotency_archive SELECT g.*, now() FROM gone g;
    GET DIAGNOSTICS v_idem = ROW_COUNT;
    UPDATE ledger_retention SET reservations_through = v_through,
        idempotency_before = CASE WHEN v_idem < p_batch THEN greatest(idempotency_before, p_cutoff) ELSE idempotency_before END,
        retired_at = now();
    PERFORM set_config('ledger.retiring', 'off', true);
    RETURN jsonb_build_object('reservations', v_res, 'idempotency', v_idem, 'reservations_through', v_through);
END $$;

-- ledger_reserve_t is ledger_reserve for an account that is its own pool,
-- on the running state st of that pool (locked and read earlier in this
-- batch; NULL before the first operation on it), returning the new state
-- and the result. Anything else (a sub-account, an allocation, an account
-- in trial) is handed to ledger_reserve after writing st back.
CREATE OR REPLACE FUNCTION ledger_reserve_t(p jsonb, st ledger_accounts) RETURNS ledger_step LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint := (p->>'account_id')::bigint;
    v_r jsonb;
    v_iop text;
    v_ihash text;
    v_at timestamptz;
    v_amount numeric := (p->>'amount')::numeric;
    v_key text := coalesce(p->>'key', '');
    v_model text := coalesce(p->>'model', '');
    v_session text := coalesce(p->>'session_id', '');
    v_request text := coalesce(p->>'request_id', '');
    v_detail jsonb := nullif(p->'detail', 'null'::jsonb);
    v_project text := coalesce(p->>'project', '');
    v_label text := coalesce(p->>'key_label', '');
    v_bids bigint[];
    v_bstarts timestamptz[];
    v_bslots integer[];
    v_pstarts timestamptz[];
    v_pused numeric[];
    v_pends timestamptz[];
    v_plimits numeric[];
    v_scopes text[];
    v_fast boolean;
    v_refusal jsonb;
    v_left numeric := v_amount;
    v_seen numeric := 0;
    v_lots bigint[] := '{}';
    v_takes numeric[] := '{}';
    v_kinds text[] := '{}';
    v_op bigint;
    v_res bigint;
    v_bal numeric;
    v_holds jsonb := '[]';
    v_exp timestamptz;
    l record;
BEGIN
    IF st.id IS DISTINCT FROM v_id THEN
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at,
                budget_starts = st.budget_starts, budget_used = st.budget_used WHERE id = st.id;
        END IF;
        SELECT * INTO st FROM ledger_accounts WHERE id = v_id AND pool_id = v_id FOR UPDATE;
    END IF;
    IF st.id IS NULL OR st.allocation IS NOT NULL OR st.trial_cap IS NOT NULL OR st.enforcement IS NOT NULL
       OR p ? 'enforcement' OR p ? 'shadow_refusal' THEN
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at,
                budget_starts = st.budget_starts, budget_used = st.budget_used WHERE id = st.id;
        END IF;
        RETURN ROW(NULL, ledger_reserve(p))::ledger_step;
    END IF;
    IF v_key <> '' THEN
        -- ledger_replay, inlined: the hot table, then the archive
        SELECT op, args_hash, result INTO v_iop, v_ihash, v_r FROM ledger_idempotency
        WHERE pool_id = st.id AND account_id = st.id AND key = v_key
        UNION ALL
        SELECT NULL, NULL, '{"error": "retry_window_passed"}'::jsonb FROM ledger_idempotency_archive
        WHERE pool_id = st.id AND account_id = st.id AND hashtextextended(key, 0) = hashtextextended(v_key, 0) AND key = v_key
        LIMIT 1;
        IF FOUND THEN
            IF v_iop IS NULL THEN
                RETURN ROW(st, v_r)::ledger_step; -- archived: retry_window_passed
            END IF;
            IF v_iop = 'reserve' AND v_ihash = coalesce(p->>'hash', '') THEN
                RETURN ROW(st, v_r || '{"replayed": true}')::ledger_step;
            END IF;
            RETURN ROW(st, '{"error": "idempotency_conflict"}'::jsonb)::ledger_step;
        END IF;
    END IF;
    IF st.status = 'frozen' THEN
        RETURN ROW(st, '{"error": "account_frozen"}'::jsonb)::ledger_step;
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(st.last_at, '-infinity'));
    FOR l IN SELECT o.id, o.remaining, o.kind FROM ledger_spend_order(st.id, v_at, false) o LOOP
        EXIT WHEN v_left <= 0;
        v_lots := v_lots || l.id;
        v_kinds := v_kinds || l.kind;
        v_takes := v_takes || least(v_left, l.remaining);
        v_left := v_left - least(v_left, l.remaining);
        v_seen := v_seen + l.remaining;
    END LOOP;
    IF v_left > 0 THEN
        RETURN ROW(st, jsonb_build_object('error', 'insufficient_credits', 'available', v_seen))::ledger_step;
    END IF;
    -- two tests, so that the count is planned only for a capped pool: as one
    -- expression its custom plan folded a NULL cap and it was planned again
    -- at every reserve
    IF st.max_open IS NOT NULL THEN
        IF (SELECT count(*) FROM ledger_reservations
            WHERE pool_id = st.id AND status = 'open' AND expires_at > v_at) >= st.max_open THEN
            RETURN ROW(st, jsonb_build_object('error', 'concurrency_limit', 'limit', st.max_open))::ledger_step;
        END IF;
    END IF;
    IF st.budgeted THEN
        -- ledger_budget_hold's fast path, inlined here: calling a function
        -- with the pool's row costs about as much as the rest of the
        -- budget work (TestBudgetFastPathMatchesTheFullPath keeps the two
        -- equal). The call's scopes are the account's own (an account of
        -- this path is its own pool), its project's and its key's.
        v_fast := st.budget_scopes IS NOT NULL;
        IF v_fast THEN
            v_scopes := ARRAY[st.id || '||'];
            IF v_project <> '' THEN
                v_scopes := v_scopes || (st.id || '|' || v_project || '|');
            END IF;
            IF v_label <> '' THEN
                v_scopes := v_scopes || (st.id || '|' || v_project || '|' || v_label);
            END IF;
            v_bids := '{}';
            v_bslots := '{}';
            v_bstarts := '{}';
            v_pused := st.budget_used;
            FOR n IN 1 .. coalesce(cardinality(st.budget_scopes), 0) LOOP
                CONTINUE WHEN st.budget_scopes[n] IS NULL OR NOT st.budget_scopes[n] = ANY (v_scopes);
                IF NOT coalesce(v_at < st.budget_ends[n] AND coalesce(v_pused[n], 0) + v_amount < st.budget_limits[n], false) THEN
                    v_fast := false;
                    EXIT;
                END IF;
                v_bids := v_bids || st.budget_ids[n];
                v_bslots := v_bslots || n;
                v_bstarts := v_bstarts || st.budget_starts[n];
                v_pused[n] := coalesce(v_pused[n], 0) + v_amount;
            END LOOP;
            IF v_fast AND cardinality(v_bids) = 0 THEN
                v_bids := NULL;
                v_bslots := NULL;
                v_bstarts := NULL;
            ELSIF v_fast THEN
                st.budget_used := v_pused;
            END IF;
        END IF;
        IF NOT v_fast THEN
            SELECT h.ids, h.slots, h.starts, h.pool_starts, h.pool_used, h.refusal, h.pool_ends, h.pool_limits
            INTO v_bids, v_bslots, v_bstarts, v_pstarts, v_pused, v_refusal, v_pends, v_plimits
            FROM ledger_budget_hold(st, st.id, v_project, v_label, v_amount, v_at, false) h;
            IF v_refusal IS NOT NULL THEN
                RETURN ROW(st, v_refusal)::ledger_step;
            END IF;
            IF v_bids IS NOT NULL THEN
                st.budget_starts := v_pstarts;
                st.budget_used := v_pused;
                st.budget_ends := v_pends;
                st.budget_limits := v_plimits;
            END IF;
        END IF;
    END IF;
    v_op := nextval('ledger_op_seq');
    v_res := nextval('ledger_reservations_id_seq');
    v_bal := st.balance;
    FOR i IN 1 .. cardinality(v_lots) LOOP
        v_bal := v_bal - v_takes[i];
        UPDATE ledger_lots SET remaining = remaining - v_takes[i] WHERE pool_id = st.id AND id = v_lots[i];
        INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                   idempotency_key, model, request_id, session_id, detail, occurred_at, at,
                                   project, key_label)
        VALUES (st.id, st.id, v_lots[i], v_op, 'reservation', -v_takes[i], v_bal, v_res,
                '', v_model, '', '', NULL, v_at, v_at, v_project, v_label);
        v_holds := v_holds || jsonb_build_object('lot', v_lots[i], 'amount', v_takes[i], 'kind', v_kinds[i]);
    END LOOP;
    v_exp := v_at + make_interval(secs => (p->>'ttl_seconds')::float8);
    INSERT INTO ledger_reservations (pool_id, id, account_id, amount, holds, status, expires_at, model,
                                     session_id, request_id, created_at, project, key_label, budget_ids, budget_starts,
                                     budget_slots, detail)
    OVERRIDING SYSTEM VALUE
    VALUES (st.id, v_res, st.id, v_amount, v_holds, 'open', v_exp, v_model, v_session, v_request, v_at,
            v_project, v_label, v_bids, v_bstarts, v_bslots, v_detail);
    st.balance := v_bal;
    st.reserved := st.reserved + v_amount;
    st.last_at := v_at;
    v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_res, 'account_id', st.id, 'pool', st.id,
                              'amount', v_amount, 'expires_at', v_exp, 'holds', v_holds);
    IF v_key <> '' THEN
        INSERT INTO ledger_idempotency (pool_id, account_id, key, op, args_hash, result)
        VALUES (st.id, st.id, v_key, 'reserve', coalesce(p->>'hash', ''), v_r);
    END IF;
    RETURN ROW(st, v_r)::ledger_step;
END $$;

-- ledger_commit_t is ledger_commit for a reservation of an account that is
-- its own pool p_pool, on the running state st (as ledger_reserve_t),
-- reading the reservation by primary key. A sub-account's reservation, an
-- account in trial's, an unknown or closed one, a custom key or a commit
-- beyond the hold is handed to ledger_commit after writing st back.
CREATE OR REPLACE FUNCTION ledger_commit_t(p jsonb, st ledger_accounts, p_pool bigint) RETURNS ledger_step LANGUAGE plpgsql AS $$
DECLARE
    v_pool_id bigint := p_pool;
    v_id bigint := (p->>'reservation_id')::bigint;
    v_res ledger_reservations;
    v_r jsonb;
    v_at timestamptz;
    v_actual numeric := (p->>'actual')::numeric;
    v_key text := coalesce(p->>'key', '');
    v_detail jsonb := nullif(p->'detail', 'null'::jsonb);
    v_left numeric := v_actual;
    v_op bigint;
    v_bal numeric;
    v_h numeric;
    v_c numeric;
    v_lot bigint;
    v_charged numeric := 0;
    v_released numeric := 0;
    v_plan numeric := 0;
    v_avail numeric;
    h jsonb;
BEGIN
    IF v_pool_id IS NULL OR st.id IS DISTINCT FROM v_pool_id THEN
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at,
                budget_starts = st.budget_starts, budget_used = st.budget_used WHERE id = st.id;
        END IF;
        st := NULL;
        IF v_pool_id IS NOT NULL THEN
            SELECT * INTO st FROM ledger_accounts WHERE id = v_pool_id AND pool_id = v_pool_id FOR UPDATE;
        END IF;
    END IF;
    IF st.id IS NOT NULL THEN
        SELECT * INTO v_res FROM ledger_reservations WHERE pool_id = st.id AND id = v_id;
    END IF;
    IF st.id IS NULL OR st.allocation IS NOT NULL OR st.trial_cap IS NOT NULL OR v_res.id IS NULL OR v_res.account_id <> st.id
       OR v_key <> 'commit:' || v_id OR v_res.status <> 'open' OR v_actual > v_res.amount THEN
        -- not the common case: a sub-account, an account in trial, an
        -- unknown or closed reservation, a custom key, or an excess beyond
        -- the hold
        v_r := ledger_close_replay(v_res, 'commit', p);
        IF st.id IS NOT NULL AND v_res.id IS NOT NULL AND v_r IS NOT NULL THEN
            RETURN ROW(st, v_r)::ledger_step;
        END IF;
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at,
                budget_starts = st.budget_starts, budget_used = st.budget_used WHERE id = st.id;
        END IF;
        RETURN ROW(NULL, ledger_commit(p))::ledger_step;
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(st.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    v_bal := st.balance;
    FOR h IN SELECT * FROM jsonb_array_elements(v_res.holds) LOOP
        v_h := (h->>'amount')::numeric;
        v_lot := (h->>'lot')::bigint;
        v_c := least(v_left, v_h);
        IF v_c > 0 THEN
            INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                       idempotency_key, model, request_id, session_id, detail, occurred_at, at, project, key_label)
            VALUES (st.id, st.id, v_lot, v_op, 'reservation_release', v_h, v_bal + v_h, v_res.id,
                    '', v_res.model, '', '', NULL, v_at, v_at, v_res.project, v_res.key_label),
                   (st.id, st.id, v_lot, v_op, 'deduction', -v_c, v_bal + v_h - v_c, v_res.id,
                    v_key, v_res.model, v_res.request_id, v_res.session_id, v_detail, v_at, v_at, v_res.project, v_res.key_label);
        ELSE
            INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                       idempotency_key, model, request_id, session_id, detail, occurred_at, at, project, key_label)
            VALUES (st.id, st.id, v_lot, v_op, 'reservation_release', v_h, v_bal + v_h, v_res.id,
                    v_key, v_res.model, v_res.request_id, v_res.session_id, v_detail, v_at, v_at, v_res.project, v_res.key_label);
        END IF;
        v_bal := v_bal + v_h - v_c;
        v_left := v_left - v_c;
        v_charged := v_charged + v_c;
        IF h->>'kind' = 'plan' THEN
            v_plan := v_plan + v_c;
        END IF;
        IF v_h > v_c THEN
            UPDATE ledger_lots SET remaining = remaining + (v_h - v_c) WHERE pool_id = st.id AND id = v_lot;
            v_released := v_released + (v_h - v_c);
        END IF;
    END LOOP;
    IF v_res.budget_ids IS NOT NULL THEN
        st.budget_used := ledger_budget_settle(st.id, st.budget_ids, st.budget_starts, st.budget_used,
            v_res.budget_ids, v_res.budget_slots, v_res.budget_starts, v_charged - v_res.amount, v_at);
    END IF;
    st.balance := v_bal;
    st.reserved := st.reserved - v_res.amount;
    st.last_at := v_at;
    SELECT coalesce(sum(remaining), 0) INTO v_avail FROM ledger_lots
    WHERE pool_id = st.id AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_at);
    v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_res.id, 'charged', v_charged,
                              'released', v_released, 'unpaid', v_left, 'available', v_avail, 'plan_charged', v_plan);
    UPDATE ledger_reservations SET status = 'committed', closed_at = v_at,
        close_key = v_key, close_op = 'commit', close_hash = coalesce(p->>'hash', ''), close_result = v_r
    WHERE pool_id = st.id AND id = v_res.id;
    RETURN ROW(st, v_r)::ledger_step;
END $$;

-- ledger_rc_run runs a run of reserves and commits (ledger_apply hands it
-- the consecutive ones of a batch, pools ascending) set-based. The run's
-- pools are locked in one statement, in ascending order; the commits'
-- reservations, the reserves' keys (ledger_idempotency and its archive)
-- and the lots of the pools are read in one statement each; each
-- operation then runs in memory, in order, on its pool's running state and
-- lots; and the run's rows are written with one statement per table (its
-- events, its reservations, their closes, its idempotency records, its
-- lots' new remainders, its pools' running state) — instead of a dozen
-- statements per operation, which is what the ledger's server CPU went to.
--
-- Only the common case runs this way (the other operations' results are
-- left NULL): a pool that is its own account, not
-- in trial, with no allocation, enforcement override or tier cap on open
-- reservations, whose lots are plain (no credit line) and none of which
-- expires between the run's first and last instant; reserves of that
-- account without an enforcement override; commits with their own key
-- (commit:<id>) of an open reservation of that account, within its hold,
-- once each in the run. Budgets are counted as ledger_reserve_t and
-- ledger_commit_t count them, on the pool's row in memory
-- (ledger_budget_hold when their fast path does not apply; a commit within
-- its hold only lowers the counters). Any other operation leaves its whole
-- pool's part of the run to ledger_apply, which runs it through
-- ledger_reserve_t and ledger_commit_t (the per-operation path, which
-- itself hands the unusual cases to ledger_reserve and ledger_commit) —
-- after the common pools' rows are written, so that an operation routed to
-- one pool that touches another (a sub-account not yet known as one) sees
-- them, and outside this function's plan settings. A key
-- repeated within the run replays its first reserve (or conflicts, with
-- another hash), as when each reserve wrote its rows at once. The model
-- test and TestSetBasedReserveCommitMatchesPerOperation keep the two paths
-- equal.
CREATE OR REPLACE FUNCTION ledger_rc_run(p_ops text[], p_args jsonb[], p_pools bigint[]) RETURNS jsonb[] LANGUAGE plpgsql
-- Its statements' plans are generic: with custom plans (the array sizes
-- known) they were planned again at every call, which cost more than
-- running them. So that a generic plan cannot be a scan of a whole table,
-- each read probes its rows by key from a LATERAL subquery, each UPDATE
-- names its rows by key (= ANY) rather than joining an unnest, and
-- sequential scans are off: a connection plans these statements once, and
-- in a database whose ledger_reservations is still small (a new one, the
-- benchmark's first seconds) the generic plan of the commits' reservation
-- read is a hash join over a sequential scan of that table (the LATERAL
-- probe is pulled up into a join) and the closes' UPDATE a sequential scan
-- too; the plan stays for the session, slower as the table grows. That is
-- what made this path slower than the per-operation one in throughput
-- (BENCH.md, 2026-12-07 17:46) while its CPU per operation was lower.
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
DECLARE
    n integer := cardinality(p_ops);
    res jsonb[];
    p jsonb;
    st ledger_accounts;
    -- the run's pools, ascending, each once, with their operations g_s .. g_e
    ng integer := 0;
    g_pool bigint[] := '{}';
    g_s integer[] := '{}';
    g_e integer[] := '{}';
    g_fast boolean[] := '{}';
    g_at0 timestamptz[] := '{}';
    g_atmax timestamptz[] := '{}';
    g_lo integer[] := '{}';
    g_hi integer[] := '{}';
    g_acct ledger_accounts[];
    -- per operation: a commit's reservation id and row, a reserve's key and what it finds
    o_rid bigint[];
    o_key text[];
    o_res ledger_reservations[];
    o_known jsonb[];
    o_retired boolean[];
    v_held bigint[] := '{}';
    v_rpool bigint[] := '{}';
    v_rat0 timestamptz[] := '{}';
    v_any boolean := false;
    v_commits boolean := false;
    v_keys boolean := false;
    -- the lots of the common pools, pool by pool in spending order
    l_pool bigint[];
    l_id bigint[];
    l_rem numeric[];
    l_rem0 numeric[];
    l_kind text[];
    l_exp timestamptz[];
    l_n integer;
    -- give-backs to lots outside those (expired since the hold)
    x_lot bigint[] := '{}';
    x_amt numeric[] := '{}';
    -- the rows to write
    ne integer := 0;
    e_rows ledger_events[] := '{}';
    ev ledger_events;
    nr integer := 0;
    r_rows ledger_reservations[] := '{}';
    rv ledger_reservations;
    nc integer := 0;
    c_id bigint[] := '{}';
    c_at timestamptz[] := '{}';
    c_hash text[] := '{}';
    c_res jsonb[] := '{}';
    nk integer := 0;
    k_rows ledger_idempotency[] := '{}';
    kv ledger_idempotency;
    k_from integer;
    na integer := 0;
    a_rows ledger_accounts[] := '{}';
    a_id bigint[] := '{}';
    -- one operation
    v_key text;
    v_hash text;
    v_k jsonb;
    v_at timestamptz;
    v_amount numeric;
    v_left numeric;
    v_seen numeric;
    v_take numeric;
    v_op bigint;
    v_rid bigint;
    v_bal numeric;
    v_holds jsonb;
    v_exp timestamptz;
    v_r jsonb;
    v_res ledger_reservations;
    v_actual numeric;
    v_h numeric;
    v_c numeric;
    v_lot bigint;
    v_charged numeric;
    v_released numeric;
    v_plan numeric;
    v_avail numeric;
    v_j integer;
    h jsonb;
    t_j integer[];
    t_amt numeric[];
    -- budgets (ledger_reserve_t's)
    v_project text;
    v_label text;
    v_bids bigint[];
    v_bstarts timestamptz[];
    v_bslots integer[];
    v_pstarts timestamptz[];
    v_pused numeric[];
    v_pends timestamptz[];
    v_plimits numeric[];
    v_scopes text[];
    v_bfast boolean;
    v_refusal jsonb;
    lo integer;
    hi integer;
    i integer;
BEGIN
    res := array_fill(NULL::jsonb, ARRAY[n]);
    o_rid := array_fill(NULL::bigint, ARRAY[n]);
    o_key := array_fill(NULL::text, ARRAY[n]);
    FOR i IN 1 .. n LOOP
        IF ng = 0 OR g_pool[ng] IS DISTINCT FROM p_pools[i] THEN
            ng := ng + 1;
            g_pool[ng] := p_pools[i];
            g_s[ng] := i;
            g_fast[ng] := p_pools[i] IS NOT NULL;
            g_at0[ng] := (p_args[i]->>'now')::timestamptz;
            g_atmax[ng] := g_at0[ng];
        END IF;
        g_e[ng] := i;
        g_at0[ng] := least(g_at0[ng], (p_args[i]->>'now')::timestamptz);
        g_atmax[ng] := greatest(g_atmax[ng], (p_args[i]->>'now')::timestamptz);
        IF p_ops[i] = 'reserve' THEN
            IF (p_args[i]->>'account_id')::bigint IS DISTINCT FROM p_pools[i]
               OR p_args[i] ?| ARRAY['enforcement', 'shadow_refusal'] THEN
                g_fast[ng] := false;
            END IF;
            o_key[i] := nullif(coalesce(p_args[i]->>'key', ''), '');
        ELSE
            o_rid[i] := (p_args[i]->>'reservation_id')::bigint;
            IF coalesce(p_args[i]->>'key', '') <> 'commit:' || o_rid[i]
               OR array_position(o_rid[g_s[ng]:i - 1], o_rid[i]) IS NOT NULL THEN
                g_fast[ng] := false;
            END IF;
        END IF;
    END LOOP;
    -- the pools, locked in ascending order (one probe each, in the order of
    -- the array, by primary key: pool_id + 0 keeps a generic plan off the
    -- pool index, which lists an enterprise's sub-accounts); an account that
    -- is not its own pool reads as NULL
    SELECT array_agg(acc.row ORDER BY g.n) INTO g_acct
    FROM unnest(g_pool) WITH ORDINALITY AS g(id, n)
    LEFT JOIN LATERAL (SELECT x AS row FROM ledger_accounts x WHERE x.id = g.id AND x.pool_id + 0 = x.id FOR UPDATE) acc ON true;
    FOR g IN 1 .. ng LOOP
        st := g_acct[g];
        IF g_fast[g] AND (st.id IS NULL OR st.allocation IS NOT NULL OR st.trial_cap IS NOT NULL
                          OR st.enforcement IS NOT NULL OR st.max_open IS NOT NULL) THEN
            g_fast[g] := false;
        END IF;
        IF g_fast[g] THEN
            v_any := true;
            g_at0[g] := greatest(g_at0[g], coalesce(st.last_at, '-infinity'));
            g_atmax[g] := greatest(g_atmax[g], coalesce(st.last_at, '-infinity'));
            FOR i IN g_s[g] .. g_e[g] LOOP
                v_commits := v_commits OR o_rid[i] IS NOT NULL;
                v_keys := v_keys OR o_key[i] IS NOT NULL;
            END LOOP;
        ELSE
            FOR i IN g_s[g] .. g_e[g] LOOP
                o_rid[i] := NULL;
                o_key[i] := NULL;
            END LOOP;
        END IF;
    END LOOP;
    IF v_any AND v_commits THEN
        -- the commits' reservations, by primary key
        SELECT array_agg(rs.row ORDER BY k.n) INTO o_res
        FROM unnest(p_pools, o_rid) WITH ORDINALITY AS k(pool, id, n)
        LEFT JOIN LATERAL (SELECT x AS row FROM ledger_reservations x WHERE x.pool_id = k.pool AND x.id = k.id) rs ON true;
        FOR g IN 1 .. ng LOOP
            CONTINUE WHEN NOT g_fast[g];
            FOR i IN g_s[g] .. g_e[g] LOOP
                CONTINUE WHEN o_rid[i] IS NULL;
                v_res := o_res[i];
                IF v_res.id IS NULL OR v_res.account_id <> g_pool[g] OR v_res.status <> 'open'
                   OR (p_args[i]->>'actual')::numeric > v_res.amount THEN
                    g_fast[g] := false;
                    EXIT;
                END IF;
                FOR q IN 0 .. jsonb_array_length(v_res.holds) - 1 LOOP
                    v_held[cardinality(v_held) + 1] := (v_res.holds->q->>'lot')::bigint;
                END LOOP;
            END LOOP;
        END LOOP;
    END IF;
    IF v_any AND v_keys THEN
        -- the reserves' keys: one index probe each (LATERAL … LIMIT 1, as in
        -- ledger_charge_run), in the hot table and in the archive
        SELECT array_agg(i.rec ORDER BY k.n), array_agg(a.hit IS NOT NULL ORDER BY k.n) INTO o_known, o_retired
        FROM unnest(p_pools, o_key) WITH ORDINALITY AS k(pool, key, n)
        LEFT JOIN LATERAL (SELECT jsonb_build_array(i.op, i.args_hash, i.result) AS rec FROM ledger_idempotency i
                           WHERE i.pool_id = k.pool AND i.account_id = k.pool AND i.key = k.key LIMIT 1) i ON true
        LEFT JOIN LATERAL (SELECT true AS hit FROM ledger_idempotency_archive a
                           WHERE a.pool_id = k.pool AND a.account_id = k.pool
                             AND hashtextextended(a.key, 0) = hashtextextended(k.key, 0) AND a.key = k.key LIMIT 1) a ON true;
    END IF;
    FOR g IN 1 .. ng LOOP
        IF g_fast[g] THEN
            v_rpool[cardinality(v_rpool) + 1] := g_pool[g];
            v_rat0[cardinality(v_rat0) + 1] := g_at0[g];
        END IF;
    END LOOP;
    IF cardinality(v_rpool) > 0 THEN
        -- the pools' lots spendable at the run's first instant, and those
        -- its commits give back to, pool by pool in the spending order of
        -- ledger_spend_order (the same ORDER BY)
        SELECT array_agg(o.pool_id ORDER BY g.n, o.n), array_agg(o.id ORDER BY g.n, o.n),
               array_agg(o.remaining ORDER BY g.n, o.n), array_agg(o.kind ORDER BY g.n, o.n),
               array_agg(o.expires_at ORDER BY g.n, o.n)
        INTO l_pool, l_id, l_rem, l_kind, l_exp
        FROM unnest(v_rpool, v_rat0) WITH ORDINALITY AS g(pool, at, n)
        CROSS JOIN LATERAL (
            SELECT l.pool_id, l.id, l.remaining, l.kind::text AS kind, l.expires_at,
                   row_number() OVER (ORDER BY (l.kind = 'credit'), l.expires_at ASC NULLS LAST, (l.kind = 'paid'), l.created_at, l.id) AS n
            FROM ledger_lots l
            WHERE l.pool_id = g.pool AND (l.remaining > 0 OR l.id = ANY (v_held))
              AND (l.expires_at IS NULL OR l.expires_at > g.at)) o;
    END IF;
    l_n := coalesce(cardinality(l_id), 0);
    l_rem0 := l_rem;
    v_j := 1;
    FOR g IN 1 .. ng LOOP
        CONTINUE WHEN NOT g_fast[g];
        g_lo[g] := v_j;
        WHILE v_j <= l_n AND l_pool[v_j] = g_pool[g] LOOP
            IF l_kind[v_j] = 'credit' OR l_exp[v_j] <= g_atmax[g] THEN
                -- a credit line, or a lot that expires within the run
                g_fast[g] := false;
            END IF;
            v_j := v_j + 1;
        END LOOP;
        g_hi[g] := v_j - 1;
    END LOOP;

    -- the common pools, in memory
    FOR g IN 1 .. ng LOOP
        CONTINUE WHEN NOT g_fast[g];
        st := g_acct[g];
        lo := g_lo[g];
        hi := g_hi[g];
        k_from := nk + 1;
        FOR i IN g_s[g] .. g_e[g] LOOP
            p := p_args[i];
            v_at := greatest((p->>'now')::timestamptz, coalesce(st.last_at, '-infinity'));
            IF p_ops[i] = 'reserve' THEN
                v_key := coalesce(p->>'key', '');
                v_hash := coalesce(p->>'hash', '');
                IF v_key <> '' THEN
                    v_k := o_known[i];
                    IF v_k IS NOT NULL THEN
                        IF v_k->>0 = 'reserve' AND v_k->>1 = v_hash THEN
                            res[i] := (v_k->2) || '{"replayed": true}';
                        ELSE
                            res[i] := '{"error": "idempotency_conflict"}';
                        END IF;
                        CONTINUE;
                    END IF;
                    IF o_retired[i] THEN
                        res[i] := '{"error": "retry_window_passed"}';
                        CONTINUE;
                    END IF;
                    v_k := NULL;
                    FOR q IN k_from .. nk LOOP
                        IF (k_rows[q]).key = v_key THEN
                            v_k := to_jsonb(q);
                            IF (k_rows[q]).args_hash = v_hash THEN
                                res[i] := (k_rows[q]).result || '{"replayed": true}';
                            ELSE
                                res[i] := '{"error": "idempotency_conflict"}';
                            END IF;
                            EXIT;
                        END IF;
                    END LOOP;
                    CONTINUE WHEN v_k IS NOT NULL;
                END IF;
                IF st.status = 'frozen' THEN
                    res[i] := '{"error": "account_frozen"}';
                    CONTINUE;
                END IF;
                v_amount := (p->>'amount')::numeric;
                v_left := v_amount;
                v_seen := 0;
                t_j := '{}';
                t_amt := '{}';
                FOR j IN lo .. hi LOOP
                    EXIT WHEN v_left <= 0;
                    CONTINUE WHEN l_rem[j] <= 0;
                    v_take := least(v_left, l_rem[j]);
                    t_j[cardinality(t_j) + 1] := j;
                    t_amt[cardinality(t_amt) + 1] := v_take;
                    v_left := v_left - v_take;
                    v_seen := v_seen + l_rem[j];
                END LOOP;
                IF v_left > 0 THEN
                    res[i] := jsonb_build_object('error', 'insufficient_credits', 'available', v_seen);
                    CONTINUE;
                END IF;
                v_project := coalesce(p->>'project', '');
                v_label := coalesce(p->>'key_label', '');
                v_bids := NULL;
                v_bstarts := NULL;
                v_bslots := NULL;
                IF st.budgeted THEN
                    -- as in ledger_reserve_t: the fast path on the pool's
                    -- counters, else ledger_budget_hold
                    v_bfast := st.budget_scopes IS NOT NULL;
                    IF v_bfast THEN
                        v_scopes := ARRAY[st.id || '||'];
                        IF v_project <> '' THEN
                            v_scopes := v_scopes || (st.id || '|' || v_project || '|');
                        END IF;
                        IF v_label <> '' THEN
                            v_scopes := v_scopes || (st.id || '|' || v_project || '|' || v_label);
                        END IF;
                        v_bids := '{}';
                        v_bslots := '{}';
                        v_bstarts := '{}';
                        v_pused := st.budget_used;
                        FOR b IN 1 .. coalesce(cardinality(st.budget_scopes), 0) LOOP
                            CONTINUE WHEN st.budget_scopes[b] IS NULL OR NOT st.budget_scopes[b] = ANY (v_scopes);
                            IF NOT coalesce(v_at < st.budget_ends[b] AND coalesce(v_pused[b], 0) + v_amount < st.budget_limits[b], false) THEN
                                v_bfast := false;
                                EXIT;
                            END IF;
                            v_bids := v_bids || st.budget_ids[b];
                            v_bslots := v_bslots || b;
                            v_bstarts := v_bstarts || st.budget_starts[b];
                            v_pused[b] := coalesce(v_pused[b], 0) + v_amount;
                        END LOOP;
                        IF v_bfast AND cardinality(v_bids) = 0 THEN
                            v_bids := NULL;
                            v_bslots := NULL;
                            v_bstarts := NULL;
                        ELSIF v_bfast THEN
                            st.budget_used := v_pused;
                        END IF;
                    END IF;
                    IF NOT v_bfast THEN
                        SELECT bh.ids, bh.slots, bh.starts, bh.pool_starts, bh.pool_used, bh.refusal, bh.pool_ends, bh.pool_limits
                        INTO v_bids, v_bslots, v_bstarts, v_pstarts, v_pused, v_refusal, v_pends, v_plimits
                        FROM ledger_budget_hold(st, st.id, v_project, v_label, v_amount, v_at, false) bh;
                        IF v_refusal IS NOT NULL THEN
                            res[i] := v_refusal;
                            CONTINUE;
                        END IF;
                        IF v_bids IS NOT NULL THEN
                            st.budget_starts := v_pstarts;
                            st.budget_used := v_pused;
                            st.budget_ends := v_pends;
                            st.budget_limits := v_plimits;
                        END IF;
                    END IF;
                END IF;
                v_op := nextval('ledger_op_seq');
                v_rid := nextval('ledger_reservations_id_seq');
                v_holds := '[]';
                FOR q IN 1 .. cardinality(t_j) LOOP
                    v_j := t_j[q];
                    l_rem[v_j] := l_rem[v_j] - t_amt[q];
                    st.balance := st.balance - t_amt[q];
                    ev := NULL;
                    ev.pool_id := st.id; ev.account_id := st.id; ev.lot_id := l_id[v_j]; ev.op_id := v_op;
                    ev.type := 'reservation'; ev.amount := -t_amt[q]; ev.balance_after := st.balance; ev.unpaid := 0;
                    ev.reservation_id := v_rid; ev.idempotency_key := ''; ev.actor := ''; ev.reason_code := '';
                    ev.source_ref := ''; ev.model := coalesce(p->>'model', ''); ev.request_id := ''; ev.session_id := '';
                    ev.occurred_at := v_at; ev.at := v_at;
                    ev.project := v_project; ev.key_label := v_label;
                    ne := ne + 1;
                    e_rows[ne] := ev;
                    v_holds := v_holds || jsonb_build_object('lot', l_id[v_j], 'amount', t_amt[q], 'kind', l_kind[v_j]);
                END LOOP;
                v_exp := v_at + make_interval(secs => (p->>'ttl_seconds')::float8);
                rv := NULL;
                rv.pool_id := st.id; rv.id := v_rid; rv.account_id := st.id; rv.amount := v_amount; rv.holds := v_holds;
                rv.status := 'open'; rv.expires_at := v_exp; rv.model := coalesce(p->>'model', '');
                rv.session_id := coalesce(p->>'session_id', ''); rv.request_id := coalesce(p->>'request_id', '');
                rv.created_at := v_at; rv.project := v_project; rv.key_label := v_label;
                rv.budget_ids := v_bids; rv.budget_starts := v_bstarts; rv.budget_slots := v_bslots;
                rv.detail := nullif(p->'detail', 'null'::jsonb);
                nr := nr + 1;
                r_rows[nr] := rv;
                st.reserved := st.reserved + v_amount;
                st.last_at := v_at;
                v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_rid, 'account_id', st.id, 'pool', st.id,
                                          'amount', v_amount, 'expires_at', v_exp, 'holds', v_holds);
                res[i] := v_r;
                IF v_key <> '' THEN
                    kv := NULL;
                    kv.pool_id := st.id; kv.account_id := st.id; kv.key := v_key; kv.op := 'reserve';
                    kv.args_hash := v_hash; kv.result := v_r; kv.created_at := now();
                    nk := nk + 1;
                    k_rows[nk] := kv;
                END IF;
            ELSE
                -- a commit within its hold (ledger_commit_t, in memory)
                v_res := o_res[i];
                v_key := p->>'key';
                v_actual := (p->>'actual')::numeric;
                v_left := v_actual;
                v_charged := 0;
                v_released := 0;
                v_plan := 0;
                v_op := nextval('ledger_op_seq');
                FOR q IN 0 .. jsonb_array_length(v_res.holds) - 1 LOOP
                    h := v_res.holds->q;
                    v_h := (h->>'amount')::numeric;
                    v_lot := (h->>'lot')::bigint;
                    v_c := least(v_left, v_h);
                    ev := NULL;
                    ev.pool_id := st.id; ev.account_id := st.id; ev.lot_id := v_lot; ev.op_id := v_op;
                    ev.type := 'reservation_release'; ev.amount := v_h; ev.balance_after := st.balance + v_h; ev.unpaid := 0;
                    ev.reservation_id := v_res.id; ev.actor := ''; ev.reason_code := ''; ev.source_ref := '';
                    ev.model := v_res.model; ev.occurred_at := v_at; ev.at := v_at;
                    ev.project := v_res.project; ev.key_label := v_res.key_label;
                    IF v_c > 0 THEN
                        ev.idempotency_key := ''; ev.request_id := ''; ev.session_id := '';
                        ne := ne + 1;
                        e_rows[ne] := ev;
                        ev.type := 'deduction'; ev.amount := -v_c; ev.balance_after := st.balance + v_h - v_c;
                    END IF;
                    ev.idempotency_key := v_key; ev.request_id := v_res.request_id; ev.session_id := v_res.session_id;
                    ev.detail := nullif(p->'detail', 'null'::jsonb);
                    ne := ne + 1;
                    e_rows[ne] := ev;
                    st.balance := st.balance + v_h - v_c;
                    v_left := v_left - v_c;
                    v_charged := v_charged + v_c;
                    IF h->>'kind' = 'plan' THEN
                        v_plan := v_plan + v_c;
                    END IF;
                    IF v_h > v_c THEN
                        v_j := array_position(l_id, v_lot, lo);
                        IF v_j IS NOT NULL AND v_j <= hi THEN
                            l_rem[v_j] := l_rem[v_j] + (v_h - v_c);
                        ELSE
                            v_j := array_position(x_lot, v_lot);
                            IF v_j IS NULL THEN
                                x_lot[cardinality(x_lot) + 1] := v_lot;
                                x_amt[cardinality(x_amt) + 1] := v_h - v_c;
                            ELSE
                                x_amt[v_j] := x_amt[v_j] + (v_h - v_c);
                            END IF;
                        END IF;
                        v_released := v_released + (v_h - v_c);
                    END IF;
                END LOOP;
                IF v_res.budget_ids IS NOT NULL THEN
                    st.budget_used := ledger_budget_settle(st.id, st.budget_ids, st.budget_starts, st.budget_used,
                        v_res.budget_ids, v_res.budget_slots, v_res.budget_starts, v_charged - v_res.amount, v_at);
                END IF;
                st.reserved := st.reserved - v_res.amount;
                st.last_at := v_at;
                v_avail := 0;
                FOR j IN lo .. hi LOOP
                    v_avail := v_avail + l_rem[j];
                END LOOP;
                v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_res.id, 'charged', v_charged,
                                          'released', v_released, 'unpaid', v_left, 'available', v_avail, 'plan_charged', v_plan);
                res[i] := v_r;
                nc := nc + 1;
                c_id[nc] := v_res.id;
                c_at[nc] := v_at;
                c_hash[nc] := coalesce(p->>'hash', '');
                c_res[nc] := v_r;
            END IF;
        END LOOP;
        na := na + 1;
        a_rows[na] := st;
        a_id[na] := st.id;
    END LOOP;
    IF ne > 0 THEN
        INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, unpaid,
                                   reservation_id, idempotency_key, actor, reason_code, source_ref, model,
                                   request_id, session_id, detail, occurred_at, at, project, key_label)
        SELECT e.pool_id, e.account_id, e.lot_id, e.op_id, e.type, e.amount, e.balance_after, e.unpaid,
               e.reservation_id, e.idempotency_key, e.actor, e.reason_code, e.source_ref, e.model,
               e.request_id, e.session_id, e.detail, e.occurred_at, e.at, e.project, e.key_label
        FROM unnest(e_rows) WITH ORDINALITY AS e
        ORDER BY e.ordinality;
    END IF;
    -- the lots' changes, each lot once (lot ids are unique across pools)
    FOR j IN 1 .. l_n LOOP
        IF l_rem[j] <> l_rem0[j] THEN
            x_lot[cardinality(x_lot) + 1] := l_id[j];
            x_amt[cardinality(x_amt) + 1] := l_rem[j] - l_rem0[j];
        END IF;
    END LOOP;
    IF cardinality(x_lot) > 0 THEN
        UPDATE ledger_lots l SET remaining = l.remaining + x_amt[array_position(x_lot, l.id)]
        WHERE l.id = ANY (x_lot);
    END IF;
    IF nr > 0 THEN
        INSERT INTO ledger_reservations OVERRIDING SYSTEM VALUE SELECT * FROM unnest(r_rows);
    END IF;
    IF nc > 0 THEN
        UPDATE ledger_reservations r SET status = 'committed', closed_at = c_at[array_position(c_id, r.id)],
            close_key = 'commit:' || r.id, close_op = 'commit', close_hash = c_hash[array_position(c_id, r.id)],
            close_result = c_res[array_position(c_id, r.id)]
        WHERE r.id = ANY (c_id);
    END IF;
    IF nk > 0 THEN
        INSERT INTO ledger_idempotency SELECT * FROM unnest(k_rows);
    END IF;
    IF na > 0 THEN
        UPDATE ledger_accounts a SET balance = (a_rows[array_position(a_id, a.id)]).balance,
            reserved = (a_rows[array_position(a_id, a.id)]).reserved,
            last_at = (a_rows[array_position(a_id, a.id)]).last_at,
            budget_starts = (a_rows[array_position(a_id, a.id)]).budget_starts,
            budget_used = (a_rows[array_position(a_id, a.id)]).budget_used,
            budget_ends = (a_rows[array_position(a_id, a.id)]).budget_ends,
            budget_limits = (a_rows[array_position(a_id, a.id)]).budget_limits
        WHERE a.id = ANY (a_id);
    END IF;
    -- the other pools' operations are left NULL for the caller
    RETURN res;
END $$;

-- ledger_charge_run is ledger_charge for a run of charges to one account
-- that is its own pool (ledger_apply hands it the consecutive charges of one
-- account), on the running state st (as ledger_reserve_t): the pool is
-- locked and read once, its lots are read once (in spending order, by
-- ledger_spend_order) and walked in memory, and the run's rows are written
-- with one statement each — its event rows, its lots' new remainders and its
-- idempotency records — instead of a few statements per charge. The keys of
-- the run are probed with one read of ledger_idempotency (key = ANY) and
-- one of the archive. A key repeated within the run replays its first charge
-- (or conflicts, with another hash), as when each charge wrote its rows at
-- once. Each charge's time is its own (the greater of its "now" and the
-- pool's last_at, so never earlier than the charge before): a lot that
-- expires between two charges of the run is spent by the first and not by
-- the second. A sub-account, an allocation, an account in trial, a
-- budgeted pool or an enforcement override goes through ledger_charge
-- instead, one charge at a time, after st is written back (ledger_apply
-- sends a request with a grace policy or an enforcement override there
-- too); the model test and TestBatchedChargesMatchSingle keep the two paths
-- equal.
CREATE OR REPLACE FUNCTION ledger_charge_run(p jsonb[], INOUT st ledger_accounts, OUT res jsonb[]) LANGUAGE plpgsql AS $$
DECLARE
    n integer := cardinality(p);
    v_id bigint := (p[1]->>'account_id')::bigint;
    v_keys text[] := '{}';
    v_known jsonb;
    v_retired text[];
    v_key text;
    v_hash text;
    v_k jsonb;
    v_j integer;
    v_r jsonb;
    v_at timestamptz;
    v_at0 timestamptz;
    v_occurred timestamptz;
    v_amount numeric;
    v_left numeric;
    v_take numeric;
    v_plan numeric;
    v_avail numeric;
    v_op bigint;
    -- the pool's spendable lots at the run's first time, in spending order
    l_id bigint[];
    l_rem numeric[];
    l_plan boolean[];
    l_exp timestamptz[];
    l_taken numeric[];
    l_n integer;
    l_first integer := 1;     -- lots before it are spent or expired
    l_next_exp timestamptz;   -- the soonest expiry among the lots still counted
    v_lot record;
    -- the run's event rows
    ne integer := 0;
    e_arg integer[] := '{}';
    e_lot bigint[] := '{}';
    e_op bigint[] := '{}';
    e_type ledger_event_type[] := '{}';
    e_amount numeric[] := '{}';
    e_bal numeric[] := '{}';
    e_unpaid numeric[] := '{}';
    e_occ timestamptz[] := '{}';
    e_at timestamptz[] := '{}';
    -- the run's idempotency records
    nk integer := 0;
    k_key text[] := '{}';
    k_hash text[] := '{}';
    k_res jsonb[] := '{}';
BEGIN
    res := array_fill(NULL::jsonb, ARRAY[n]);
    IF st.id IS DISTINCT FROM v_id THEN
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at,
                budget_starts = st.budget_starts, budget_used = st.budget_used WHERE id = st.id;
        END IF;
        SELECT * INTO st FROM ledger_accounts WHERE id = v_id AND pool_id = v_id FOR UPDATE;
    END IF;
    IF st.id IS NULL OR st.allocation IS NOT NULL OR st.trial_cap IS NOT NULL OR st.enforcement IS NOT NULL
       OR st.budgeted THEN
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at,
                budget_starts = st.budget_starts, budget_used = st.budget_used WHERE id = st.id;
        END IF;
        st := NULL;
        FOR i IN 1 .. n LOOP
            res[i] := ledger_charge(p[i]);
        END LOOP;
        RETURN;
    END IF;
    -- the run's keys, probed at once (ledger_replay's hot table and archive
    -- reads for all of them); the earliest time any charge of the run can have
    v_at0 := 'infinity';
    FOR i IN 1 .. n LOOP
        v_key := coalesce(p[i]->>'key', '');
        IF v_key <> '' THEN
            v_keys[cardinality(v_keys) + 1] := v_key;
        END IF;
        v_at0 := least(v_at0, (p[i]->>'now')::timestamptz);
    END LOOP;
    v_at0 := greatest(v_at0, coalesce(st.last_at, '-infinity'));
    IF cardinality(v_keys) > 0 THEN
        -- one index probe per key (LATERAL … LIMIT 1): written as
        -- key = ANY (v_keys), the generic plan of a table without
        -- statistics probes (pool_id, account_id) only and filters every
        -- key the pool ever used
        SELECT jsonb_object_agg(i.key, jsonb_build_array(i.op, i.args_hash, i.result)) INTO v_known
        FROM unnest(v_keys) k(key)
        CROSS JOIN LATERAL (SELECT i.key, i.op, i.args_hash, i.result FROM ledger_idempotency i
                            WHERE i.pool_id = st.id AND i.account_id = st.id AND i.key = k.key LIMIT 1) i;
        SELECT array_agg(a.key) INTO v_retired
        FROM unnest(v_keys) k(key)
        CROSS JOIN LATERAL (SELECT a.key FROM ledger_idempotency_archive a
                            WHERE a.pool_id = st.id AND a.account_id = st.id
                              AND hashtextextended(a.key, 0) = hashtextextended(k.key, 0) AND a.key = k.key LIMIT 1) a;
    END IF;
    -- read in a loop, in the order the rows come (as ledger_take): WITH
    -- ORDINALITY would keep PostgreSQL from inlining ledger_spend_order, and
    -- a SQL function not inlined is planned again at every call (0.8 ms a
    -- run under load, more than the read)
    l_n := 0;
    l_id := '{}';
    l_rem := '{}';
    l_plan := '{}';
    l_exp := '{}';
    v_avail := 0;
    FOR v_lot IN SELECT o.id, o.remaining, o.kind, o.expires_at FROM ledger_spend_order(st.id, v_at0, false) o LOOP
        l_n := l_n + 1;
        l_id[l_n] := v_lot.id;
        l_rem[l_n] := v_lot.remaining;
        l_plan[l_n] := v_lot.kind = 'plan';
        l_exp[l_n] := v_lot.expires_at;
        l_next_exp := least(l_next_exp, v_lot.expires_at);
        v_avail := v_avail + v_lot.remaining;
    END LOOP;
    l_taken := array_fill(0::numeric, ARRAY[l_n]);
    FOR i IN 1 .. n LOOP
        v_key := coalesce(p[i]->>'key', '');
        v_hash := coalesce(p[i]->>'hash', '');
        IF v_key <> '' THEN
            v_k := v_known->v_key;
            IF v_k IS NOT NULL THEN
                IF v_k->>0 = 'charge' AND v_k->>1 = v_hash THEN
                    res[i] := (v_k->2) || '{"replayed": true}';
                ELSE
                    res[i] := '{"error": "idempotency_conflict"}';
                END IF;
                CONTINUE;
            END IF;
            IF v_key = ANY (v_retired) THEN
                res[i] := '{"error": "retry_window_passed"}';
                CONTINUE;
            END IF;
            v_j := array_position(k_key, v_key);
            IF v_j IS NOT NULL THEN
                IF k_hash[v_j] = v_hash THEN
                    res[i] := k_res[v_j] || '{"replayed": true}';
                ELSE
                    res[i] := '{"error": "idempotency_conflict"}';
                END IF;
                CONTINUE;
            END IF;
        END IF;
        IF st.status = 'frozen' THEN
            res[i] := '{"error": "account_frozen"}';
            CONTINUE;
        END IF;
        v_at := greatest((p[i]->>'now')::timestamptz, coalesce(st.last_at, '-infinity'));
        IF l_next_exp <= v_at THEN
            -- a lot expired since the run's first charge: it is no longer
            -- counted (its remaining is what expiry will take), and what is
            -- available is summed again over the lots still good
            v_avail := 0;
            l_next_exp := NULL;
            FOR j IN l_first .. l_n LOOP
                IF l_exp[j] <= v_at THEN
                    l_rem[j] := 0;
                ELSE
                    v_avail := v_avail + l_rem[j];
                    IF l_rem[j] > 0 THEN
                        l_next_exp := least(l_next_exp, l_exp[j]);
                    END IF;
                END IF;
            END LOOP;
        END IF;
        v_amount := (p[i]->>'amount')::numeric;
        v_left := v_amount;
        v_plan := 0;
        v_op := nextval('ledger_op_seq');
        v_occurred := coalesce((p[i]->>'occurred_at')::timestamptz, v_at);
        WHILE v_left > 0 AND l_first <= l_n LOOP
            IF l_rem[l_first] <= 0 THEN
                l_first := l_first + 1;
                CONTINUE;
            END IF;
            v_take := least(v_left, l_rem[l_first]);
            l_rem[l_first] := l_rem[l_first] - v_take;
            l_taken[l_first] := l_taken[l_first] + v_take;
            v_left := v_left - v_take;
            st.balance := st.balance - v_take;
            IF l_plan[l_first] THEN
                v_plan := v_plan + v_take;
            END IF;
            ne := ne + 1;
            e_arg[ne] := i;
            e_lot[ne] := l_id[l_first];
            e_op[ne] := v_op;
            e_type[ne] := 'deduction';
            e_amount[ne] := -v_take;
            e_bal[ne] := st.balance;
            e_unpaid[ne] := 0;
            e_occ[ne] := v_occurred;
            e_at[ne] := v_at;
        END LOOP;
        IF v_left > 0 THEN
            ne := ne + 1;
            e_arg[ne] := i;
            e_lot[ne] := NULL;
            e_op[ne] := v_op;
            e_type[ne] := 'unpaid_usage';
            e_amount[ne] := 0;
            e_bal[ne] := st.balance;
            e_unpaid[ne] := v_left;
            e_occ[ne] := v_occurred;
            e_at[ne] := v_at;
        END IF;
        st.last_at := v_at;
        v_r := jsonb_build_object('op_id', v_op, 'charged', v_amount - v_left, 'unpaid', v_left,
                                  'available', v_avail - (v_amount - v_left), 'pool', st.id, 'plan_charged', v_plan);
        v_avail := v_avail - (v_amount - v_left);
        res[i] := v_r;
        IF v_key <> '' THEN
            nk := nk + 1;
            k_key[nk] := v_key;
            k_hash[nk] := v_hash;
            k_res[nk] := v_r;
        END IF;
    END LOOP;
    IF ne > 0 THEN
        INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, unpaid,
                                   idempotency_key, actor, reason_code, source_ref, model, request_id, session_id,
                                   detail, occurred_at, at, project, key_label)
        SELECT st.id, st.id, e.lot, e.op, e.type, e.amount, e.bal, e.unpaid,
               coalesce(p[e.arg]->>'key', ''), coalesce(p[e.arg]->>'actor', ''), coalesce(p[e.arg]->>'reason_code', ''),
               coalesce(p[e.arg]->>'source_ref', ''), coalesce(p[e.arg]->>'model', ''),
               coalesce(p[e.arg]->>'request_id', ''), coalesce(p[e.arg]->>'session_id', ''),
               nullif(p[e.arg]->'detail', 'null'::jsonb), e.occ, e.at,
               coalesce(p[e.arg]->>'project', ''), coalesce(p[e.arg]->>'key_label', '')
        FROM unnest(e_arg, e_lot, e_op, e_type, e_amount, e_bal, e_unpaid, e_occ, e_at)
             WITH ORDINALITY AS e(arg, lot, op, type, amount, bal, unpaid, occ, at, n)
        ORDER BY e.n;
        UPDATE ledger_lots l SET remaining = l.remaining - t.taken
        FROM unnest(l_id, l_taken) AS t(id, taken)
        WHERE t.taken > 0 AND l.pool_id = st.id AND l.id = t.id;
    END IF;
    IF nk > 0 THEN
        INSERT INTO ledger_idempotency (pool_id, account_id, key, op, args_hash, result)
        SELECT st.id, st.id, k.key, 'charge', k.hash, k.res FROM unnest(k_key, k_hash, k_res) AS k(key, hash, res);
    END IF;
END $$;

-- ledger_extension runs another package's operation registered in
-- ledger_extensions (see 001036), or answers NULL for a name not
-- registered (ledger_apply refuses it as an unknown operation). Its body is
-- a static CASE over the registered functions, written by
-- ledger_extensions_compile whenever one is registered, so that each call
-- is planned once per connection like the ledger's own rather than parsed
-- per call (EXECUTE).
CREATE OR REPLACE FUNCTION ledger_extensions_compile() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_cases text;
BEGIN
    SELECT string_agg(format('WHEN %L THEN %I(p_arg)', fn, fn), ' ' ORDER BY fn) INTO v_cases FROM ledger_extensions;
    EXECUTE format('CREATE OR REPLACE FUNCTION ledger_extension(p_fn text, p_arg jsonb) RETURNS jsonb LANGUAGE plpgsql AS %L',
        CASE WHEN v_cases IS NULL THEN 'BEGIN RETURN NULL; END'
             ELSE format('BEGIN RETURN CASE p_fn %s ELSE NULL END; END', v_cases) END);
END $$;
SELECT ledger_extensions_compile();

-- ledger_apply runs a batch of operations in one call (one round trip, one
-- statement): p_ops[i] names the operation (credit, reserve, commit,
-- release, charge, refund, transfer, set_account), p_args[i] is its
-- request and p_pools[i] its pool. It returns the results in the same
-- order. Consecutive reserves and commits (pools ascending) go to
-- ledger_rc_run together, which runs the common case set-based; the rest
-- of them run here through ledger_reserve_t and ledger_commit_t, which
-- share a pool's running state (balance, reserved, last_at), written back
-- inline before any other operation and at the end. Consecutive charges of
-- one account go to ledger_charge_run together. Each result is stored in
-- place. A
-- refusal is a result, so it does not disturb its neighbours; an exception
-- fails the whole call, and the caller then runs each operation on its own.
-- Callers sort the batch by pool so that pools are locked in ascending
-- order.
CREATE OR REPLACE FUNCTION ledger_apply(p_ops text[], p_args jsonb[], p_pools bigint[]) RETURNS jsonb[] LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb[] := '{}';
    v_st ledger_accounts;
    v_step ledger_step;
    v_r jsonb;
    v_run record;
    v_run_out jsonb[];
    v_n integer := cardinality(p_ops);
    i integer := 1;
    j integer;
BEGIN
    WHILE i <= v_n LOOP
        IF p_ops[i] = 'charge' AND NOT p_args[i] ?| ARRAY['grace', 'enforcement'] THEN
            -- the run of charges to this account
            j := i;
            WHILE j < v_n AND p_ops[j + 1] = 'charge' AND NOT p_args[j + 1] ?| ARRAY['grace', 'enforcement']
                  AND p_args[j + 1]->'account_id' = p_args[i]->'account_id' LOOP
                j := j + 1;
            END LOOP;
            SELECT * INTO v_run FROM ledger_charge_run(p_args[i:j], v_st);
            v_st := v_run.st;
            FOR k IN i .. j LOOP
                v_out[k] := v_run.res[k - i + 1];
            END LOOP;
            i := j + 1;
            CONTINUE;
        END IF;
        IF p_ops[i] IN ('reserve', 'commit') AND NOT p_args[i] ? 'grace' THEN
            -- the run of reserves and commits, pools ascending
            j := i;
            WHILE j < v_n AND p_ops[j + 1] IN ('reserve', 'commit') AND NOT p_args[j + 1] ? 'grace'
                  AND p_pools[j + 1] >= p_pools[j] LOOP
                j := j + 1;
            END LOOP;
            IF v_st.id IS NOT NULL THEN
                UPDATE ledger_accounts SET balance = v_st.balance, reserved = v_st.reserved, last_at = v_st.last_at,
                    budget_starts = v_st.budget_starts, budget_used = v_st.budget_used WHERE id = v_st.id;
            END IF;
            v_st := NULL;
            v_run_out := ledger_rc_run(p_ops[i:j], p_args[i:j], p_pools[i:j]);
            FOR k IN i .. j LOOP
                v_r := v_run_out[k - i + 1];
                IF v_r IS NULL THEN
                    -- not the common case: the per-operation path
                    IF p_ops[k] = 'reserve' THEN
                        v_step := ledger_reserve_t(p_args[k], v_st);
                    ELSE
                        v_step := ledger_commit_t(p_args[k], v_st, p_pools[k]);
                    END IF;
                    v_st := v_step.st;
                    v_r := v_step.res;
                END IF;
                v_out[k] := v_r;
            END LOOP;
            i := j + 1;
            CONTINUE;
        END IF;
        IF v_st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = v_st.balance, reserved = v_st.reserved, last_at = v_st.last_at,
                budget_starts = v_st.budget_starts, budget_used = v_st.budget_used WHERE id = v_st.id;
        END IF;
        v_st := NULL;
        v_r := CASE p_ops[i]
            WHEN 'reserve' THEN ledger_reserve(p_args[i])
            WHEN 'commit' THEN ledger_commit(p_args[i])
            WHEN 'release' THEN ledger_release(p_args[i])
            WHEN 'charge' THEN ledger_charge(p_args[i])
            WHEN 'credit' THEN ledger_credit(p_args[i])
            WHEN 'refund' THEN ledger_refund(p_args[i])
            WHEN 'transfer' THEN ledger_transfer(p_args[i])
            WHEN 'set_account' THEN ledger_set_account(p_args[i])
            ELSE ledger_extension(p_ops[i], p_args[i])
        END;
        IF v_r IS NULL THEN
            RAISE EXCEPTION 'ledger_apply: unknown operation %', p_ops[i] USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_out[i] := v_r; -- in place, not a copy of the array per operation
        i := i + 1;
    END LOOP;
    IF v_st.id IS NOT NULL THEN
        UPDATE ledger_accounts SET balance = v_st.balance, reserved = v_st.reserved, last_at = v_st.last_at,
            budget_starts = v_st.budget_starts, budget_used = v_st.budget_used WHERE id = v_st.id;
    END IF;
    RETURN v_out;
END $$;

-- ledger_apply(ops, args) is the first form of the batch call: every
-- operation runs through its general function, writing the pool's account
-- row each time. The writers no longer call it; BenchmarkApplyServerCPU
-- compares it with the form above.
CREATE OR REPLACE FUNCTION ledger_apply(p_ops text[], p_args jsonb[]) RETURNS jsonb[] LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb[] := '{}';
BEGIN
    FOR i IN 1 .. cardinality(p_ops) LOOP
        v_out := v_out || CASE p_ops[i]
            WHEN 'reserve' THEN ledger_reserve(p_args[i])
            WHEN 'commit' THEN ledger_commit(p_args[i])
            WHEN 'release' THEN ledger_release(p_args[i])
            WHEN 'charge' THEN ledger_charge(p_args[i])
            WHEN 'credit' THEN ledger_credit(p_args[i])
            WHEN 'refund' THEN ledger_refund(p_args[i])
            WHEN 'transfer' THEN ledger_transfer(p_args[i])
            WHEN 'set_account' THEN ledger_set_account(p_args[i])
        END;
        IF v_out[i] IS NULL THEN
            RAISE EXCEPTION 'ledger_apply: unknown operation %', p_ops[i] USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    RETURN v_out;
END $$;

-- ledger_month_start is the instant the Shanghai month containing p_at
-- starts: ledger_events is partitioned on these bounds, the months of the
-- revenue report's closings and of statements.
CREATE OR REPLACE FUNCTION ledger_month_start(p_at timestamptz) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc('month', p_at AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'
$$;

-- ledger_month_add is the start of the Shanghai month p_months after the
-- one containing p_at.
CREATE OR REPLACE FUNCTION ledger_month_add(p_at timestamptz, p_months int) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT (date_trunc('month', p_at AT TIME ZONE 'Asia/Shanghai') + make_interval(months => p_months)) AT TIME ZONE 'Asia/Shanghai'
$$;

-- ledger_event_partitions lists ledger_events' partitions with their
-- bounds (NULL for MINVALUE and MAXVALUE), oldest first.
CREATE OR REPLACE FUNCTION ledger_event_partitions() RETURNS TABLE (name text, from_at timestamptz, to_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM $r$FROM \('([^']+)'\)$r$)::timestamptz,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM $r$TO \('([^']+)'\)$r$)::timestamptz
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'ledger_events'::regclass AND NOT i.inhdetachpending
    ORDER BY 2 NULLS FIRST
$$;

-- ledger_partitions_ahead makes sure ledger_events has a partition of its
-- own for every Shanghai month from p_at's through p_months later, split
-- off ledger_events_after (the partition for everything from the last
-- month created on), and returns how many it created. Run as the owner
-- role (the application role may not create tables): `credits migrate`
-- and `credits ledger retire` call it (ledger.CreatePartitions). Each new
-- partition gets its own append_only() trigger (statement triggers are not
-- cloned). ledger_events_after is detached and attached again with its new
-- lower bound in this transaction: it is empty while the job keeps ahead,
-- so that takes no scan; a write waits for the parent's lock at most
-- lock_timeout (5 s, then the job fails and the next run tries again). If
-- rows already sit in ledger_events_after in a month to split off (the job
-- did not run for months), it raises instead of moving history.
CREATE OR REPLACE FUNCTION ledger_partitions_ahead(p_at timestamptz, p_months int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_after timestamptz;
    v_month timestamptz;
    v_next  timestamptz;
    v_name  text;
    v_made  int := 0;
BEGIN
    PERFORM set_config('lock_timeout', '5s', true);
    FOR i IN 0 .. p_months LOOP
        v_month := ledger_month_add(p_at, i);
        SELECT from_at INTO v_after FROM ledger_event_partitions() WHERE name = 'ledger_events_after';
        IF v_after IS NULL THEN
            RAISE EXCEPTION 'ledger_partitions_ahead: ledger_events_after is missing';
        END IF;
        CONTINUE WHEN v_month < v_after;
        v_next := ledger_month_add(v_month, 1);
        IF EXISTS (SELECT 1 FROM ledger_events_after WHERE at < v_next) THEN
            RAISE EXCEPTION 'ledger_partitions_ahead: ledger_events_after holds events before %: the months up to it cannot be split off', v_next
                USING HINT = 'the job fell behind; events stay correct in ledger_events_after';
        END IF;
        -- every month from the partition after's bound up to v_month
        WHILE v_after <= v_month LOOP
            v_next := ledger_month_add(v_after, 1);
            v_name := 'ledger_events_' || to_char(v_after AT TIME ZONE 'Asia/Shanghai', 'YYYY_MM');
            ALTER TABLE ledger_events DETACH PARTITION ledger_events_after;
            EXECUTE format('CREATE TABLE %I PARTITION OF ledger_events FOR VALUES FROM (%L) TO (%L)', v_name, v_after, v_next);
            EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION append_only(%L)',
                v_name || '_append_only', v_name, 'write a correcting event (adjustment, refund) instead');
            EXECUTE format('ALTER TABLE ledger_events ATTACH PARTITION ledger_events_after FOR VALUES FROM (%L) TO (MAXVALUE)', v_next);
            v_after := v_next;
            v_made := v_made + 1;
        END LOOP;
    END LOOP;
    RETURN v_made;
END $$;
