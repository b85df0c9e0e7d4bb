-- +goose Up
-- Batches keep a pool's running state (balance, reserved, last_at) in a
-- variable while consecutive reserves and commits of that pool run, and
-- write the account row once when the batch moves on to another pool or
-- ends: one account UPDATE per pool per batch instead of one per operation,
-- and no chain of row versions for the next operation's read to walk.
-- ledger_apply now also takes each operation's pool (the Go writer knows
-- it), so a commit finds its reservation by primary key without first
-- looking up the account.

CREATE TYPE ledger_step AS (st ledger_accounts, res jsonb);

-- +goose StatementBegin
-- ledger_flush writes a batch's running state of a pool to its account row.
CREATE FUNCTION ledger_flush(st ledger_accounts) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF st.id IS NOT NULL THEN
        UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at WHERE id = st.id;
    END IF;
END $$;

-- ledger_reserve_s is ledger_reserve for an account that is its own pool,
-- on the running state st of that pool (locked, read earlier in this
-- batch; NULL for the first operation on it). It returns the new state and
-- the result. Anything else (a sub-account, an allocation) is handed to
-- ledger_reserve after writing st back.
CREATE FUNCTION ledger_reserve_s(p jsonb, st ledger_accounts) RETURNS ledger_step LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint := (p->>'account_id')::bigint;
    v_r jsonb;
    v_at timestamptz;
    v_amount numeric := (p->>'amount')::numeric;
    v_key text := coalesce(p->>'key', '');
    v_model text := coalesce(p->>'model', '');
    v_session text := coalesce(p->>'session_id', '');
    v_request text := coalesce(p->>'request_id', '');
    v_detail jsonb := nullif(p->'detail', 'null'::jsonb);
    v_left numeric := v_amount;
    v_seen numeric := 0;
    v_lots bigint[] := '{}';
    v_takes numeric[] := '{}';
    v_op bigint;
    v_res bigint;
    v_bal numeric;
    v_holds jsonb := '[]';
    v_exp timestamptz;
    l record;
BEGIN
    IF st.id IS DISTINCT FROM v_id THEN
        PERFORM ledger_flush(st);
        SELECT * INTO st FROM ledger_accounts WHERE id = v_id AND pool_id = v_id FOR UPDATE;
    END IF;
    IF st.id IS NULL OR st.allocation IS NOT NULL THEN
        PERFORM ledger_flush(st);
        RETURN ROW(NULL, ledger_reserve(p))::ledger_step;
    END IF;
    v_r := ledger_replay(st.id, st.id, 'reserve', p);
    IF v_r IS NOT NULL THEN
        RETURN ROW(st, v_r)::ledger_step;
    END IF;
    IF st.status = 'frozen' THEN
        RETURN ROW(st, '{"error": "account_frozen"}'::jsonb)::ledger_step;
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(st.last_at, '-infinity'));
    -- spending order: see ledger.SpendOrder
    FOR l IN SELECT id, remaining FROM ledger_lots
             WHERE pool_id = st.id AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_at)
             ORDER BY expires_at ASC NULLS LAST, (kind = 'paid'), created_at, id LOOP
        EXIT WHEN v_left <= 0;
        v_lots := v_lots || l.id;
        v_takes := v_takes || least(v_left, l.remaining);
        v_left := v_left - least(v_left, l.remaining);
        v_seen := v_seen + l.remaining;
    END LOOP;
    IF v_left > 0 THEN
        RETURN ROW(st, jsonb_build_object('error', 'insufficient_credits', 'available', v_seen))::ledger_step;
    END IF;
    v_op := nextval('ledger_op_seq');
    v_res := nextval('ledger_reservations_id_seq');
    v_bal := st.balance;
    FOR i IN 1 .. cardinality(v_lots) LOOP
        v_bal := v_bal - v_takes[i];
        UPDATE ledger_lots SET remaining = remaining - v_takes[i] WHERE pool_id = st.id AND id = v_lots[i];
        INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                   idempotency_key, model, request_id, session_id, detail, occurred_at, at)
        VALUES (st.id, st.id, v_lots[i], v_op, 'reservation', -v_takes[i], v_bal, v_res,
                v_key, v_model, v_request, v_session, v_detail, v_at, v_at);
        v_holds := v_holds || jsonb_build_object('lot', v_lots[i], 'amount', v_takes[i]);
    END LOOP;
    v_exp := v_at + make_interval(secs => (p->>'ttl_seconds')::float8);
    INSERT INTO ledger_reservations (pool_id, id, account_id, amount, holds, status, expires_at, model,
                                     session_id, request_id, created_at)
    OVERRIDING SYSTEM VALUE
    VALUES (st.id, v_res, st.id, v_amount, v_holds, 'open', v_exp, v_model, v_session, v_request, v_at);
    st.balance := v_bal;
    st.reserved := st.reserved + v_amount;
    st.last_at := v_at;
    v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_res, 'account_id', st.id, 'amount', v_amount,
                              'expires_at', v_exp, 'holds', v_holds);
    IF v_key <> '' THEN
        INSERT INTO ledger_idempotency (pool_id, account_id, key, op, args_hash, result)
        VALUES (st.id, st.id, v_key, 'reserve', coalesce(p->>'hash', ''), v_r);
    END IF;
    RETURN ROW(st, v_r)::ledger_step;
END $$;

-- ledger_commit_s is ledger_commit for a reservation of an account that is
-- its own pool p->>'pool', on the running state st (as ledger_reserve_s).
-- The reservation is read by primary key. A reservation of a sub-account,
-- an unknown one, or a commit that must charge beyond its hold, is handed
-- to ledger_commit after writing st back.
CREATE FUNCTION ledger_commit_s(p jsonb, st ledger_accounts) RETURNS ledger_step LANGUAGE plpgsql AS $$
DECLARE
    v_pool_id bigint := (p->>'pool')::bigint;
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
    v_avail numeric;
    h jsonb;
BEGIN
    IF v_pool_id IS NULL OR st.id IS DISTINCT FROM v_pool_id THEN
        PERFORM ledger_flush(st);
        st := NULL;
        IF v_pool_id IS NOT NULL THEN
            SELECT * INTO st FROM ledger_accounts WHERE id = v_pool_id AND pool_id = v_pool_id FOR UPDATE;
        END IF;
    END IF;
    IF st.id IS NOT NULL THEN
        SELECT * INTO v_res FROM ledger_reservations WHERE pool_id = st.id AND id = v_id;
    END IF;
    IF st.id IS NULL OR st.allocation IS NOT NULL OR v_res.id IS NULL OR v_res.account_id <> st.id
       OR v_key <> 'commit:' || v_id OR v_res.status <> 'open' OR v_actual > v_res.amount THEN
        -- not the common case: a sub-account, an unknown or closed
        -- reservation, a custom key, or an excess beyond the hold
        v_r := ledger_close_replay(v_res, 'commit', p);
        IF st.id IS NOT NULL AND v_res.id IS NOT NULL AND v_r IS NOT NULL THEN
            RETURN ROW(st, v_r)::ledger_step;
        END IF;
        PERFORM ledger_flush(st);
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
                                       idempotency_key, model, request_id, session_id, detail, occurred_at, at)
            VALUES (st.id, st.id, v_lot, v_op, 'reservation_release', v_h, v_bal + v_h, v_res.id,
                    v_key, v_res.model, v_res.request_id, v_res.session_id, v_detail, v_at, v_at),
                   (st.id, st.id, v_lot, v_op, 'deduction', -v_c, v_bal + v_h - v_c, v_res.id,
                    v_key, v_res.model, v_res.request_id, v_res.session_id, v_detail, v_at, v_at);
        ELSE
            INSERT INTO ledger_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
                                       idempotency_key, model, request_id, session_id, detail, occurred_at, at)
            VALUES (st.id, st.id, v_lot, v_op, 'reservation_release', v_h, v_bal + v_h, v_res.id,
                    v_key, v_res.model, v_res.request_id, v_res.session_id, v_detail, v_at, v_at);
        END IF;
        v_bal := v_bal + v_h - v_c;
        v_left := v_left - v_c;
        v_charged := v_charged + v_c;
        IF v_h > v_c THEN
            UPDATE ledger_lots SET remaining = remaining + (v_h - v_c) WHERE pool_id = st.id AND id = v_lot;
            v_released := v_released + (v_h - v_c);
        END IF;
    END LOOP;
    st.balance := v_bal;
    st.reserved := st.reserved - v_res.amount;
    st.last_at := v_at;
    SELECT coalesce(sum(remaining), 0) INTO v_avail FROM ledger_lots
    WHERE pool_id = st.id AND remaining > 0 AND (expires_at IS NULL OR expires_at > v_at);
    v_r := jsonb_build_object('op_id', v_op, 'reservation_id', v_res.id, 'charged', v_charged,
                              'released', v_released, 'unpaid', v_left, 'available', v_avail);
    UPDATE ledger_reservations SET status = 'committed', closed_at = v_at,
        close_key = v_key, close_op = 'commit', close_hash = coalesce(p->>'hash', ''), close_result = v_r
    WHERE pool_id = st.id AND id = v_res.id;
    RETURN ROW(st, v_r)::ledger_step;
END $$;

-- ledger_apply runs a batch of operations in one call (one round trip, one
-- statement): p_ops[i] names the operation (credit, reserve, commit,
-- release, charge, refund, transfer, set_account), p_args[i] is its
-- request and p_pools[i] its pool. It returns the results in the same
-- order. Consecutive reserves and commits of one pool share its running
-- state (see ledger_reserve_s), written back before any other operation
-- and at the end. A refusal is a result, so it does not disturb its
-- neighbours; an exception fails the whole call, and the caller then runs
-- each operation on its own. Callers sort the batch by pool so that pools
-- are locked in ascending order.
CREATE FUNCTION ledger_apply(p_ops text[], p_args jsonb[], p_pools bigint[]) RETURNS jsonb[] LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb[] := '{}';
    v_st ledger_accounts;
    v_step ledger_step;
    v_r jsonb;
BEGIN
    FOR i IN 1 .. cardinality(p_ops) LOOP
        IF p_ops[i] IN ('reserve', 'commit') AND NOT p_args[i] ? 'grace' THEN
            IF p_ops[i] = 'reserve' THEN
                v_step := ledger_reserve_s(p_args[i], v_st);
            ELSE
                v_step := ledger_commit_s(p_args[i] || jsonb_build_object('pool', p_pools[i]), v_st);
            END IF;
            v_st := v_step.st;
            v_r := v_step.res;
        ELSE
            PERFORM ledger_flush(v_st);
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
            END;
        END IF;
        IF v_r IS NULL THEN
            RAISE EXCEPTION 'ledger_apply: unknown operation %', p_ops[i] USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_out := v_out || v_r;
    END LOOP;
    PERFORM ledger_flush(v_st);
    RETURN v_out;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION ledger_apply(text[], jsonb[], bigint[]);
DROP FUNCTION ledger_commit_s(jsonb, ledger_accounts);
DROP FUNCTION ledger_reserve_s(jsonb, ledger_accounts);
DROP FUNCTION ledger_flush(ledger_accounts);
DROP TYPE ledger_step;
