package usage

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
)

// RunwayDays is how many days of spend the pace is taken from: the seven
// whole Asia/Shanghai days before today (so the forecast is the same all
// day, and a half-spent today does not skew it).
const RunwayDays = 7

// Runway is how long a balance lasts at the recent pace of spend.
type Runway struct {
	// Days is ⌊available ÷ (spent ÷ 7)⌋: 0 means less than a day.
	Days int64
	// OK is false when nothing was spent in the seven days: there is no
	// pace to forecast from.
	OK bool
}

// RunwayAt is the forecast for available credits after spentLastDays in
// the last RunwayDays whole days: available ÷ (spent ÷ 7), rounded down.
func RunwayAt(available, spentLastDays decimal.Decimal) Runway {
	if !spentLastDays.IsPositive() {
		return Runway{}
	}
	if !available.IsPositive() {
		return Runway{OK: true}
	}
	days := available.Mul(decimal.NewFromInt(RunwayDays)).Div(spentLastDays).Floor()
	return Runway{Days: days.IntPart(), OK: true}
}

// Runway forecasts how long available lasts for the scope at the pace of
// its charges in the RunwayDays whole days before now's day.
func (s *Store) Runway(ctx context.Context, sc Scope, available decimal.Decimal, now time.Time) (Runway, error) {
	today := Day(now)
	sum, err := s.Summarize(ctx, sc, Filter{From: today.AddDate(0, 0, -RunwayDays), To: today})
	if err != nil {
		return Runway{}, err
	}
	return RunwayAt(available, sum.Totals.Charged), nil
}
