-- +goose Up
-- Every history table is append-only through the one trigger function
-- append_only() (000105). The tables that already were move to it from
-- their own functions; payment_order_transitions, payment_refunds and
-- webhook_deliveries (the attempt log), and the ledger-adjacent records
-- ledger_idempotency (the first result of every ledger operation, which a
-- retry returns), gateway_expiry_reminders (reminders sent) and
-- channel_bill_imports (channel bills imported) join them.
--
-- None of the new ones mixes current state with history: a payment_refunds
-- row is written once, with its final state, in the transaction that
-- refunds (a later state of a refund would be a new row of its own events
-- table, as payment_order_transitions is for payment_orders); a
-- webhook_deliveries row is one attempt, written once when the attempt
-- ends (internal/webhook). Current state lives in mutable rows of other
-- tables (payment_orders, River's job row).

DROP TRIGGER ledger_events_no_update ON ledger_events;
DROP TRIGGER ledger_events_no_truncate ON ledger_events;
DROP FUNCTION ledger_events_refuse();
CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('write a correcting event (adjustment, refund) instead');

DROP TRIGGER admin_audit_log_no_update ON admin_audit_log;
DROP TRIGGER admin_audit_log_no_truncate ON admin_audit_log;
DROP FUNCTION admin_audit_log_refuse();
CREATE TRIGGER admin_audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON admin_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

DROP TRIGGER pii_access_log_append_only ON pii_access_log;
DROP TRIGGER verification_events_append_only ON verification_events;
DROP TRIGGER verification_bonuses_append_only ON verification_bonuses;
DROP TRIGGER invoice_events_append_only ON invoice_events;
DROP FUNCTION verification_append_only();
CREATE TRIGGER pii_access_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON pii_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER verification_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON verification_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER verification_bonuses_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON verification_bonuses
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('a bonus is granted once per account');
CREATE TRIGGER invoice_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON invoice_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- Rate cards keep rate_card_price_same_tx (a price joins only the version
-- created in its own transaction).
DROP TRIGGER rate_card_versions_immutable ON rate_card_versions;
DROP TRIGGER rate_card_versions_no_truncate ON rate_card_versions;
DROP TRIGGER rate_card_prices_immutable ON rate_card_prices;
DROP TRIGGER rate_card_prices_no_truncate ON rate_card_prices;
DROP FUNCTION rate_card_immutable();
CREATE TRIGGER rate_card_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rate_card_versions
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new rate card version instead');
CREATE TRIGGER rate_card_prices_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rate_card_prices
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new rate card version instead');

CREATE TRIGGER payment_order_transitions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON payment_order_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER payment_refunds_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON payment_refunds
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER webhook_deliveries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('each delivery attempt is its own row');
CREATE TRIGGER ledger_idempotency_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_idempotency
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER gateway_expiry_reminders_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON gateway_expiry_reminders
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER channel_bill_imports_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON channel_bill_imports
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- +goose Down
DROP TRIGGER channel_bill_imports_append_only ON channel_bill_imports;
DROP TRIGGER gateway_expiry_reminders_append_only ON gateway_expiry_reminders;
DROP TRIGGER ledger_idempotency_append_only ON ledger_idempotency;
DROP TRIGGER webhook_deliveries_append_only ON webhook_deliveries;
DROP TRIGGER payment_refunds_append_only ON payment_refunds;
DROP TRIGGER payment_order_transitions_append_only ON payment_order_transitions;

DROP TRIGGER rate_card_prices_append_only ON rate_card_prices;
DROP TRIGGER rate_card_versions_append_only ON rate_card_versions;
-- +goose StatementBegin
CREATE FUNCTION rate_card_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rate cards are immutable: % on % refused (publish a new version instead)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'P0001';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER rate_card_versions_immutable BEFORE UPDATE OR DELETE ON rate_card_versions
    FOR EACH ROW EXECUTE FUNCTION rate_card_immutable();
CREATE TRIGGER rate_card_versions_no_truncate BEFORE TRUNCATE ON rate_card_versions
    FOR EACH STATEMENT EXECUTE FUNCTION rate_card_immutable();
CREATE TRIGGER rate_card_prices_immutable BEFORE UPDATE OR DELETE ON rate_card_prices
    FOR EACH ROW EXECUTE FUNCTION rate_card_immutable();
CREATE TRIGGER rate_card_prices_no_truncate BEFORE TRUNCATE ON rate_card_prices
    FOR EACH STATEMENT EXECUTE FUNCTION rate_card_immutable();

DROP TRIGGER invoice_events_append_only ON invoice_events;
DROP TRIGGER verification_bonuses_append_only ON verification_bonuses;
DROP TRIGGER verification_events_append_only ON verification_events;
DROP TRIGGER pii_access_log_append_only ON pii_access_log;
-- +goose StatementBegin
CREATE FUNCTION verification_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER pii_access_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON pii_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION verification_append_only();
CREATE TRIGGER verification_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON verification_events
    FOR EACH STATEMENT EXECUTE FUNCTION verification_append_only();
CREATE TRIGGER verification_bonuses_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON verification_bonuses
    FOR EACH STATEMENT EXECUTE FUNCTION verification_append_only();
CREATE TRIGGER invoice_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON invoice_events
    FOR EACH STATEMENT EXECUTE FUNCTION verification_append_only();

DROP TRIGGER admin_audit_log_append_only ON admin_audit_log;
-- +goose StatementBegin
CREATE FUNCTION admin_audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER admin_audit_log_no_update BEFORE UPDATE OR DELETE ON admin_audit_log
    FOR EACH ROW EXECUTE FUNCTION admin_audit_log_refuse();
CREATE TRIGGER admin_audit_log_no_truncate BEFORE TRUNCATE ON admin_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_log_refuse();

DROP TRIGGER ledger_events_append_only ON ledger_events;
-- +goose StatementBegin
CREATE FUNCTION ledger_events_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'write a correcting event (adjustment, refund) instead';
END $$;
-- +goose StatementEnd
CREATE TRIGGER ledger_events_no_update BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_events_refuse();
CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_refuse();
