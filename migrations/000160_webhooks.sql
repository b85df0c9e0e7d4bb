-- +goose Up
-- Webhook endpoints registered per ledger account, and one row per delivery
-- attempt (internal/webhook).
CREATE TABLE webhook_endpoints (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL, -- ledger account; the FK comes with the ledger tables
    url        text NOT NULL CONSTRAINT webhook_endpoints_url_check CHECK (url ~ '^https?://'),
    -- Signing key, shown once at creation; stored as is because signing needs it.
    secret     text NOT NULL,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_account_idx ON webhook_endpoints (account_id);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint NOT NULL REFERENCES webhook_endpoints (id),
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL, -- the event as delivered (id, type, created_at, data)
    attempt         integer NOT NULL CHECK (attempt >= 1),
    status_code     integer,        -- NULL: no HTTP response (refused, timeout, …)
    error           text,           -- NULL when delivered
    next_attempt_at timestamptz,    -- NULL when delivered or given up
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_attempt_key UNIQUE (endpoint_id, event_id, attempt)
);
CREATE INDEX webhook_deliveries_endpoint_created_idx ON webhook_deliveries (endpoint_id, created_at DESC);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
