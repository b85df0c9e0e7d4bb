-- +goose Up
-- The billing period staff extended (plans.ExtendTx): [extended_start,
-- extended_end) is the current period as it now stands — it began when it
-- began and ends the added days later — while the anchor (and so every
-- later period) moved the added days on. Period() answers it while it lasts.
ALTER TABLE subscriptions
    ADD COLUMN extended_start timestamptz,
    ADD COLUMN extended_end   timestamptz,
    ADD CONSTRAINT subscriptions_extended_check CHECK ((extended_start IS NULL) = (extended_end IS NULL)
        AND (extended_end IS NULL OR extended_end > extended_start));

-- +goose Down
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_extended_check,
    DROP COLUMN extended_end, DROP COLUMN extended_start;
