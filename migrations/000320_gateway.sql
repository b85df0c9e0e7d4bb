-- +goose Up
-- Gateway API (internal/gateway): service keys, per-account limits, the
-- stand-in real-name verification record, trial usage, and the alert
-- outbox's cursor and per-pool state.

-- Service keys. Only the SHA-256 of the secret is kept; prefix (the first 16
-- characters of the secret, e.g. sk_live_AbCdEfGh) finds the row, then the
-- hash is compared in constant time.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix       text NOT NULL CONSTRAINT api_keys_prefix_key UNIQUE,
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    mode         text NOT NULL CHECK (mode IN ('live', 'test')),
    name         text NOT NULL CHECK (name <> ''),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- Per-account rate limits set with PUT /v1/accounts/{external_id}; NULL =
-- the default. account_id is a ledger account.
CREATE TABLE gateway_accounts (
    account_id bigint PRIMARY KEY REFERENCES ledger_accounts (id),
    rpm        integer CHECK (rpm >= 0),
    tpm        integer CHECK (tpm >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Real-name verification done by a platform in its own flow (stand-in for
-- the verification package; see gateway.PGVerifier). One row per verified
-- account: who recorded it, when, and the platform's reference.
CREATE TABLE gateway_verifications (
    account_id  bigint PRIMARY KEY REFERENCES ledger_accounts (id),
    reference   text NOT NULL CHECK (reference <> ''),
    verified_at timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL CHECK (actor <> '')
);

-- (The trial cap's count, gateway_trial_usage, was here; it is
-- ledger_accounts.trial_used now: see 000205.)

-- The alert outbox: one global cursor over ledger_events ids (one row, locked
-- by the scanning job so two scanners never run at once) ...
CREATE TABLE gateway_alert_cursor (
    id            integer PRIMARY KEY CHECK (id = 1),
    last_event_id bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO gateway_alert_cursor (id) VALUES (1);

-- ... the low-balance state of each pool: the balance after its latest
-- top-up or grant, and the deepest threshold already announced since then
-- (0 none, 1 below 20 %, 2 below 5 %) ...
CREATE TABLE gateway_alert_state (
    pool_id           bigint PRIMARY KEY,
    baseline          numeric(24, 6) NOT NULL,
    baseline_event_id bigint NOT NULL,
    level             smallint NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 2),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- ... and the lots whose expiry reminder was sent.
CREATE TABLE gateway_expiry_reminders (
    lot_id     bigint PRIMARY KEY,
    pool_id    bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now()
);

-- The outbox reads ledger_events in id order from its cursor. The ledger's
-- own indexes all lead with pool_id, so this adds a BRIN index on id: a few
-- bytes per 32 pages, next to free to maintain on an append-only table, and
-- a scan of "id > cursor" reads only the newest block ranges.
CREATE INDEX gateway_ledger_events_id_brin ON ledger_events USING brin (id) WITH (pages_per_range = 32);

-- +goose Down
DROP INDEX gateway_ledger_events_id_brin;
DROP TABLE gateway_expiry_reminders;
DROP TABLE gateway_alert_state;
DROP TABLE gateway_alert_cursor;
DROP TABLE gateway_verifications;
DROP TABLE gateway_accounts;
DROP TABLE api_keys;
