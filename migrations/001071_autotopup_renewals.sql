-- +goose Up
-- Plan renewals paid by agreement (internal/autotopup/renewal.go): a run is
-- a top-up's crossing (purpose topup) or a renewal period (purpose
-- plan_renewal, debited on its renewal date, not_before); one run per
-- renewal period.
ALTER TABLE autotopup_runs
    ADD COLUMN purpose text NOT NULL DEFAULT 'topup' CONSTRAINT autotopup_runs_purpose_check CHECK (purpose IN ('topup', 'plan_renewal')),
    ADD COLUMN subscription_id bigint,
    ADD COLUMN period_start timestamptz,
    ADD COLUMN not_before timestamptz,
    ALTER COLUMN crossing_event_id DROP NOT NULL,
    ADD CONSTRAINT autotopup_runs_crossing_check CHECK ((purpose = 'topup') = (crossing_event_id IS NOT NULL)),
    ADD CONSTRAINT autotopup_runs_renewal_check CHECK ((purpose = 'plan_renewal') = (subscription_id IS NOT NULL AND period_start IS NOT NULL));
CREATE UNIQUE INDEX autotopup_runs_renewal ON autotopup_runs (subscription_id, period_start) WHERE purpose = 'plan_renewal';

-- Set when the customer unsigns in the portal, before we ask the channel:
-- its termination notify is then ours, not news to tell them.
ALTER TABLE autotopup_agreements ADD COLUMN unsign_requested_at timestamptz;

-- +goose Down
ALTER TABLE autotopup_agreements DROP COLUMN unsign_requested_at;
DROP INDEX autotopup_runs_renewal;
DELETE FROM autotopup_runs WHERE purpose = 'plan_renewal';
ALTER TABLE autotopup_runs
    DROP CONSTRAINT autotopup_runs_renewal_check,
    DROP CONSTRAINT autotopup_runs_crossing_check,
    ALTER COLUMN crossing_event_id SET NOT NULL,
    DROP COLUMN not_before,
    DROP COLUMN period_start,
    DROP COLUMN subscription_id,
    DROP COLUMN purpose;
