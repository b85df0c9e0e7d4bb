-- +goose Up
-- Prices per customer (internal/pricing account.go; README "Prices per
-- customer"). An account's own rate card, versioned and immutable like the
-- public card: each change is a new version, effective when written.
--
--   none      no own prices (a sub-account then has its enterprise's card,
--             anyone else the public card): how a card is taken away
--   pinned    the prices of a published public version (grandfathered)
--   discount  the public card in force, discount_pct percent off each rate
--   custom    its own lines (account_rate_card_prices); models it does not
--             list are priced by the public card in force
--
-- A charge names the card that priced it by id (one id per version) in its
-- ledger event's detail: account_card_id and account_card_version beside
-- rate_card_version. approval_id names the maker-checker approval a card
-- waited for, when it was beyond the discount limit.
CREATE TABLE account_rate_cards (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES ledger_accounts (id),
    version        integer NOT NULL CHECK (version > 0),
    kind           text NOT NULL CHECK (kind IN ('none', 'pinned', 'discount', 'custom')),
    pinned_version integer REFERENCES rate_card_versions (version),
    discount_pct   numeric(5, 2) CHECK (discount_pct > 0 AND discount_pct < 100),
    effective_at   timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL CHECK (created_by <> ''),
    note           text NOT NULL DEFAULT '',
    approval_id    bigint REFERENCES admin_approvals (id),
    CONSTRAINT account_rate_cards_version_key UNIQUE (account_id, version),
    CONSTRAINT account_rate_cards_shape CHECK (
        (kind = 'pinned') = (pinned_version IS NOT NULL) AND (kind = 'discount') = (discount_pct IS NOT NULL))
);

-- A custom card's lines, in the units and shapes of rate_card_prices.
CREATE TABLE account_rate_card_prices (
    card_id          bigint NOT NULL REFERENCES account_rate_cards (id),
    model            text NOT NULL CHECK (model <> '' AND length(model) <= 128),
    billing_type     text NOT NULL CHECK (billing_type IN ('token', 'per_request', 'free')),
    input_per_1k     numeric NOT NULL DEFAULT 0 CHECK (input_per_1k >= 0),
    output_per_1k    numeric NOT NULL DEFAULT 0 CHECK (output_per_1k >= 0),
    cache_hit_per_1k numeric NOT NULL DEFAULT 0 CHECK (cache_hit_per_1k >= 0),
    per_request      numeric NOT NULL DEFAULT 0 CHECK (per_request >= 0),
    PRIMARY KEY (card_id, model),
    CONSTRAINT account_rate_card_prices_free_is_zero CHECK (
        billing_type <> 'free'
        OR (input_per_1k = 0 AND output_per_1k = 0 AND cache_hit_per_1k = 0 AND per_request = 0)),
    CONSTRAINT account_rate_card_prices_per_request_shape CHECK (
        billing_type <> 'per_request'
        OR (per_request > 0 AND input_per_1k = 0 AND output_per_1k = 0 AND cache_hit_per_1k = 0)),
    CONSTRAINT account_rate_card_prices_token_shape CHECK (billing_type <> 'token' OR per_request = 0)
);

-- A line may only join the card written in its own transaction, so a card
-- in force never gains a model.
-- +goose StatementBegin
CREATE FUNCTION account_rate_card_price_same_tx() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    creator xid;
BEGIN
    SELECT xmin INTO creator FROM account_rate_cards WHERE id = NEW.card_id;
    IF creator IS NULL THEN
        RETURN NEW; -- the foreign key reports the missing card
    END IF;
    IF creator::text::bigint <> (txid_current() % 4294967296) THEN
        RAISE EXCEPTION 'account rate cards are immutable: card % is already in force', NEW.card_id
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER account_rate_cards_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON account_rate_cards
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('set a new version of the account''s card instead');
CREATE TRIGGER account_rate_card_prices_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON account_rate_card_prices
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('set a new version of the account''s card instead');
CREATE TRIGGER account_rate_card_prices_same_tx BEFORE INSERT ON account_rate_card_prices
    FOR EACH ROW EXECUTE FUNCTION account_rate_card_price_same_tx();

-- A card beyond the discount limit (business setting
-- limits.rate_card_discount) waits for a second admin: action rate_card.
ALTER TABLE admin_approvals DROP CONSTRAINT admin_approvals_action_check;
ALTER TABLE admin_approvals ADD CONSTRAINT admin_approvals_action_check
    CHECK (action IN ('support_grant', 'manual_recharge', 'plan_grant', 'rate_card'));

-- +goose Down
ALTER TABLE admin_approvals DROP CONSTRAINT admin_approvals_action_check;
ALTER TABLE admin_approvals ADD CONSTRAINT admin_approvals_action_check
    CHECK (action IN ('support_grant', 'manual_recharge', 'plan_grant'));
DROP TABLE account_rate_card_prices;
DROP TABLE account_rate_cards;
DROP FUNCTION account_rate_card_price_same_tx();
