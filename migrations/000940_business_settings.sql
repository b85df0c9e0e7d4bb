-- +goose Up
-- Business settings edited in the back office (/admin/settings): top-up
-- tiers and bonus, the receiving bank account, approval limits, the trial
-- cap, grace credit, expiry reminder days. One row per change, never
-- rewritten; a key's current value is its newest row, and a key without
-- rows takes the environment's value (internal/settings). previous_id
-- points at the row the change replaced, and the unique chain constraint
-- lets only one change follow each row: concurrent writers to one key form
-- one line of history, never a fork.
CREATE TABLE business_settings (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key              text NOT NULL CHECK (key ~ '^[a-z_.]+$'),
    value            jsonb NOT NULL,
    previous_id      bigint REFERENCES business_settings (id),
    changed_by       bigint NOT NULL REFERENCES users (id),
    changed_by_email text NOT NULL,
    changed_at       timestamptz NOT NULL,
    reason           text NOT NULL CHECK (btrim(reason) <> ''),
    CONSTRAINT business_settings_chain UNIQUE NULLS NOT DISTINCT (key, previous_id)
);
CREATE INDEX business_settings_key ON business_settings (key, id DESC);
CREATE TRIGGER business_settings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON business_settings
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('a change is a new row');

-- +goose Down
DROP TABLE business_settings;
