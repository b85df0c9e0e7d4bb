package portal

import "time"

// PlanCard is the overview's card of the plan in force: its period, each
// quota window with a usage bar and its reset time, and the billing
// preference (its form only for who pays: not a department).
type PlanCard struct {
	Name      string
	PeriodEnd time.Time
	// TermEnd is when the plan renews (Renews) or ends.
	TermEnd     time.Time
	Renews      bool
	Bars        []QuotaBar
	Preference  string
	Preferences []Option
	CanChoose   bool
	Saved       bool
	Error       string
}

// QuotaBar is one quota window as it stands.
type QuotaBar struct {
	Item    string
	Quota   PlanQuota
	Used    int64
	Percent int // of the limit, 0…100 (0 when unlimited)
	ResetAt *time.Time
	// Forecast, at the window's pace so far: RunsOut says the quota is
	// used up at RunsOutAt, before the reset; Lasts that it lasts until
	// the reset. Neither: nothing to forecast.
	RunsOut   bool
	RunsOutAt time.Time
	Lasts     bool
}

// TestID names the bar for tests: item, unit and window.
func (b QuotaBar) TestID() string {
	return "quota-" + b.Item + "-" + b.Quota.Unit + "-" + b.Quota.Window
}
