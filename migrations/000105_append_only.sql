-- +goose Up
-- The one trigger function of every append-only (history) table: it refuses
-- UPDATE, DELETE and TRUNCATE, even for the table's owner. Attach it as
--
--   CREATE TRIGGER <table>_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON <table>
--       FOR EACH STATEMENT EXECUTE FUNCTION append_only('<what to do instead>');
--
-- (statement-level, so even a statement matching no row is refused, and an
-- INSERT … ON CONFLICT DO UPDATE too). `credits migrate` grants the
-- application role no UPDATE or DELETE on any table carrying this trigger
-- (internal/platform/db/roles.go), so the server could not rewrite such a
-- table even with the trigger gone, and cannot drop it: it owns nothing.
-- +goose StatementBegin
CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = coalesce(TG_ARGV[0], 'history is corrected by a new row, never rewritten');
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION append_only();
