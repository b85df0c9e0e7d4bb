-- +goose Up
-- A refund through WeChat Pay or Alipay is sent to the channel after the
-- transaction that refunds the ledger commits, never inside it (a channel
-- that hangs must not hold the pool's ledger lock). The refund row is
-- written once, pending; what the channel answered is its events.
ALTER TABLE payment_refunds DROP CONSTRAINT payment_refunds_state_check;
ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_state_check CHECK (state IN ('refunded', 'manual', 'pending'));

CREATE TABLE payment_refund_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    refund_id  bigint NOT NULL REFERENCES payment_refunds (id),
    -- refunded: the channel accepted it; attempt_failed: one call failed
    -- (detail says why); retrying: finance asked to try again after the
    -- attempts ran out.
    kind       text NOT NULL CHECK (kind IN ('refunded', 'attempt_failed', 'retrying')),
    detail     jsonb NOT NULL DEFAULT '{}',
    actor      text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL
);
-- A refund is completed once, however many senders race.
CREATE UNIQUE INDEX payment_refund_events_refunded_once ON payment_refund_events (refund_id) WHERE kind = 'refunded';
CREATE INDEX payment_refund_events_refund ON payment_refund_events (refund_id, id);
CREATE TRIGGER payment_refund_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON payment_refund_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- +goose Down
DROP TABLE payment_refund_events;
ALTER TABLE payment_refunds DROP CONSTRAINT payment_refunds_state_check;
ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_state_check CHECK (state IN ('refunded', 'manual'));
