-- +goose Up
-- Subscription plans (internal/plans owns these tables). A plan is known by
-- its code ('basic'); each published version is immutable, like a rate card:
-- a subscription will reference (plan_code, plan_version) and keep the
-- version it bought until its next renewal. Staff edit a draft (one per code,
-- mutable) and publish it as the code's next version; a new draft starts as a
-- copy of the latest version.
--
-- Money is integer fen; plan credits are numeric(24, 6) like the ledger's.

CREATE TABLE plan_versions (
    code              text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_-]{0,31}$'),
    version           integer NOT NULL CHECK (version > 0),
    name_zh           text NOT NULL CHECK (name_zh <> '' AND length(name_zh) <= 64),
    name_en           text NOT NULL CHECK (name_en <> '' AND length(name_en) <= 64),
    -- Free 0, Basic 1, Standard 2, Professional 3 in the demo data; a higher
    -- tier is an upgrade.
    tier              smallint NOT NULL CHECK (tier BETWEEN 0 AND 99),
    monthly_price_fen bigint NOT NULL CHECK (monthly_price_fen >= 0),
    yearly_price_fen  bigint NOT NULL CHECK (yearly_price_fen >= 0),
    -- Plan credits granted each month (a yearly plan too, month by month).
    monthly_credits   numeric(24, 6) NOT NULL CHECK (monthly_credits >= 0),
    -- The subscriber's requests and tokens per minute (0: the platform's
    -- default limit applies).
    rpm               integer NOT NULL CHECK (rpm >= 0),
    tpm               bigint NOT NULL CHECK (tpm >= 0),
    -- Display features, one line each, the same count in both languages.
    features_zh       text[] NOT NULL DEFAULT '{}',
    features_en       text[] NOT NULL DEFAULT '{}',
    -- The draft this version was published from: publishing a draft twice
    -- (two staff pressing at once) is refused by this key.
    draft_id          bigint NOT NULL,
    published_at      timestamptz NOT NULL,
    published_by      text NOT NULL CHECK (published_by <> ''),
    PRIMARY KEY (code, version),
    CONSTRAINT plan_versions_draft_key UNIQUE (draft_id),
    CONSTRAINT plan_versions_features_pair CHECK (cardinality(features_zh) = cardinality(features_en))
);

-- An item: one model or a named group of models, with one or more quotas.
CREATE TABLE plan_version_items (
    code       text NOT NULL,
    version    integer NOT NULL,
    item_no    smallint NOT NULL CHECK (item_no > 0),
    -- '' for a single-model item; the group's name otherwise.
    group_name text NOT NULL DEFAULT '' CHECK (length(group_name) <= 64),
    PRIMARY KEY (code, version, item_no),
    FOREIGN KEY (code, version) REFERENCES plan_versions (code, version)
);

-- The models an item covers; a model is covered by at most one item of a
-- version, so a call finds its item by model name.
CREATE TABLE plan_version_item_models (
    code    text NOT NULL,
    version integer NOT NULL,
    item_no smallint NOT NULL,
    model   text NOT NULL CHECK (model <> '' AND length(model) <= 128),
    PRIMARY KEY (code, version, model),
    FOREIGN KEY (code, version, item_no) REFERENCES plan_version_items (code, version, item_no)
);

-- A quota of an item in one window; every quota of an item applies at once
-- (120 requests per 5 hours and 1,000 per week). quota_limit -1 is unlimited.
CREATE TABLE plan_version_quotas (
    code         text NOT NULL,
    version      integer NOT NULL,
    item_no      smallint NOT NULL,
    quota_no     smallint NOT NULL CHECK (quota_no > 0),
    unit         text NOT NULL CHECK (unit IN ('requests', 'tokens')),
    window_kind  text NOT NULL CHECK (window_kind IN ('rolling', 'day', 'week', 'period')),
    -- The length of a rolling window; 0 for the calendar and period windows.
    window_hours smallint NOT NULL CHECK (window_hours BETWEEN 0 AND 8784),
    quota_limit  bigint NOT NULL CHECK (quota_limit = -1 OR quota_limit > 0),
    PRIMARY KEY (code, version, item_no, quota_no),
    FOREIGN KEY (code, version, item_no) REFERENCES plan_version_items (code, version, item_no),
    CONSTRAINT plan_version_quotas_window_key UNIQUE (code, version, item_no, unit, window_kind, window_hours),
    CONSTRAINT plan_version_quotas_hours CHECK ((window_kind = 'rolling') = (window_hours > 0))
);

-- Drafts: the one mutable part of the catalogue. spec is the plan being
-- edited (internal/plans.Spec as JSON, validated on every save and again on
-- publish); revision guards against two editors overwriting each other.
-- Publishing deletes the draft in the transaction that writes the version.
CREATE TABLE plan_drafts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL,
    -- The version this draft was copied from (NULL for a new plan); publish
    -- refuses a draft whose base is no longer the latest version.
    based_on    integer,
    spec        jsonb NOT NULL,
    revision    integer NOT NULL DEFAULT 1 CHECK (revision > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text NOT NULL CHECK (updated_by <> ''),
    CONSTRAINT plan_drafts_code_key UNIQUE (code),
    FOREIGN KEY (code, based_on) REFERENCES plan_versions (code, version)
);

-- Published rows are never changed: plan_versions and its children are
-- append-only (append_only(), 000105, so the application role gets only
-- SELECT and INSERT), and a child row may only be added in the transaction
-- that created its version, so a published version cannot gain an item or a
-- quota after the fact.
-- +goose StatementBegin
CREATE FUNCTION plan_version_same_tx() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    creator xid;
BEGIN
    SELECT xmin INTO creator FROM plan_versions WHERE code = NEW.code AND version = NEW.version;
    IF creator IS NULL THEN
        RETURN NEW; -- the foreign key reports the missing version
    END IF;
    IF creator::text::bigint <> (txid_current() % 4294967296) THEN
        RAISE EXCEPTION 'plan % version % is published and immutable: publish a new version instead', NEW.code, NEW.version
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER plan_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON plan_versions
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new plan version instead');
CREATE TRIGGER plan_version_items_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON plan_version_items
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new plan version instead');
CREATE TRIGGER plan_version_item_models_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON plan_version_item_models
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new plan version instead');
CREATE TRIGGER plan_version_quotas_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON plan_version_quotas
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('publish a new plan version instead');
CREATE TRIGGER plan_version_items_same_tx BEFORE INSERT ON plan_version_items
    FOR EACH ROW EXECUTE FUNCTION plan_version_same_tx();
CREATE TRIGGER plan_version_item_models_same_tx BEFORE INSERT ON plan_version_item_models
    FOR EACH ROW EXECUTE FUNCTION plan_version_same_tx();
CREATE TRIGGER plan_version_quotas_same_tx BEFORE INSERT ON plan_version_quotas
    FOR EACH ROW EXECUTE FUNCTION plan_version_same_tx();

-- +goose Down
DROP TABLE plan_drafts;
DROP TABLE plan_version_quotas;
DROP TABLE plan_version_item_models;
DROP TABLE plan_version_items;
DROP TABLE plan_versions;
DROP FUNCTION plan_version_same_tx();
