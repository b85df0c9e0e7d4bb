-- +goose Up
-- Negative-margin alerts (internal/costs alert.go): a model whose charges
-- of an Asia/Shanghai day cost more upstream than they brought in (charged
-- credits at the credit price). The daily job records each (day, model)
-- once — the unique key, in the transaction that mails finance — and the
-- margin report lists them.
CREATE TABLE cost_margin_alerts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day        date NOT NULL,
    model      text NOT NULL,
    charges    bigint NOT NULL,
    revenue    numeric NOT NULL, -- yuan, exact
    cost       numeric NOT NULL, -- yuan, exact
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cost_margin_alerts_day_model_key UNIQUE (day, model),
    CONSTRAINT cost_margin_alerts_negative CHECK (cost > revenue)
);
CREATE TRIGGER cost_margin_alerts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cost_margin_alerts
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('an alert is recorded once');

-- +goose Down
DROP TABLE cost_margin_alerts;
