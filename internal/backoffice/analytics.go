package backoffice

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/csvexport"
	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// The operator dashboard (/admin/analytics) reads daily roll-ups, never the
// ledger's events, so it answers fast over a year of history. The roll-ups
// hold what the revenue report (Revenue) and the margin report
// (costs.Margins) compute for each Asia/Shanghai day: the dashboard
// re-derives no rule of its own, it only sums days into months and ranks.

// analyticsFinalAfter is how long after its end a day's figures stop
// changing: usage events may arrive late (the gateway's late-event window).
const analyticsFinalAfter = 48 * time.Hour

// analyticsFirstDays bounds the first fill of an empty roll-up.
const analyticsFirstDays = 400

// AnalyticsRefresh is what one roll-up refresh recomputed: the Shanghai
// days [From, To).
type AnalyticsRefresh struct {
	From, To time.Time
	Days     int
}

// RefreshAnalytics recomputes the daily roll-ups of every Asia/Shanghai day
// from the first one not yet final through today, and replaces those days'
// rows in one transaction (serialised by an advisory lock, so concurrent
// refreshes leave one consistent copy). Errors: database errors wrapped
// with "backoffice: analytics refresh:".
func (s *Service) RefreshAnalytics(ctx context.Context) (AnalyticsRefresh, error) {
	today := periodStart(s.now(), Daily)
	end := nextPeriod(today, Daily)
	start, err := s.analyticsStart(ctx, today)
	if err != nil {
		return AnalyticsRefresh{}, fmt.Errorf("backoffice: analytics refresh: %w", err)
	}
	r := AnalyticsRefresh{From: start.UTC(), To: end.UTC()}
	// Months closed first, so the report below replays only the days since
	// the last month start.
	if _, err := s.ClosePaidPositions(ctx); err != nil {
		return r, fmt.Errorf("backoffice: analytics refresh: %w", err)
	}
	rev, err := s.revenue(ctx, start, end, Daily)
	if err != nil {
		return r, fmt.Errorf("backoffice: analytics refresh: %w", err)
	}
	var margins costs.MarginReport
	if s.opt.Costs != nil {
		if margins, err = s.opt.Costs.Margins(ctx, r.From, r.To, s.creditPrice()); err != nil {
			return r, fmt.Errorf("backoffice: analytics refresh: %w", err)
		}
	}
	var inForce map[string]int64
	var ended []plans.Ended
	if s.opt.PlanStats != nil {
		if inForce, err = s.opt.PlanStats.InForceByPlan(ctx, s.now()); err != nil {
			return r, fmt.Errorf("backoffice: analytics refresh: %w", err)
		}
		if ended, err = s.opt.PlanStats.EndedByDay(ctx, r.From, r.To); err != nil {
			return r, fmt.Errorf("backoffice: analytics refresh: %w", err)
		}
	}
	// Sign-ups of the last analyticsSignupDays days (or since the first
	// day recomputed, on a first fill) may still convert.
	signupsSince := today.AddDate(0, 0, -analyticsSignupDays)
	if start.Before(signupsSince) {
		signupsSince = start
	}
	now := s.now()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('analytics_rollup'))`); err != nil {
			return err
		}
		first, last := start.Format("2006-01-02"), today.Format("2006-01-02")
		for _, t := range []string{"analytics_daily", "analytics_daily_model", "analytics_daily_customer"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE day BETWEEN $1 AND $2`, first, last); err != nil {
				return err
			}
		}
		batch := &pgx.Batch{}
		// Revenue recognised is paid credit consumed, plan and product fees
		// earned and credit lines consumed (postpaid, at the credit price);
		// cash in is top-ups, fees and bills paid.
		for _, row := range rev.Rows {
			a := row.RMB
			batch.Queue(`INSERT INTO analytics_daily (day, cash_in, recognised, deferred, breakage, refunded, refreshed_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, row.Period,
				a.PaidPurchased.Add(a.PlanFeesReceived).Add(a.BillsPaid), a.Recognised.Add(a.PlanFeesRecognised).Add(a.PostpaidRecognised),
				a.DeferredClosing.Add(a.PlanDeferredClosing), a.Breakage, a.PaidRefunded.Add(a.PlanFeesRefunded), now)
		}
		for _, m := range margins.ByDayModel {
			batch.Queue(`INSERT INTO analytics_daily_model (day, model, charges, credits, revenue, cost) VALUES ($1, $2, $3, $4, $5, $6)`,
				m.Day, m.Key, m.Charges, m.Credits, m.Revenue, m.Cost)
		}
		for _, m := range margins.ByDayCustomer {
			batch.Queue(`INSERT INTO analytics_daily_customer (day, pool_id, name, charges, credits, revenue, cost) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				m.Day, m.Key, m.Name, m.Charges, m.Credits, m.Revenue, m.Cost)
		}
		// Ended subscriptions are recomputed for every day; subscribers in
		// force are a snapshot of now, today's row only.
		batch.Queue(`UPDATE analytics_daily_plan SET ended = 0 WHERE day BETWEEN $1 AND $2`, first, last)
		for _, e := range ended {
			batch.Queue(`INSERT INTO analytics_daily_plan (day, plan_code, ended) VALUES ($1, $2, $3)
				ON CONFLICT (day, plan_code) DO UPDATE SET ended = EXCLUDED.ended`, e.Day, e.PlanCode, e.Count)
		}
		if s.opt.PlanStats != nil {
			batch.Queue(`UPDATE analytics_daily_plan SET subscribers = 0 WHERE day = $1`, last)
			for code, n := range inForce {
				batch.Queue(`INSERT INTO analytics_daily_plan (day, plan_code, subscribers) VALUES ($1, $2, $3)
					ON CONFLICT (day, plan_code) DO UPDATE SET subscribers = EXCLUDED.subscribers`, last, code, n)
			}
		}
		// Months touched by the days recomputed, summed again from the days.
		month := periodStart(start, Monthly).Format("2006-01-02")
		batch.Queue(`DELETE FROM analytics_monthly_customer WHERE month >= $1`, month)
		batch.Queue(`INSERT INTO analytics_monthly_customer (month, pool_id, name, credits, revenue)
			SELECT date_trunc('month', day)::date, pool_id, (array_agg(name ORDER BY day DESC))[1], sum(credits), sum(revenue)
			FROM analytics_daily_customer WHERE day >= $1 GROUP BY 1, 2`, month)
		batch.Queue(analyticsSignupsSQL, signupsSince.UTC())
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return r, fmt.Errorf("backoffice: analytics refresh: %w", err)
	}
	r.Days = len(rev.Rows)
	return r, nil
}

// analyticsSignupDays is how long after signing up an account's
// conversion is still refreshed: the longest window the dashboard offers.
const analyticsSignupDays = 91

// MaxConversionDays is the longest conversion window (N days) the
// dashboard offers.
const MaxConversionDays = 90

// analyticsSignupsSQL refreshes the conversion of the live pool accounts
// (individuals and enterprises) that signed up since $1: their first
// verification and their first paid top-up order.
const analyticsSignupsSQL = `
INSERT INTO analytics_signups (account_id, day, signed_up_at, verified_at, first_topup_at)
SELECT a.id, timezone('Asia/Shanghai', a.created_at)::date, a.created_at,
       (SELECT min(v.decided_at) FROM verifications v WHERE v.account_id = a.id AND v.state = 'verified'),
       (SELECT min(o.paid_at) FROM payment_orders o WHERE o.account_id = a.id AND o.purpose = 'topup' AND o.paid_at IS NOT NULL)
FROM ledger_account_view a
WHERE a.id = a.pool_id AND a.mode = 'live' AND a.created_at >= $1
ON CONFLICT (account_id) DO UPDATE SET verified_at = EXCLUDED.verified_at, first_topup_at = EXCLUDED.first_topup_at`

// analyticsStart is the first day to recompute: the day after the newest
// final one; on an empty roll-up the day of the first live ledger event
// (at most analyticsFirstDays back); never later than yesterday.
func (s *Service) analyticsStart(ctx context.Context, today time.Time) (time.Time, error) {
	yesterday := today.AddDate(0, 0, -1)
	var final *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(day)::timestamp FROM analytics_daily
		WHERE refreshed_at >= timezone('Asia/Shanghai', day::timestamp) + $1::interval`,
		analyticsFinalAfter+24*time.Hour).Scan(&final)
	if err != nil {
		return today, err
	}
	if final != nil {
		d := time.Date(final.Year(), final.Month(), final.Day(), 0, 0, 0, 0, Shanghai).AddDate(0, 0, 1)
		if d.After(yesterday) {
			d = yesterday
		}
		return d, nil
	}
	var first *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(e.at) FROM ledger_event_view e
		JOIN ledger_account_view p ON p.id = e.pool_id AND p.mode = 'live'`).Scan(&first); err != nil {
		return today, err
	}
	floor := today.AddDate(0, 0, -analyticsFirstDays)
	if first == nil {
		return yesterday, nil
	}
	d := periodStart(*first, Daily)
	if d.Before(floor) {
		d = floor
	}
	if d.After(yesterday) {
		d = yesterday
	}
	return d, nil
}

// Analytics chart names, in the order the dashboard shows them.
const (
	ChartRevenue   = "revenue"   // recognised, deferred (closing) and cash in by period
	ChartCustomers = "customers" // paying customers and ARPU by period
	ChartModels    = "models"    // top models by revenue
	ChartMargins   = "margins"   // top models by margin
	ChartTop       = "top"       // top customers by revenue
	ChartBreakage  = "breakage"  // breakage and refunds by period
	ChartSignups   = "signups"   // sign-ups, and of them verified and first top-up within N days, by sign-up period
	ChartPlans     = "plans"     // plan subscribers by plan at the period's end, and subscriptions ended
)

// Charts are the dashboard's charts in page order.
var Charts = []string{ChartRevenue, ChartCustomers, ChartSignups, ChartModels, ChartMargins, ChartTop, ChartBreakage, ChartPlans}

// PlanStats counts plan subscribers and ended subscriptions
// (internal/plans: *plans.Subscriptions).
type PlanStats interface {
	InForceByPlan(ctx context.Context, at time.Time) (map[string]int64, error)
	EndedByDay(ctx context.Context, from, to time.Time) ([]plans.Ended, error)
}

// analyticsTop is how many models or customers a ranking shows.
const analyticsTop = 10

// Chart is one chart's data: a value per label for each series, in yuan
// rounded to the fen (counts for the paying-customers series). Series keys
// are stable names (CSV columns, i18n keys "analytics.series.<key>").
type Chart struct {
	Name   string
	Kind   string // "line" (by period), "bar" (by period) or "rank" (horizontal bars, highest first)
	Labels []string
	Series []ChartSeries
}

// ChartSeries is one series of a chart. Name, when set, is the series'
// name as data (a plan code) instead of a translated key.
type ChartSeries struct {
	Key    string
	Name   string
	Values []decimal.Decimal
}

// counted are the series keys that hold counts, not yuan.
var counted = map[string]bool{"paying_customers": true, "signups": true, "verified": true, "first_topup": true,
	"subscribers": true, "ended": true}

// Dashboard is the operator dashboard over [From, To) by Granularity.
type Dashboard struct {
	From, To    time.Time
	Granularity Granularity
	// Within is the conversion window in days.
	Within int
	// RefreshedAt is when the newest roll-up row was computed (zero: never).
	RefreshedAt time.Time
	Charts      map[string]Chart
}

// AnalyticsQuery is what the dashboard shows: the periods holding
// [From, To) by Granularity, and the conversion window in days (Within,
// 1 to MaxConversionDays; 7 when out of range).
type AnalyticsQuery struct {
	From, To    time.Time
	Granularity Granularity
	Within      int
}

// Analytics reads the operator dashboard over the periods holding
// [from, to) from the daily roll-ups. Finance and admin users may read it.
// Errors: ErrForbidden; database errors wrapped with "backoffice: analytics:".
func (s *Service) Analytics(ctx context.Context, q AnalyticsQuery, actor Actor) (Dashboard, error) {
	if err := actor.require(auth.RoleFinance, auth.RoleAdmin); err != nil {
		return Dashboard{}, err
	}
	d, err := s.analytics(ctx, q)
	if err != nil {
		return d, fmt.Errorf("backoffice: analytics: %w", err)
	}
	return d, nil
}

const analyticsPeriodsSQL = `
SELECT to_char(date_trunc($3, d.day), $4) AS period,
       sum(d.cash_in) AS cash_in, sum(d.recognised) AS recognised,
       (array_agg(d.deferred ORDER BY d.day DESC))[1] AS deferred,
       sum(d.breakage) AS breakage, sum(d.refunded) AS refunded,
       0::bigint AS paying, max(d.refreshed_at) AS refreshed_at
FROM analytics_daily d
WHERE d.day >= $1 AND d.day < $2
GROUP BY 1 ORDER BY 1`

const analyticsModelsSQL = `
SELECT model, sum(revenue) AS revenue, sum(revenue) - sum(cost) AS margin
FROM analytics_daily_model WHERE day >= $1 AND day < $2
GROUP BY model`

// analyticsPayingSQL counts the customers charged in each day (one row
// per customer and day) or month (the monthly roll-up) of [$1, $2).
const (
	analyticsPayingDailySQL = `SELECT to_char(day, 'YYYY-MM-DD'), count(*) FROM analytics_daily_customer
		WHERE day >= $1 AND day < $2 AND credits > 0 GROUP BY 1`
	analyticsPayingMonthlySQL = `SELECT to_char(month, 'YYYY-MM'), count(*) FROM analytics_monthly_customer
		WHERE month >= $1 AND month < $2 AND credits > 0 GROUP BY 1`
)

// analyticsCustomersSQL ranks customers by revenue over [$1, $2): the
// whole months [$3, $4) from the monthly roll-up, the days around them
// from the daily one.
const analyticsCustomersSQL = `
WITH x AS (
    SELECT pool_id, name, revenue, month AS day FROM analytics_monthly_customer WHERE month >= $3 AND month < $4
    UNION ALL
    SELECT pool_id, name, revenue, day FROM analytics_daily_customer
    WHERE (day >= $1 AND day < $3) OR (day >= $4 AND day < $2)
)
SELECT pool_id::text || ' ' || max(name) AS label, sum(revenue) AS revenue
FROM x GROUP BY pool_id ORDER BY revenue DESC, pool_id LIMIT $5`

func (s *Service) analytics(ctx context.Context, q AnalyticsQuery) (Dashboard, error) {
	from, to, g := q.From, q.To, q.Granularity
	if q.Within < 1 || q.Within > MaxConversionDays {
		q.Within = 7
	}
	if g != Monthly {
		g = Daily
	}
	start := periodStart(from, g)
	end := periodStart(to, g)
	if end.Before(to) || end.Equal(start) {
		end = nextPeriod(end, g)
	}
	d := Dashboard{From: start.UTC(), To: end.UTC(), Granularity: g, Within: q.Within, Charts: map[string]Chart{}}
	first, last := start.Format("2006-01-02"), end.Format("2006-01-02")
	layout := "YYYY-MM-DD"
	if g == Monthly {
		layout = "YYYY-MM"
	}
	type periodRow struct {
		Period      string
		CashIn      decimal.Decimal
		Recognised  decimal.Decimal
		Deferred    decimal.Decimal
		Breakage    decimal.Decimal
		Refunded    decimal.Decimal
		Paying      int64
		RefreshedAt time.Time
	}
	rows, _ := s.read(ctx).Query(ctx, analyticsPeriodsSQL, first, last, string(g), layout)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[periodRow])
	if err != nil {
		return d, err
	}
	payingSQL := analyticsPayingDailySQL
	if g == Monthly {
		payingSQL = analyticsPayingMonthlySQL
	}
	paying := map[string]int64{}
	rows, err = s.read(ctx).Query(ctx, payingSQL, first, last)
	if err != nil {
		return d, err
	}
	var label string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&label, &n}, func() error { paying[label] = n; return nil }); err != nil {
		return d, err
	}
	byPeriod := map[string]periodRow{}
	for _, r := range got {
		r.Paying = paying[r.Period]
		byPeriod[r.Period] = r
		if r.RefreshedAt.After(d.RefreshedAt) {
			d.RefreshedAt = r.RefreshedAt
		}
	}
	revenue := Chart{Name: ChartRevenue, Kind: "line", Series: []ChartSeries{{Key: "recognised"}, {Key: "deferred"}, {Key: "cash_in"}}}
	customers := Chart{Name: ChartCustomers, Kind: "bar", Series: []ChartSeries{{Key: "paying_customers"}, {Key: "arpu"}}}
	breakage := Chart{Name: ChartBreakage, Kind: "bar", Series: []ChartSeries{{Key: "breakage"}, {Key: "refunded"}}}
	var deferred decimal.Decimal // a period without a row keeps the deferred balance before it
	for p := start; p.Before(end); p = nextPeriod(p, g) {
		label := p.Format("2006-01-02")
		if g == Monthly {
			label = p.Format("2006-01")
		}
		r, ok := byPeriod[label]
		if ok {
			deferred = r.Deferred
		}
		arpu := decimal.Zero
		if r.Paying > 0 {
			arpu = r.Recognised.Div(decimal.NewFromInt(r.Paying)).RoundBank(2)
		}
		for _, c := range []*Chart{&revenue, &customers, &breakage} {
			c.Labels = append(c.Labels, label)
		}
		push(&revenue, r.Recognised, deferred, r.CashIn)
		push(&customers, decimal.NewFromInt(r.Paying), arpu)
		push(&breakage, r.Breakage, r.Refunded)
	}
	d.Charts[ChartRevenue], d.Charts[ChartCustomers], d.Charts[ChartBreakage] = revenue, customers, breakage

	type modelRow struct {
		Model   string
		Revenue decimal.Decimal
		Margin  decimal.Decimal
	}
	rows, _ = s.read(ctx).Query(ctx, analyticsModelsSQL, first, last)
	models, err := pgx.CollectRows(rows, pgx.RowToStructByPos[modelRow])
	if err != nil {
		return d, err
	}
	rank := func(name, key string, value func(modelRow) decimal.Decimal) Chart {
		c := Chart{Name: name, Kind: "rank", Series: []ChartSeries{{Key: key}}}
		sorted := append([]modelRow{}, models...)
		sortBy(sorted, func(a, b modelRow) bool {
			if x := value(a).Cmp(value(b)); x != 0 {
				return x > 0
			}
			return a.Model < b.Model
		})
		for i, m := range sorted {
			if i == analyticsTop {
				break
			}
			c.Labels = append(c.Labels, m.Model)
			push(&c, value(m).RoundBank(2))
		}
		return c
	}
	d.Charts[ChartModels] = rank(ChartModels, "revenue", func(m modelRow) decimal.Decimal { return m.Revenue })
	d.Charts[ChartMargins] = rank(ChartMargins, "margin", func(m modelRow) decimal.Decimal { return m.Margin })

	type customerRow struct {
		Label   string
		Revenue decimal.Decimal
	}
	// The whole months inside [start, end); none: an empty range at end.
	mStart, mEnd := periodStart(start, Monthly), periodStart(end, Monthly)
	if mStart.Before(start) {
		mStart = mStart.AddDate(0, 1, 0)
	}
	if !mStart.Before(mEnd) {
		mStart, mEnd = end, end
	}
	rows, _ = s.read(ctx).Query(ctx, analyticsCustomersSQL, first, last, mStart.Format("2006-01-02"), mEnd.Format("2006-01-02"), analyticsTop)
	top, err := pgx.CollectRows(rows, pgx.RowToStructByPos[customerRow])
	if err != nil {
		return d, err
	}
	c := Chart{Name: ChartTop, Kind: "rank", Series: []ChartSeries{{Key: "revenue"}}}
	for _, t := range top {
		c.Labels = append(c.Labels, t.Label)
		push(&c, t.Revenue.RoundBank(2))
	}
	d.Charts[ChartTop] = c
	if d.Charts[ChartSignups], err = s.signupChart(ctx, start, end, g, layout, q.Within); err != nil {
		return d, err
	}
	if d.Charts[ChartPlans], err = s.planChart(ctx, start, end, g, layout); err != nil {
		return d, err
	}
	return d, nil
}

// periodLabels are the labels of the periods [start, end).
func periodLabels(start, end time.Time, g Granularity) []string {
	var out []string
	for p := start; p.Before(end); p = nextPeriod(p, g) {
		if g == Monthly {
			out = append(out, p.Format("2006-01"))
		} else {
			out = append(out, p.Format("2006-01-02"))
		}
	}
	return out
}

const analyticsSignupsReadSQL = `
SELECT to_char(date_trunc($3, day), $4), count(*),
       count(*) FILTER (WHERE verified_at < signed_up_at + make_interval(days => $5)),
       count(*) FILTER (WHERE first_topup_at < signed_up_at + make_interval(days => $5))
FROM analytics_signups WHERE day >= $1 AND day < $2
GROUP BY 1`

// signupChart is sign-ups by sign-up period, and how many of them were
// verified and paid a first top-up within `within` days of signing up.
func (s *Service) signupChart(ctx context.Context, start, end time.Time, g Granularity, layout string, within int) (Chart, error) {
	c := Chart{Name: ChartSignups, Kind: "bar", Labels: periodLabels(start, end, g),
		Series: []ChartSeries{{Key: "signups"}, {Key: "verified"}, {Key: "first_topup"}}}
	rows, err := s.read(ctx).Query(ctx, analyticsSignupsReadSQL, start.Format("2006-01-02"), end.Format("2006-01-02"), string(g), layout, within)
	if err != nil {
		return c, err
	}
	got := map[string][3]int64{}
	var label string
	var n [3]int64
	if _, err := pgx.ForEachRow(rows, []any{&label, &n[0], &n[1], &n[2]}, func() error { got[label] = n; return nil }); err != nil {
		return c, err
	}
	for _, l := range c.Labels {
		x := got[l]
		push(&c, decimal.NewFromInt(x[0]), decimal.NewFromInt(x[1]), decimal.NewFromInt(x[2]))
	}
	return c, nil
}

const analyticsPlansReadSQL = `
SELECT to_char(date_trunc($3, day), $4) AS period, plan_code,
       (array_agg(subscribers ORDER BY day DESC) FILTER (WHERE subscribers IS NOT NULL))[1] AS subscribers,
       sum(ended) AS ended
FROM analytics_daily_plan WHERE day >= $1 AND day < $2
GROUP BY 1, 2`

// planChart is, per period, the subscribers in force by plan at the
// period's last snapshot (one series per plan) and the subscriptions that
// ended in it.
func (s *Service) planChart(ctx context.Context, start, end time.Time, g Granularity, layout string) (Chart, error) {
	c := Chart{Name: ChartPlans, Kind: "stack", Labels: periodLabels(start, end, g)}
	type planRow struct {
		Period      string
		Plan        string
		Subscribers *int64
		Ended       int64
	}
	rows, _ := s.read(ctx).Query(ctx, analyticsPlansReadSQL, start.Format("2006-01-02"), end.Format("2006-01-02"), string(g), layout)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[planRow])
	if err != nil {
		return c, err
	}
	index := map[string]int{}
	for i, l := range c.Labels {
		index[l] = i
	}
	var codes []string
	subs := map[string][]decimal.Decimal{}
	ended := make([]decimal.Decimal, len(c.Labels))
	for i := range ended {
		ended[i] = decimal.Zero
	}
	for _, r := range got {
		if _, ok := subs[r.Plan]; !ok {
			codes = append(codes, r.Plan)
			subs[r.Plan] = make([]decimal.Decimal, len(c.Labels))
			for i := range subs[r.Plan] {
				subs[r.Plan][i] = decimal.Zero
			}
		}
		i := index[r.Period]
		if r.Subscribers != nil {
			subs[r.Plan][i] = decimal.NewFromInt(*r.Subscribers)
		}
		ended[i] = ended[i].Add(decimal.NewFromInt(r.Ended))
	}
	sortBy(codes, func(a, b string) bool { return a < b })
	for _, code := range codes {
		c.Series = append(c.Series, ChartSeries{Key: "subscribers", Name: code, Values: subs[code]})
	}
	c.Series = append(c.Series, ChartSeries{Key: "ended", Values: ended})
	return c, nil
}

// push appends one value to each series of c, in order.
func push(c *Chart, values ...decimal.Decimal) {
	for i, v := range values {
		c.Series[i].Values = append(c.Series[i].Values, v)
	}
}

// sortBy is a stable insertion sort: rankings hold few rows.
func sortBy[T any](xs []T, less func(a, b T) bool) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && less(xs[j], xs[j-1]); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// ChartCSV writes one chart's data as CSV (UTF-8 with a BOM, cells
// neutralised against formula injection): a label column, then a column
// per series; yuan to the fen.
func ChartCSV(w io.Writer, c Chart) error {
	if _, err := io.WriteString(w, bom); err != nil {
		return err
	}
	cw := csvexport.NewWriter(w)
	head := []string{"period (Asia/Shanghai)"}
	switch c.Name {
	case ChartModels, ChartMargins:
		head[0] = "model"
	case ChartTop:
		head[0] = "customer"
	}
	for _, s := range c.Series {
		col := s.Key + "_rmb"
		if counted[s.Key] {
			col = s.Key
		}
		if s.Name != "" {
			col = s.Key + ":" + s.Name
		}
		head = append(head, col)
	}
	_ = cw.Write(head)
	for i, l := range c.Labels {
		rec := []string{l}
		for _, s := range c.Series {
			if counted[s.Key] {
				rec = append(rec, s.Values[i].String())
				continue
			}
			rec = append(rec, s.Values[i].StringFixed(2))
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// AnalyticsRollupArgs is the periodic job that refreshes the dashboard's
// roll-ups.
type AnalyticsRollupArgs struct{}

// Kind names the job in River's tables.
func (AnalyticsRollupArgs) Kind() string { return "analytics_rollup" }

// AnalyticsRollupWorker works AnalyticsRollupArgs.
type AnalyticsRollupWorker struct {
	river.WorkerDefaults[AnalyticsRollupArgs]
	Backoffice *Service
}

// Work refreshes the roll-ups.
func (w *AnalyticsRollupWorker) Work(ctx context.Context, _ *river.Job[AnalyticsRollupArgs]) error {
	_, err := w.Backoffice.RefreshAnalytics(ctx)
	return err
}

// AnalyticsPeriodicJobs refresh the roll-ups every interval (5 minutes when
// zero): today's figures on the dashboard are at most that old.
func AnalyticsPeriodicJobs(interval time.Duration) []*river.PeriodicJob {
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	return []*river.PeriodicJob{jobs.Every(interval, AnalyticsRollupArgs{})}
}
