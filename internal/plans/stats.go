package plans

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// InForceByPlan counts the subscriptions in force at at by plan code, by
// the rule of Subscription.InForce (a past-due one through its grace); the
// operator dashboard's subscribers by tier.
//
// Errors: database errors wrapped with "plans: in force by plan:".
func (s *Subscriptions) InForceByPlan(ctx context.Context, at time.Time) (map[string]int64, error) {
	// inForceSQL reads the instant as $2; $1 is the plan code filter (none).
	rows, err := s.pool.Query(ctx, `SELECT plan_code, count(*) FROM subscriptions
		WHERE ($1 = '' OR plan_code = $1) AND state <> 'expired' AND started_at <= $2 AND `+inForceSQL+`
		GROUP BY plan_code`, "", at.UTC())
	if err != nil {
		return nil, fmt.Errorf("plans: in force by plan: %w", err)
	}
	out := map[string]int64{}
	var code string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&code, &n}, func() error { out[code] = n; return nil }); err != nil {
		return nil, fmt.Errorf("plans: in force by plan: %w", err)
	}
	return out, nil
}

// Ended is how many subscriptions to a plan ended on an Asia/Shanghai day
// (2006-01-02): expired at the end of their term (or grace) or ended by a
// refund. Changing plans ends none.
type Ended struct {
	Day      string
	PlanCode string
	Count    int64
}

// EndedByDay counts the subscriptions that ended in [from, to) by
// Asia/Shanghai day and plan, from their expired and refunded events.
//
// Errors: database errors wrapped with "plans: ended by day:".
func (s *Subscriptions) EndedByDay(ctx context.Context, from, to time.Time) ([]Ended, error) {
	rows, _ := s.pool.Query(ctx, `SELECT to_char(timezone('Asia/Shanghai', at), 'YYYY-MM-DD'), plan_code, count(*)
		FROM subscription_events WHERE kind IN ('`+string(EventExpired)+`', '`+string(EventRefunded)+`') AND at >= $1 AND at < $2
		GROUP BY 1, 2 ORDER BY 1, 2`, from.UTC(), to.UTC())
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Ended])
	if err != nil {
		return nil, fmt.Errorf("plans: ended by day: %w", err)
	}
	return out, nil
}
