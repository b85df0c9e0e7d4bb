package costs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Alert is a model whose charges of an Asia/Shanghai day cost more upstream
// than they brought in (Revenue: charged credits at the credit price; both
// yuan, exact).
type Alert struct {
	ID      int64
	Day     string // 2006-01-02, Asia/Shanghai
	Model   string
	Charges int64
	Revenue decimal.Decimal
	Cost    decimal.Decimal
	At      time.Time
}

// Margin is Revenue − Cost (negative).
func (a Alert) Margin() decimal.Decimal { return a.Revenue.Sub(a.Cost) }

// RecordNegativeMarginsTx records, on tx, an alert for each model whose
// margin over the Shanghai day `day` (its date is taken in Shanghai) is
// negative, and returns the alerts it recorded now: an alert already
// recorded for that (day, model) is not recorded again (the unique key
// decides, so concurrent runs record it once). The caller notifies finance
// in the same transaction. Errors: database errors wrapped with
// "costs: margin alerts:".
func (s *Service) RecordNegativeMarginsTx(ctx context.Context, tx pgx.Tx, day time.Time, creditPriceRMB decimal.Decimal) ([]Alert, error) {
	start, end := shanghaiDay(day)
	r, err := marginsOn(ctx, tx, start, end, creditPriceRMB)
	if err != nil {
		return nil, fmt.Errorf("costs: margin alerts: %w", err)
	}
	var out []Alert
	for _, m := range r.ByModel {
		if !m.Negative() {
			continue
		}
		a := Alert{Day: start.Format("2006-01-02"), Model: m.Key, Charges: m.Charges, Revenue: m.Revenue, Cost: m.Cost}
		err := tx.QueryRow(ctx, insertAlert, a.Day, a.Model, a.Charges, a.Revenue, a.Cost).Scan(&a.ID, &a.At)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // recorded before
		}
		if err != nil {
			return nil, fmt.Errorf("costs: margin alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

const insertAlert = `
INSERT INTO cost_margin_alerts (day, model, charges, revenue, cost)
VALUES ($1::date, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT cost_margin_alerts_day_model_key DO NOTHING
RETURNING id, created_at`

// Alerts returns the newest limit alerts, newest day first.
// Errors: database errors wrapped with "costs: alerts:".
func (s *Service) Alerts(ctx context.Context, limit int) ([]Alert, error) {
	rows, err := s.pool.Query(ctx, `
SELECT id, to_char(day, 'YYYY-MM-DD'), model, charges, revenue, cost, created_at
FROM cost_margin_alerts ORDER BY day DESC, model LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("costs: alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Alert])
	if err != nil {
		return nil, fmt.Errorf("costs: alerts: %w", err)
	}
	return out, nil
}

// shanghaiDay is the Asia/Shanghai day holding t, as [start, end).
func shanghaiDay(t time.Time) (time.Time, time.Time) {
	t = t.In(shanghai)
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, shanghai)
	return start, start.AddDate(0, 0, 1)
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600) // no DST since 1991
	}
	return loc
}()
