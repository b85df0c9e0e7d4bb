-- +goose Up
-- Run-out alerts (internal/forecast; README "Forecast and run-out alert"):
-- one row per account and Asia/Shanghai day an alert went out, inserted with
-- ON CONFLICT DO NOTHING in the transaction that enqueues the
-- balance.runway_low webhook and the mail, so an account is alerted at most
-- once a day however many job runs race. Append-only.
CREATE TABLE runway_alerts (
    account_id bigint NOT NULL,
    day        date NOT NULL,
    days       bigint NOT NULL CHECK (days >= 0),
    threshold  integer NOT NULL CHECK (threshold > 0),
    available  numeric(24, 6) NOT NULL,
    spent_7d   numeric(24, 6) NOT NULL CHECK (spent_7d > 0),
    sent_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, day)
);
CREATE TRIGGER runway_alerts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON runway_alerts
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- +goose Down
DROP TABLE runway_alerts;
