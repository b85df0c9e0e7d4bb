-- +goose Up
-- The revenue report's promotional opening (internal/backoffice reports.go)
-- summed every promotional event before the report's start; once a month
-- of ledger_events leaves for the archive those events are gone, and the
-- opening of every later report came out short by what the archived months
-- left unspent. So each month-end closing of the paid positions also keeps
-- the promotional credit left at `through` (granted − spent − expired on
-- promo and grace lots of live accounts; holds count as unspent), and a
-- report starts from the last closing at or before its start. A closing
-- sums only its own month onto the previous closing's figure, so months
-- archived meanwhile are never read again.
--
-- Existing closings are filled from the events while nothing is archived;
-- with a month already in the archive they stay NULL (their events are
-- gone) and the report refuses a range it cannot open exactly.
ALTER TABLE revenue_paid_closings ADD COLUMN promo_left numeric(24, 6);
UPDATE revenue_paid_closings c SET promo_left = (
    SELECT coalesce(sum(e.amount), 0)
    FROM ledger_event_view e
    JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id AND l.kind NOT IN ('paid', 'plan', 'credit')
    JOIN ledger_account_view p ON p.id = e.pool_id AND p.mode = 'live'
    WHERE e.at < c.through
      AND e.type IN ('purchase', 'grant', 'adjustment', 'deduction', 'reservation_expired_charge', 'expiry'))
WHERE NOT EXISTS (SELECT 1 FROM ledger_archives WHERE restored_at IS NULL);

-- +goose Down
ALTER TABLE revenue_paid_closings DROP COLUMN promo_left;
