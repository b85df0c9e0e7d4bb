-- +goose Up
-- When a subscription began, kept apart from its anchor: staff extending a
-- period (plans.ExtendTx) move the anchor, and with it every period, a few
-- days later, but the subscription has begun all the same. started_at is
-- the anchor when the row is made (a later start stays later) and never
-- moves; "has it begun" reads started_at, the periods read anchor.
ALTER TABLE subscriptions ADD COLUMN started_at timestamptz;
UPDATE subscriptions SET started_at = anchor;
ALTER TABLE subscriptions ALTER COLUMN started_at SET NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION subscriptions_started_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.started_at := coalesce(NEW.started_at, NEW.anchor);
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER subscriptions_started_at BEFORE INSERT ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_started_at();

-- +goose Down
DROP TRIGGER subscriptions_started_at ON subscriptions;
DROP FUNCTION subscriptions_started_at();
ALTER TABLE subscriptions DROP COLUMN started_at;
