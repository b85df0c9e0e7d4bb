-- +goose Up
-- The OpenAI-compatible gateway (`credits gateway`, internal/relay; README
-- "The OpenAI-compatible gateway").

-- Customer API keys (API 密钥): made by a customer in the portal for one of
-- their accounts (an account or a sub-account). Only the SHA-256 of the
-- secret is kept; prefix is its first characters, for lookup and for lists.
-- models is the allow-list of public model names (empty: every model).
CREATE TABLE relay_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES ledger_accounts (id),
    prefix       text NOT NULL UNIQUE,
    hash         bytea NOT NULL,
    name         text NOT NULL CHECK (name <> '' AND char_length(name) <= 64),
    project      text NOT NULL DEFAULT '' CHECK (char_length(project) <= 64),
    models       text[] NOT NULL DEFAULT '{}',
    expires_at   timestamptz,
    created_by   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX relay_keys_account ON relay_keys (account_id, id DESC);

-- Upstreams (back office, admins): OpenAI-compatible providers the gateway
-- forwards to. secret_sealed is the provider's API key sealed with the PII
-- keys (AES-256-GCM, internal/piicrypto; never stored in clear). models
-- maps a public model name to the upstream's own ({"deepseek-chat":
-- "deepseek-v3"}). Lower priority numbers are tried first; weight shares
-- the calls among upstreams of one priority.
CREATE TABLE relay_upstreams (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name <> '' AND char_length(name) <= 64),
    base_url      text NOT NULL CHECK (base_url ~ '^https?://'),
    secret_sealed bytea,
    models        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(models) = 'object'),
    weight        integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    priority      integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
    timeout_ms    integer NOT NULL DEFAULT 60000 CHECK (timeout_ms BETWEEN 100 AND 600000),
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE relay_upstreams;
DROP TABLE relay_keys;
