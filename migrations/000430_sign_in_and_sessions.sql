-- +goose Up
-- Sessions end when the user's session epoch moves: a session remembers the
-- epoch it was signed in at, and every portal and back-office request
-- compares it with this column (read fresh from the users row), so a
-- password change or reset, disabling a user or removing a staff role ends
-- every other session of that user in every process at once.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;

-- Sign-in throttling counts failures per (login, address block) since that
-- pair's last success (internal/auth/signin.go).
CREATE INDEX sign_in_attempts_login_block_idx ON sign_in_attempts (login, ip_block, id);

-- +goose Down
DROP INDEX sign_in_attempts_login_block_idx;
ALTER TABLE users DROP COLUMN session_epoch;
