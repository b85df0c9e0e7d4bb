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
-- functions returning it, in databases migrated before the functions moved
-- to internal/ledger/schema/functions.sql) while the column types change,
-- then created again. The functions this migration introduced
-- (ledger_reserve_t, ledger_commit_t, the new ledger_apply) are defined in
-- that file.

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

-- +goose Down
DROP TRIGGER ledger_accounts_kind_check ON ledger_accounts;
DROP FUNCTION ledger_accounts_kind_check();
-- (and the functions that return it, defined in functions.sql)
DROP TYPE ledger_step CASCADE;
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
