-- +goose Up
-- TOTP two-factor sign-in for staff (internal/auth/totp.go). The secret is
-- sealed with piicrypto (AES-256-GCM, the user id as associated data), never
-- stored in clear. totp_confirmed_at is NULL while an enrolment waits for
-- its first code; totp_last_step is the 30-second step of the last code
-- accepted, so a code cannot be used twice within its window.
ALTER TABLE users
    ADD COLUMN totp_secret       BYTEA,
    ADD COLUMN totp_confirmed_at TIMESTAMPTZ,
    ADD COLUMN totp_last_step    BIGINT NOT NULL DEFAULT 0,
    ADD CONSTRAINT users_totp_staff CHECK (kind = 'staff' OR totp_secret IS NULL),
    ADD CONSTRAINT users_totp_confirmed CHECK (totp_confirmed_at IS NULL OR totp_secret IS NOT NULL);

-- +goose Down
ALTER TABLE users
    DROP CONSTRAINT users_totp_confirmed,
    DROP CONSTRAINT users_totp_staff,
    DROP COLUMN totp_last_step,
    DROP COLUMN totp_confirmed_at,
    DROP COLUMN totp_secret;
