-- +goose Up
-- A call paid by plan quota costs no credits, so the ledger has no charge
-- for it; the gateway records it with the free models' calls, marked
-- paid_by 'quota', so that the usage pages show it (zero credits, paid by
-- the plan's quota) beside the charged calls.
ALTER TABLE gateway_free_calls
    ADD COLUMN paid_by text NOT NULL DEFAULT 'free' CHECK (paid_by IN ('free', 'quota'));

-- +goose Down
ALTER TABLE gateway_free_calls DROP COLUMN paid_by;
