package plans

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// FeePeriods returns the period each plan order paid for, by order number:
// a new plan's first period (from its created event: the anchor, one cycle
// of the subscription), a renewal's period (its subscription_renewals row)
// and an upgrade's rest of the period (its subscription_upgrades row: from
// when it applied to the end of the billing period it was priced in). Orders it does not know (a plan
// order sent to review, never applied) are left out; the revenue report
// then takes the order's own cycle from when it was paid.
//
// Errors: database errors wrapped with "plans: fee periods:".
func (s *Subscriptions) FeePeriods(ctx context.Context, orderNos []string) (map[string]Period, error) {
	out := make(map[string]Period, len(orderNos))
	if len(orderNos) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `
SELECT r.order_no, r.period_start, r.period_end FROM subscription_renewals r WHERE r.order_no = ANY ($1)
UNION ALL
SELECT e.note, s.anchor, NULL FROM subscription_events e JOIN subscriptions s ON s.id = e.subscription_id
WHERE e.kind = 'created' AND e.note = ANY ($1)
UNION ALL
SELECT u.order_no, u.applied_at, u.period_end FROM subscription_upgrades u WHERE u.order_no = ANY ($1)`, orderNos)
	if err != nil {
		return nil, wrap("fee periods", err)
	}
	var no string
	var start time.Time
	var end *time.Time
	created := map[string]time.Time{}
	_, err = pgx.ForEachRow(rows, []any{&no, &start, &end}, func() error {
		if end == nil {
			created[no] = start.UTC()
		} else if end.After(start) {
			out[no] = Period{Start: start.UTC(), End: end.UTC()}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("fee periods", err)
	}
	// A created subscription's first period needs the cycle it was bought
	// for, which the caller has from the order: FirstPeriod.
	for no, anchor := range created {
		if _, ok := out[no]; !ok {
			out[no] = Period{Start: anchor}
		}
	}
	return out, nil
}

// FirstPeriod is the first period of a subscription anchored at anchor for
// cycle (PeriodAt n = 0).
func FirstPeriod(anchor time.Time, cycle Cycle) Period {
	start, end := PeriodAt(anchor, cycle, 0)
	return Period{Start: start, End: end}
}
