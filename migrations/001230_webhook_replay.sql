-- +goose Up
-- Webhook replay and the back office's delivery log (internal/webhook
-- desk.go; README "Webhooks in the back office").
--
-- Each attempt row now also keeps what was sent and what came back: the
-- request's headers (the signature of that attempt included), the first
-- bytes of the answer, and how long the attempt took. replay is 0 for the
-- event's own delivery and n for the nth replay a staff member asked for;
-- a replay's attempts count from 1 again.
ALTER TABLE webhook_deliveries
    ADD COLUMN replay          integer NOT NULL DEFAULT 0 CHECK (replay >= 0),
    ADD COLUMN request_headers jsonb,
    ADD COLUMN response_body   text,
    ADD COLUMN duration_ms     integer CHECK (duration_ms >= 0);
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_attempt_key;
ALTER TABLE webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_attempt_key UNIQUE (endpoint_id, event_id, replay, attempt);

-- Who turned an endpoint off: the platform through the API (DELETE
-- /v1/accounts/{id}/webhooks/{id}: deleted, which staff may not undo) or
-- staff in the back office (disabled, which staff may undo).
ALTER TABLE webhook_endpoints
    ADD COLUMN disabled_by text CHECK (disabled_by IN ('api', 'staff')),
    ADD COLUMN disabled_at timestamptz;
UPDATE webhook_endpoints SET disabled_by = 'api' WHERE NOT active;
ALTER TABLE webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_disabled_check CHECK (active = (disabled_by IS NULL));

-- One row per replay staff asked for: its number for the (endpoint, event)
-- is taken under the endpoint's row lock, so two staff replaying at once
-- get two replays, never one lost to the job queue's uniqueness.
CREATE TABLE webhook_replays (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id  bigint NOT NULL REFERENCES webhook_endpoints (id),
    event_id     text NOT NULL,
    replay       integer NOT NULL CHECK (replay >= 1),
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id),
    requested_by bigint NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_replays_key UNIQUE (endpoint_id, event_id, replay)
);
CREATE TRIGGER webhook_replays_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON webhook_replays
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('each replay is its own row');

-- +goose Down
DROP TABLE webhook_replays;
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_disabled_check;
ALTER TABLE webhook_endpoints DROP COLUMN disabled_at, DROP COLUMN disabled_by;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_attempt_key;
ALTER TABLE webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_attempt_key UNIQUE (endpoint_id, event_id, attempt);
ALTER TABLE webhook_deliveries
    DROP COLUMN duration_ms, DROP COLUMN response_body, DROP COLUMN request_headers, DROP COLUMN replay;
