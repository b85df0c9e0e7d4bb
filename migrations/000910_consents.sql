-- +goose Up
-- What a user agreed to, and when: the terms and privacy policy at sign-up
-- (web.LegalVersion), later the separate consent to collect sensitive
-- personal information (PIPL art. 29). Append-only: a consent is withdrawn
-- by a new row, never by changing one.
CREATE TABLE user_consents (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   bigint NOT NULL REFERENCES users (id),
    document  text NOT NULL CHECK (document IN ('terms_privacy', 'sensitive_pi')),
    version   text NOT NULL CHECK (version <> ''),
    ip        text NOT NULL DEFAULT '',
    at        timestamptz NOT NULL
);
CREATE INDEX user_consents_user ON user_consents (user_id, id);
CREATE TRIGGER user_consents_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON user_consents
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- +goose Down
DROP TABLE user_consents;
