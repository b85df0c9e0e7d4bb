-- +goose Up
-- Each account's low-balance alert settings, set by the customer in the
-- portal (/portal/alerts): the thresholds (a share of the balance after the
-- latest top-up or grant, and optionally a number of credits) and who is
-- mailed besides the account's own user. Without a row the defaults apply
-- (20 % and 5 %, the account's user). The alert scanner (internal/gateway)
-- reads it; level in gateway_alert_state now counts the thresholds already
-- announced since the latest top-up, deepest last.
CREATE TABLE balance_alert_settings (
    pool_id           bigint PRIMARY KEY,
    percents          smallint[] NOT NULL DEFAULT '{20,5}'
        CHECK (cardinality(percents) <= 4 AND 0 < ALL (percents) AND 100 > ALL (percents)),
    threshold_credits numeric(24, 6) CHECK (threshold_credits IS NULL OR threshold_credits > 0),
    recipients        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(recipients) <= 5),
    mail_owner        boolean NOT NULL DEFAULT true,
    updated_by        bigint,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE gateway_alert_state DROP CONSTRAINT gateway_alert_state_level_check;
ALTER TABLE gateway_alert_state ADD CONSTRAINT gateway_alert_state_level_check CHECK (level BETWEEN 0 AND 5);

-- +goose Down
ALTER TABLE gateway_alert_state DROP CONSTRAINT gateway_alert_state_level_check;
ALTER TABLE gateway_alert_state ADD CONSTRAINT gateway_alert_state_level_check CHECK (level BETWEEN 0 AND 2);
DROP TABLE balance_alert_settings;
