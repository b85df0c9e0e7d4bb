-- +goose Up
-- One home for sending a cache invalidation (internal/platform/invalidate
-- calls it; so do the triggers below): a row for the pollers and a
-- pg_notify for the listeners, both in the caller's transaction.
-- +goose StatementBegin
CREATE FUNCTION cache_invalidate(p_topic text, p_key text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO cache_invalidations (topic, key) VALUES (p_topic, p_key) RETURNING id INTO v_id;
    PERFORM pg_notify('credits_invalidate', v_id::text || ':' || p_topic || ':' || p_key);
END $$;
-- +goose StatementEnd

-- The gateway caches each account as its hot path needs it (limits,
-- verification, model allow-list, own rate card, status, enforcement,
-- trial cap). Whoever changes one of those — the API, the portal, the back
-- office, a verification decision, a job — tells every process, because
-- the tables say so, not each writer.
-- +goose StatementBegin
CREATE FUNCTION cache_invalidate_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'ledger_accounts' THEN
        PERFORM cache_invalidate('account', NEW.id::text);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM cache_invalidate('account', OLD.account_id::text);
    ELSE
        PERFORM cache_invalidate('account', NEW.account_id::text);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER gateway_accounts_invalidate AFTER INSERT OR UPDATE OR DELETE ON gateway_accounts
    FOR EACH ROW EXECUTE FUNCTION cache_invalidate_account();
CREATE TRIGGER access_model_lists_invalidate AFTER INSERT OR UPDATE OR DELETE ON access_model_lists
    FOR EACH ROW EXECUTE FUNCTION cache_invalidate_account();
CREATE TRIGGER account_rate_cards_invalidate AFTER INSERT ON account_rate_cards
    FOR EACH ROW EXECUTE FUNCTION cache_invalidate_account();
CREATE TRIGGER verifications_invalidate AFTER INSERT OR UPDATE OF state ON verifications
    FOR EACH ROW EXECUTE FUNCTION cache_invalidate_account();
-- Only the columns the cache holds and no hot-path write sets (balance,
-- reserved, allocation, trial_used and paid_fen move with every call; the
-- gateway re-reads paid_fen itself).
CREATE TRIGGER ledger_accounts_invalidate AFTER UPDATE OF status, enforcement, trial_cap, name ON ledger_accounts
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.enforcement IS DISTINCT FROM NEW.enforcement
        OR OLD.trial_cap IS DISTINCT FROM NEW.trial_cap OR OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION cache_invalidate_account();

-- The tier table (rate limits by cumulative recharge), cached whole.
-- +goose StatementBegin
CREATE FUNCTION cache_invalidate_tiers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cache_invalidate('tiers', '');
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER ledger_tiers_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ledger_tiers
    FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate_tiers();

-- +goose Down
DROP TRIGGER ledger_tiers_invalidate ON ledger_tiers;
DROP FUNCTION cache_invalidate_tiers();
DROP TRIGGER ledger_accounts_invalidate ON ledger_accounts;
DROP TRIGGER verifications_invalidate ON verifications;
DROP TRIGGER account_rate_cards_invalidate ON account_rate_cards;
DROP TRIGGER access_model_lists_invalidate ON access_model_lists;
DROP TRIGGER gateway_accounts_invalidate ON gateway_accounts;
DROP FUNCTION cache_invalidate_account();
DROP FUNCTION cache_invalidate(text, text);
