-- +goose Up
-- Less server work per operation in a batch (see internal/ledger/BENCH.md,
-- fourth round). Same results (a reserve's also names its pool), same
-- refusals, same rows written:
--   * the running state is written back inline (an UPDATE inside the
--     function) instead of through PERFORM ledger_flush(st), which ran a
--     separate executor and passed the whole account row by value for every
--     operation on a new pool — in a spread batch, every operation;
--   * reserve looks its idempotency key up inline instead of calling
--     ledger_replay;
--   * a commit gets its pool as an argument instead of a copy of its
--     request with "pool" added (jsonb concatenation per commit);
--   * a reserve of an account that is its own pool says so in its result
--     ("pool"), so the Go side learns an account's pool from its first
--     reserve instead of a lookup query before it;
--   * ledger_apply stores each result in place instead of copying the
--     result array once per operation;
--   * the sign rules on amounts (balance, reserved, allocation, remaining
--     >= 0; amount > 0) are domains instead of table CHECK constraints.
--     PostgreSQL parses and plans a table's CHECK expressions again for
--     every statement that writes to it (one account UPDATE, one lot UPDATE
--     and one reservation write per operation); a domain's check is
--     compiled once per session and kept in the plan. Same rule, same
--     SQLSTATE (23514 check_violation) when broken. The rule tying kind to
--     parent_id, which the hot path never writes but which a table CHECK
--     would evaluate on every UPDATE, becomes a trigger that fires only
--     when a row is inserted or kind or parent_id is named in an UPDATE.
-- ledger_step holds a ledger_accounts row, so it is dropped (with the
-- functions returning it: ledger_reserve_s and ledger_commit_s of 000202,
-- replaced below by ledger_reserve_t and ledger_commit_t) while the column
-- types change, then created again.

DROP TYPE ledger_step CASCADE;
CREATE DOMAIN ledger_nonneg AS numeric(24, 6) CHECK (VALUE >= 0);
CREATE DOMAIN ledger_positive AS numeric(24, 6) CHECK (VALUE > 0);
ALTER TABLE ledger_accounts
    DROP CONSTRAINT ledger_accounts_allocation_check,
    DROP CONSTRAINT ledger_accounts_balance_check,
    DROP CONSTRAINT ledger_accounts_reserved_check,
    DROP CONSTRAINT ledger_accounts_check,
    ALTER COLUMN allocation TYPE ledger_nonneg,
    ALTER COLUMN balance TYPE ledger_nonneg,
    ALTER COLUMN reserved TYPE ledger_nonneg;
ALTER TABLE ledger_lots
    DROP CONSTRAINT ledger_lots_amount_check,
    DROP CONSTRAINT ledger_lots_remaining_check,
    ALTER COLUMN amount TYPE ledger_positive,
    ALTER COLUMN remaining TYPE ledger_nonneg;
ALTER TABLE ledger_reservations
    DROP CONSTRAINT ledger_reservations_amount_check,
    ALTER COLUMN amount TYPE ledger_positive;
CREATE TYPE ledger_step AS (st ledger_accounts, res jsonb);

-- +goose StatementBegin
-- ledger_accounts_kind_check is the former CHECK ((kind = 'sub') =
-- (parent_id IS NOT NULL)), run only when a row is inserted or one of the
-- two columns is named in an UPDATE.
CREATE FUNCTION ledger_accounts_kind_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.kind = 'sub') IS DISTINCT FROM (NEW.parent_id IS NOT NULL) THEN
        RAISE EXCEPTION 'new row for relation "ledger_accounts" violates check constraint "ledger_accounts_check"'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_accounts_check', TABLE = 'ledger_accounts';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER ledger_accounts_kind_check BEFORE INSERT OR UPDATE OF kind, parent_id ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_accounts_kind_check();


-- +goose StatementBegin
-- ledger_reserve_t is ledger_reserve for an account that is its own pool,
-- on the running state st of that pool (locked and read earlier in this
-- batch; NULL before the first operation on it), returning the new state
-- and the result. Anything else (a sub-account, an allocation) is handed
-- to ledger_reserve after writing st back.
CREATE FUNCTION ledger_reserve_t(p jsonb, st ledger_accounts) RETURNS ledger_step LANGUAGE plpgsql AS $$
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
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at WHERE id = st.id;
        END IF;
        SELECT * INTO st FROM ledger_accounts WHERE id = v_id AND pool_id = v_id FOR UPDATE;
    END IF;
    IF st.id IS NULL OR st.allocation IS NOT NULL THEN
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at WHERE id = st.id;
        END IF;
        RETURN ROW(NULL, ledger_reserve(p))::ledger_step;
    END IF;
    IF v_key <> '' THEN
        -- ledger_replay, inlined
        SELECT op, args_hash, result INTO v_iop, v_ihash, v_r FROM ledger_idempotency
        WHERE pool_id = st.id AND account_id = st.id AND key = v_key;
        IF FOUND THEN
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
-- unknown or closed one, a custom key or a commit beyond the hold is handed
-- to ledger_commit after writing st back.
CREATE FUNCTION ledger_commit_t(p jsonb, st ledger_accounts, p_pool bigint) RETURNS ledger_step LANGUAGE plpgsql AS $$
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
    v_avail numeric;
    h jsonb;
BEGIN
    IF v_pool_id IS NULL OR st.id IS DISTINCT FROM v_pool_id THEN
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at WHERE id = st.id;
        END IF;
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
        IF st.id IS NOT NULL THEN
            UPDATE ledger_accounts SET balance = st.balance, reserved = st.reserved, last_at = st.last_at WHERE id = st.id;
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

-- ledger_apply: as in 000202 (one call per batch, results in order,
-- consecutive reserves and commits of one pool sharing its running state),
-- now through ledger_reserve_t and ledger_commit_t.
CREATE OR REPLACE FUNCTION ledger_apply(p_ops text[], p_args jsonb[], p_pools bigint[]) RETURNS jsonb[] LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb[] := '{}';
    v_st ledger_accounts;
    v_step ledger_step;
    v_r jsonb;
BEGIN
    FOR i IN 1 .. cardinality(p_ops) LOOP
        IF p_ops[i] IN ('reserve', 'commit') AND NOT p_args[i] ? 'grace' THEN
            IF p_ops[i] = 'reserve' THEN
                v_step := ledger_reserve_t(p_args[i], v_st);
            ELSE
                v_step := ledger_commit_t(p_args[i], v_st, p_pools[i]);
            END IF;
            v_st := v_step.st;
            v_r := v_step.res;
        ELSE
            IF v_st.id IS NOT NULL THEN
                UPDATE ledger_accounts SET balance = v_st.balance, reserved = v_st.reserved, last_at = v_st.last_at WHERE id = v_st.id;
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
            END;
        END IF;
        IF v_r IS NULL THEN
            RAISE EXCEPTION 'ledger_apply: unknown operation %', p_ops[i] USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_out[i] := v_r; -- in place, not a copy of the array per operation
    END LOOP;
    IF v_st.id IS NOT NULL THEN
        UPDATE ledger_accounts SET balance = v_st.balance, reserved = v_st.reserved, last_at = v_st.last_at WHERE id = v_st.id;
    END IF;
    RETURN v_out;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION ledger_commit_t(jsonb, ledger_accounts, bigint);
DROP FUNCTION ledger_reserve_t(jsonb, ledger_accounts);
DROP TRIGGER ledger_accounts_kind_check ON ledger_accounts;
DROP FUNCTION ledger_accounts_kind_check();
DROP TYPE ledger_step;
ALTER TABLE ledger_reservations
    ALTER COLUMN amount TYPE numeric(24, 6),
    ADD CONSTRAINT ledger_reservations_amount_check CHECK (amount > 0);
ALTER TABLE ledger_lots
    ALTER COLUMN amount TYPE numeric(24, 6),
    ALTER COLUMN remaining TYPE numeric(24, 6),
    ADD CONSTRAINT ledger_lots_amount_check CHECK (amount > 0),
    ADD CONSTRAINT ledger_lots_remaining_check CHECK (remaining >= 0);
ALTER TABLE ledger_accounts
    ALTER COLUMN allocation TYPE numeric(24, 6),
    ALTER COLUMN balance TYPE numeric(24, 6),
    ALTER COLUMN reserved TYPE numeric(24, 6),
    ADD CONSTRAINT ledger_accounts_allocation_check CHECK (allocation >= 0),
    ADD CONSTRAINT ledger_accounts_balance_check CHECK (balance >= 0),
    ADD CONSTRAINT ledger_accounts_reserved_check CHECK (reserved >= 0),
    ADD CONSTRAINT ledger_accounts_check CHECK ((kind = 'sub') = (parent_id IS NOT NULL));
DROP DOMAIN ledger_positive;
DROP DOMAIN ledger_nonneg;
CREATE TYPE ledger_step AS (st ledger_accounts, res jsonb);
-- +goose StatementBegin
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

CREATE OR REPLACE FUNCTION ledger_apply(p_ops text[], p_args jsonb[], p_pools bigint[]) RETURNS jsonb[] LANGUAGE plpgsql AS $$
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
