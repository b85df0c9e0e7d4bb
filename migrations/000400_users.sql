-- +goose Up
-- Who can sign in: customers of the platform (portal) and staff (back office).
-- A customer user points at its ledger account through account_id; the
-- foreign key is added once the ledger tables exist in every branch.
CREATE TABLE users (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Lower-cased address; NULL when the user signs in by phone only.
    email           TEXT CONSTRAINT users_email_key UNIQUE
                         CONSTRAINT users_email_lower CHECK (email = lower(email) AND email LIKE '%_@_%'),
    -- Mainland China mobile number in E.164 form (+8613800138000).
    phone           TEXT CONSTRAINT users_phone_key UNIQUE
                         CONSTRAINT users_phone_e164 CHECK (phone ~ '^\+861[3-9][0-9]{9}$'),
    -- argon2id in PHC string format; NULL for a user created from a portal
    -- link who has not chosen a password yet.
    password_hash   TEXT CONSTRAINT users_password_phc CHECK (password_hash LIKE '$argon2id$%'),
    display_name    TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL CONSTRAINT users_kind CHECK (kind IN ('customer', 'staff')),
    roles           TEXT[] NOT NULL DEFAULT '{}'
                         CONSTRAINT users_roles_known CHECK (roles <@ ARRAY['support', 'finance', 'admin']::TEXT[]),
    -- The customer's ledger account (ledger accounts.id); one user per account.
    account_id      BIGINT CONSTRAINT users_account_id_key UNIQUE,
    locale          TEXT NOT NULL DEFAULT 'zh-CN',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_sign_in_at TIMESTAMPTZ,
    disabled        BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT users_staff_no_account CHECK (kind = 'customer' OR account_id IS NULL),
    CONSTRAINT users_customer_no_roles CHECK (kind = 'staff' OR roles = '{}'),
    CONSTRAINT users_staff_email CHECK (kind = 'customer' OR email IS NOT NULL)
);

-- Every sign-in attempt, so throttling holds across server instances.
-- login is the normalised login (or the trimmed, lower-cased input when it is
-- neither an email nor a phone); ip_block is the address for IPv4 and its /64
-- for IPv6, which is what the per-IP limit counts.
CREATE TABLE sign_in_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login       TEXT NOT NULL,
    ip          INET,
    ip_block    CIDR,
    user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    succeeded   BOOLEAN NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_attempts_login_idx ON sign_in_attempts (login, attempted_at);
CREATE INDEX sign_in_attempts_ip_idx ON sign_in_attempts (ip_block, attempted_at) WHERE NOT succeeded;

-- One-time "forgot password" tokens; only their SHA-256 is stored.
CREATE TABLE password_reset_tokens (
    token_hash  BYTEA PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

-- One-time portal links issued through the gateway API for a ledger account;
-- only their SHA-256 is stored.
CREATE TABLE portal_links (
    token_hash  BYTEA PRIMARY KEY,
    account_id  BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX portal_links_account_idx ON portal_links (account_id);

-- +goose Down
DROP TABLE portal_links;
DROP TABLE password_reset_tokens;
DROP TABLE sign_in_attempts;
DROP TABLE users;
