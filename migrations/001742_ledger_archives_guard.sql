-- +goose Up
-- The archive's checkpoints (001741) are history verify and BalanceAt rely
-- on: the per-pool and per-lot rows are append-only, so the grants give the
-- application role SELECT and INSERT only; an archive's row changes only
-- once, when Restore marks it restored, and only as the tables' owner
-- (the role `credits ledger restore` connects as).
CREATE TRIGGER ledger_archive_pools_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_archive_pools
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('an archived month''s checkpoint is never rewritten');
CREATE TRIGGER ledger_archive_lots_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_archive_lots
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('an archived month''s checkpoint is never rewritten');

-- +goose StatementBegin
CREATE FUNCTION ledger_archives_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.restored_at IS NULL AND NEW.restored_at IS NOT NULL
       AND (NEW.id, NEW.partition, NEW.from_at, NEW.to_at, NEW.file, NEW.sha256, NEW.events, NEW.archived_at)
           IS NOT DISTINCT FROM (OLD.id, OLD.partition, OLD.from_at, OLD.to_at, OLD.file, OLD.sha256, OLD.events, OLD.archived_at)
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger_archives: % refused: an archive is only marked restored, by credits ledger restore as the owner role', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER ledger_archives_guard BEFORE UPDATE OR DELETE ON ledger_archives
    FOR EACH ROW EXECUTE FUNCTION ledger_archives_guard();
CREATE TRIGGER ledger_archives_no_truncate BEFORE TRUNCATE ON ledger_archives
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('an archive is only marked restored');

-- +goose Down
DROP TRIGGER ledger_archives_no_truncate ON ledger_archives;
DROP TRIGGER ledger_archives_guard ON ledger_archives;
DROP FUNCTION ledger_archives_guard();
DROP TRIGGER ledger_archive_lots_append_only ON ledger_archive_lots;
DROP TRIGGER ledger_archive_pools_append_only ON ledger_archive_pools;
