-- +goose Up
-- The ledger's operations are server-side functions. Their one live
-- definition is internal/ledger/schema/functions.sql, which db.Migrate
-- applies (CREATE OR REPLACE) after the numbered migrations every time it
-- runs; this migration defined them once and now keeps nothing.

-- +goose Down
-- The functions take and return the ledger's row types, so they go before
-- the tables of 000200 (trigger functions stay: their migrations drop them).
-- +goose StatementBegin
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'ledger\_%'
               AND p.prorettype <> 'trigger'::regtype LOOP
        EXECUTE 'DROP FUNCTION ' || f;
    END LOOP;
END $$;
-- +goose StatementEnd
