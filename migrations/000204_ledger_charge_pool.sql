-- +goose Up
-- A charge's result names the pool whose lots it spent ("pool"), as a
-- reserve's does since 000203, so the Go side learns an account's pool from
-- its first charge instead of looking it up before it (see
-- internal/ledger/BENCH.md, fifth round). Otherwise as in 000201.
-- +goose StatementBegin
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
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    v_r := ledger_replay(v_pool.id, v_acc.id, 'charge', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    IF v_acc.status = 'frozen' OR v_pool.status = 'frozen' THEN
        RETURN '{"error": "account_frozen"}';
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    SELECT * INTO v_more FROM ledger_spend_more(v_pool.id, v_acc.id, v_amount, v_acc.allocation, v_pool.balance, v_op, NULL, p, v_at);
    v_left := v_amount - v_more.charged;
    IF v_left > 0 THEN
        PERFORM ledger_emit(v_pool.id, v_acc.id, NULL, v_op, 'unpaid_usage', 0, v_more.balance, v_left, NULL, p, v_at);
    END IF;
    UPDATE ledger_accounts SET balance = v_more.balance, last_at = v_at WHERE id = v_pool.id;
    IF v_acc.id <> v_pool.id AND v_acc.allocation IS NOT NULL THEN
        UPDATE ledger_accounts SET allocation = v_more.allocation WHERE id = v_acc.id;
    END IF;
    PERFORM ledger_grace(v_pool.id, v_acc.id, v_more.balance, v_op, p, v_at);
    v_r := jsonb_build_object('op_id', v_op, 'charged', v_more.charged, 'unpaid', v_left,
                              'available', ledger_available(v_acc.id, v_at), 'pool', v_pool.id);
    PERFORM ledger_remember(v_pool.id, v_acc.id, 'charge', p, v_r);
    RETURN v_r;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
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
BEGIN
    v_acc := ledger_lock((p->>'account_id')::bigint);
    IF v_acc.id IS NULL THEN
        RETURN '{"error": "not_found"}';
    END IF;
    SELECT * INTO v_pool FROM ledger_accounts WHERE id = v_acc.pool_id;
    v_r := ledger_replay(v_pool.id, v_acc.id, 'charge', p);
    IF v_r IS NOT NULL THEN
        RETURN v_r;
    END IF;
    IF v_acc.status = 'frozen' OR v_pool.status = 'frozen' THEN
        RETURN '{"error": "account_frozen"}';
    END IF;
    v_at := greatest((p->>'now')::timestamptz, coalesce(v_pool.last_at, '-infinity'));
    v_op := nextval('ledger_op_seq');
    SELECT * INTO v_more FROM ledger_spend_more(v_pool.id, v_acc.id, v_amount, v_acc.allocation, v_pool.balance, v_op, NULL, p, v_at);
    v_left := v_amount - v_more.charged;
    IF v_left > 0 THEN
        PERFORM ledger_emit(v_pool.id, v_acc.id, NULL, v_op, 'unpaid_usage', 0, v_more.balance, v_left, NULL, p, v_at);
    END IF;
    UPDATE ledger_accounts SET balance = v_more.balance, last_at = v_at WHERE id = v_pool.id;
    IF v_acc.id <> v_pool.id AND v_acc.allocation IS NOT NULL THEN
        UPDATE ledger_accounts SET allocation = v_more.allocation WHERE id = v_acc.id;
    END IF;
    PERFORM ledger_grace(v_pool.id, v_acc.id, v_more.balance, v_op, p, v_at);
    v_r := jsonb_build_object('op_id', v_op, 'charged', v_more.charged, 'unpaid', v_left,
                              'available', ledger_available(v_acc.id, v_at));
    PERFORM ledger_remember(v_pool.id, v_acc.id, 'charge', p, v_r);
    RETURN v_r;
END $$;
-- +goose StatementEnd
