-- +goose Up
-- Rate cards: versioned and immutable. A new version has its own effective
-- time and never rewrites an old one; every charge records the version it used
-- (internal/pricing owns these tables).
CREATE TABLE rate_card_versions (
    version      integer PRIMARY KEY CHECK (version > 0),
    effective_at timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL CHECK (created_by <> ''),
    note         text NOT NULL DEFAULT '',
    CONSTRAINT rate_card_versions_effective_at_key UNIQUE (effective_at)
);

-- Prices are credits (1 credit = CREDIT_PRICE_RMB, default ¥0.001) per 1,000
-- tokens, or per request for per_request models. cache_hit_per_1k applies to
-- cache-hit input tokens, counted separately from (not inside) input tokens.
CREATE TABLE rate_card_prices (
    version          integer NOT NULL REFERENCES rate_card_versions (version),
    model            text NOT NULL CHECK (model <> '' AND length(model) <= 128),
    billing_type     text NOT NULL CHECK (billing_type IN ('token', 'per_request', 'free')),
    input_per_1k     numeric NOT NULL DEFAULT 0 CHECK (input_per_1k >= 0),
    output_per_1k    numeric NOT NULL DEFAULT 0 CHECK (output_per_1k >= 0),
    cache_hit_per_1k numeric NOT NULL DEFAULT 0 CHECK (cache_hit_per_1k >= 0),
    per_request      numeric NOT NULL DEFAULT 0 CHECK (per_request >= 0),
    PRIMARY KEY (version, model),
    CONSTRAINT rate_card_prices_free_is_zero CHECK (
        billing_type <> 'free'
        OR (input_per_1k = 0 AND output_per_1k = 0 AND cache_hit_per_1k = 0 AND per_request = 0)),
    CONSTRAINT rate_card_prices_per_request_shape CHECK (
        billing_type <> 'per_request'
        OR (per_request > 0 AND input_per_1k = 0 AND output_per_1k = 0 AND cache_hit_per_1k = 0)),
    CONSTRAINT rate_card_prices_token_shape CHECK (billing_type <> 'token' OR per_request = 0)
);

-- +goose StatementBegin
CREATE FUNCTION rate_card_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rate cards are immutable: % on % refused (publish a new version instead)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'P0001';
END;
$$;
-- +goose StatementEnd

-- A price row may only be added in the transaction that created its version,
-- so an old card cannot gain a model after the fact.
-- +goose StatementBegin
CREATE FUNCTION rate_card_price_same_tx() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    creator xid;
BEGIN
    SELECT xmin INTO creator FROM rate_card_versions WHERE version = NEW.version;
    IF creator IS NULL THEN
        RETURN NEW; -- the foreign key reports the missing version
    END IF;
    IF creator::text::bigint <> (txid_current() % 4294967296) THEN
        RAISE EXCEPTION 'rate cards are immutable: version % is already published', NEW.version
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER rate_card_versions_immutable
    BEFORE UPDATE OR DELETE ON rate_card_versions
    FOR EACH ROW EXECUTE FUNCTION rate_card_immutable();
CREATE TRIGGER rate_card_versions_no_truncate
    BEFORE TRUNCATE ON rate_card_versions
    FOR EACH STATEMENT EXECUTE FUNCTION rate_card_immutable();
CREATE TRIGGER rate_card_prices_immutable
    BEFORE UPDATE OR DELETE ON rate_card_prices
    FOR EACH ROW EXECUTE FUNCTION rate_card_immutable();
CREATE TRIGGER rate_card_prices_no_truncate
    BEFORE TRUNCATE ON rate_card_prices
    FOR EACH STATEMENT EXECUTE FUNCTION rate_card_immutable();
CREATE TRIGGER rate_card_prices_same_tx
    BEFORE INSERT ON rate_card_prices
    FOR EACH ROW EXECUTE FUNCTION rate_card_price_same_tx();

-- +goose Down
DROP TABLE rate_card_prices;
DROP TABLE rate_card_versions;
DROP FUNCTION rate_card_price_same_tx();
DROP FUNCTION rate_card_immutable();
