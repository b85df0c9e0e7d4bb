-- +goose Up
-- Cost cards (internal/costs; README "Upstream cost and margin"): what the
-- platform pays its providers for each model, versioned and immutable like
-- the public rate card (000300). Every charge names the version that costed
-- it in its ledger event's detail (cost_version) beside its cost in RMB
-- (cost), so a margin is read from the ledger alone.
CREATE TABLE cost_card_versions (
    version      integer PRIMARY KEY CHECK (version > 0),
    effective_at timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL CHECK (created_by <> ''),
    note         text NOT NULL DEFAULT '',
    CONSTRAINT cost_card_versions_effective_at_key UNIQUE (effective_at)
);

-- Costs are RMB (not credits) per 1,000 tokens, or per request for
-- per_request models; a free line costs nothing. The shapes are the rate
-- card's.
CREATE TABLE cost_card_prices (
    version          integer NOT NULL REFERENCES cost_card_versions (version),
    model            text NOT NULL CHECK (model <> '' AND length(model) <= 128),
    billing_type     text NOT NULL CHECK (billing_type IN ('token', 'per_request', 'free')),
    input_per_1k     numeric NOT NULL DEFAULT 0 CHECK (input_per_1k >= 0),
    output_per_1k    numeric NOT NULL DEFAULT 0 CHECK (output_per_1k >= 0),
    cache_hit_per_1k numeric NOT NULL DEFAULT 0 CHECK (cache_hit_per_1k >= 0),
    per_request      numeric NOT NULL DEFAULT 0 CHECK (per_request >= 0),
    PRIMARY KEY (version, model),
    CONSTRAINT cost_card_prices_free_is_zero CHECK (
        billing_type <> 'free'
        OR (input_per_1k = 0 AND output_per_1k = 0 AND cache_hit_per_1k = 0 AND per_request = 0)),
    CONSTRAINT cost_card_prices_per_request_shape CHECK (
        billing_type <> 'per_request'
        OR (per_request > 0 AND input_per_1k = 0 AND output_per_1k = 0 AND cache_hit_per_1k = 0)),
    CONSTRAINT cost_card_prices_token_shape CHECK (billing_type <> 'token' OR per_request = 0)
);

-- A line may only join the version created in its own transaction, so a
-- published cost card never gains a model.
-- +goose StatementBegin
CREATE FUNCTION cost_card_price_same_tx() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    creator xid;
BEGIN
    SELECT xmin INTO creator FROM cost_card_versions WHERE version = NEW.version;
    IF creator IS NULL THEN
        RETURN NEW; -- the foreign key reports the missing version
    END IF;
    IF creator::text::bigint <> (txid_current() % 4294967296) THEN
        RAISE EXCEPTION 'cost cards are immutable: version % is already published', NEW.version
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER cost_card_prices_same_tx BEFORE INSERT ON cost_card_prices
    FOR EACH ROW EXECUTE FUNCTION cost_card_price_same_tx();
CREATE TRIGGER cost_card_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cost_card_versions
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new cost card version instead');
CREATE TRIGGER cost_card_prices_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cost_card_prices
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new cost card version instead');

-- +goose Down
DROP TABLE cost_card_prices;
DROP TABLE cost_card_versions;
DROP FUNCTION cost_card_price_same_tx();
