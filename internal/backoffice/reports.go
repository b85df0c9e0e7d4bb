package backoffice

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/csvexport"
)

// Granularity is the period of a report row.
type Granularity string

// Report granularities; periods are cut in Asia/Shanghai.
const (
	Daily   Granularity = "day"
	Monthly Granularity = "month"
)

// ReportAmounts are one period's figures. Paid credit is revenue as it is
// spent; promotional credit (promo, plan and grace lots) is never revenue.
//
//	DeferredClosing = DeferredOpening + PaidPurchased − Recognised − Breakage − PaidRefunded
//	PromoClosing    = PromoOpening + PromoGranted − PromoSpent − PromoExpired
//
// Deferred revenue counts paid credit held by open reservations as unspent
// (it is not consumed until the call commits).
type ReportAmounts struct {
	PaidPurchased   decimal.Decimal // paid lots created (top-ups, manual recharges)
	Recognised      decimal.Decimal // paid credit spent: recognised revenue
	Breakage        decimal.Decimal // paid credit expired unspent
	PaidRefunded    decimal.Decimal // paid credit refunded
	DeferredOpening decimal.Decimal // unspent paid credit at the period's start
	DeferredClosing decimal.Decimal // unspent paid credit at the period's end: deferred revenue
	PromoGranted    decimal.Decimal
	PromoSpent      decimal.Decimal
	PromoExpired    decimal.Decimal
	PromoOpening    decimal.Decimal
	PromoClosing    decimal.Decimal
}

// ReportRow is one period of a report, in credits and in yuan.
type ReportRow struct {
	Period     string    // "2025-03-01" (day), "2025-03" (month) or "total"
	Start, End time.Time // [Start, End), UTC
	Credits    ReportAmounts
	// RMB is each credit figure × the credit price, rounded half-even to
	// the fen once per figure (so RMB figures are not summed from rounded
	// parts, and the identities above hold in credits exactly and in RMB
	// to within a fen per term).
	RMB ReportAmounts
}

// Report is the revenue report of [From, To) by period, with a total row.
type Report struct {
	From, To       time.Time
	Granularity    Granularity
	CreditPriceRMB decimal.Decimal
	Rows           []ReportRow
	Total          ReportRow
}

// reportSQL sums the ledger's lot events by Asia/Shanghai period and by
// paid versus promotional lots, for live accounts; events before $1 fall in
// the NULL period (the opening balance). Reservation and release events
// only move credit in and out of holds and are left out, so open holds
// count as unspent.
const reportSQL = `
SELECT CASE WHEN e.at < $1 THEN NULL ELSE date_trunc($3, e.at AT TIME ZONE 'Asia/Shanghai') END AS period,
       l.kind = 'paid' AS paid,
       coalesce(sum(e.amount) FILTER (WHERE e.type IN ('purchase', 'grant', 'adjustment')), 0) AS credited,
       coalesce(-sum(e.amount) FILTER (WHERE e.type IN ('deduction', 'reservation_expired_charge')), 0) AS spent,
       coalesce(-sum(e.amount) FILTER (WHERE e.type = 'expiry'), 0) AS expired,
       coalesce(-sum(e.amount) FILTER (WHERE e.type = 'refund'), 0) AS refunded
FROM ledger_events e
JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
JOIN ledger_accounts p ON p.id = e.pool_id AND p.mode = 'live'
WHERE e.at < $2 AND e.lot_id IS NOT NULL
GROUP BY 1, 2`

type reportSum struct {
	Period   *time.Time      `db:"period"`
	Paid     bool            `db:"paid"`
	Credited decimal.Decimal `db:"credited"`
	Spent    decimal.Decimal `db:"spent"`
	Expired  decimal.Decimal `db:"expired"`
	Refunded decimal.Decimal `db:"refunded"`
}

// periodStart is the start of the Asia/Shanghai day or month holding t.
func periodStart(t time.Time, g Granularity) time.Time {
	l := t.In(Shanghai)
	if g == Monthly {
		return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, Shanghai)
	}
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, Shanghai)
}

func nextPeriod(t time.Time, g Granularity) time.Time {
	if g == Monthly {
		return t.AddDate(0, 1, 0)
	}
	return t.AddDate(0, 0, 1)
}

// Revenue reports deferred revenue, recognised revenue, breakage and
// promotional credit per day or month (Asia/Shanghai) over the periods
// holding [from, to), read from the ledger's events and lots of live
// accounts. Finance and admin users may read it. Errors: ErrForbidden.
func (s *Service) Revenue(ctx context.Context, from, to time.Time, g Granularity, actor Actor) (Report, error) {
	if err := actor.require(auth.RoleFinance, auth.RoleAdmin); err != nil {
		return Report{}, err
	}
	return s.revenue(ctx, from, to, g)
}

func (s *Service) revenue(ctx context.Context, from, to time.Time, g Granularity) (Report, error) {
	if g != Monthly {
		g = Daily
	}
	start := periodStart(from, g)
	end := periodStart(to, g)
	if end.Before(to) || end.Equal(start) {
		end = nextPeriod(end, g)
	}
	r := Report{From: start.UTC(), To: end.UTC(), Granularity: g, CreditPriceRMB: s.opt.CreditPriceRMB}
	rows, _ := s.pool.Query(ctx, reportSQL, r.From, r.To, string(g))
	sums, err := pgx.CollectRows(rows, pgx.RowToStructByName[reportSum])
	if err != nil {
		return r, fmt.Errorf("backoffice: revenue report: %w", err)
	}
	byPeriod := map[string]*ReportAmounts{}
	var opening ReportAmounts
	key := func(t time.Time) string { return t.Format("2006-01-02") }
	for _, x := range sums {
		a := &opening
		if x.Period != nil {
			// date_trunc of a timestamp without time zone: wall time in Shanghai
			k := key(*x.Period)
			if byPeriod[k] == nil {
				byPeriod[k] = &ReportAmounts{}
			}
			a = byPeriod[k]
		}
		if x.Paid {
			a.PaidPurchased = a.PaidPurchased.Add(x.Credited)
			a.Recognised = a.Recognised.Add(x.Spent)
			a.Breakage = a.Breakage.Add(x.Expired)
			a.PaidRefunded = a.PaidRefunded.Add(x.Refunded)
		} else {
			a.PromoGranted = a.PromoGranted.Add(x.Credited)
			a.PromoSpent = a.PromoSpent.Add(x.Spent)
			a.PromoExpired = a.PromoExpired.Add(x.Expired)
		}
	}
	deferred := opening.PaidPurchased.Sub(opening.Recognised).Sub(opening.Breakage).Sub(opening.PaidRefunded)
	promo := opening.PromoGranted.Sub(opening.PromoSpent).Sub(opening.PromoExpired)
	total := ReportAmounts{DeferredOpening: deferred, PromoOpening: promo}
	for p := start; p.Before(end); p = nextPeriod(p, g) {
		a := ReportAmounts{}
		if x := byPeriod[key(p)]; x != nil {
			a = *x
		}
		a.DeferredOpening, a.PromoOpening = deferred, promo
		deferred = deferred.Add(a.PaidPurchased).Sub(a.Recognised).Sub(a.Breakage).Sub(a.PaidRefunded)
		promo = promo.Add(a.PromoGranted).Sub(a.PromoSpent).Sub(a.PromoExpired)
		a.DeferredClosing, a.PromoClosing = deferred, promo
		label := p.Format("2006-01-02")
		if g == Monthly {
			label = p.Format("2006-01")
		}
		r.Rows = append(r.Rows, s.reportRow(label, p, nextPeriod(p, g), a))
		total.PaidPurchased = total.PaidPurchased.Add(a.PaidPurchased)
		total.Recognised = total.Recognised.Add(a.Recognised)
		total.Breakage = total.Breakage.Add(a.Breakage)
		total.PaidRefunded = total.PaidRefunded.Add(a.PaidRefunded)
		total.PromoGranted = total.PromoGranted.Add(a.PromoGranted)
		total.PromoSpent = total.PromoSpent.Add(a.PromoSpent)
		total.PromoExpired = total.PromoExpired.Add(a.PromoExpired)
	}
	total.DeferredClosing, total.PromoClosing = deferred, promo
	r.Total = s.reportRow("total", start, end, total)
	return r, nil
}

func (s *Service) reportRow(label string, start, end time.Time, c ReportAmounts) ReportRow {
	rmb := func(d decimal.Decimal) decimal.Decimal { return ledger.RMBForCredits(d, s.opt.CreditPriceRMB) }
	return ReportRow{Period: label, Start: start.UTC(), End: end.UTC(), Credits: c, RMB: ReportAmounts{
		PaidPurchased: rmb(c.PaidPurchased), Recognised: rmb(c.Recognised), Breakage: rmb(c.Breakage),
		PaidRefunded: rmb(c.PaidRefunded), DeferredOpening: rmb(c.DeferredOpening), DeferredClosing: rmb(c.DeferredClosing),
		PromoGranted: rmb(c.PromoGranted), PromoSpent: rmb(c.PromoSpent), PromoExpired: rmb(c.PromoExpired),
		PromoOpening: rmb(c.PromoOpening), PromoClosing: rmb(c.PromoClosing),
	}}
}

// ReportCSV writes a report as CSV (UTF-8 with a BOM): one line per period
// and a total line, credits then yuan for each figure.
func ReportCSV(w io.Writer, r Report) error {
	if _, err := io.WriteString(w, bom); err != nil {
		return err
	}
	cw := csvexport.NewWriter(w)
	names := []string{"paid_purchased", "recognised_revenue", "breakage", "paid_refunded", "deferred_opening",
		"deferred_closing", "promo_granted", "promo_spent", "promo_expired", "promo_opening", "promo_closing"}
	head := []string{"period (Asia/Shanghai)"}
	for _, n := range names {
		head = append(head, n+"_credits", n+"_rmb")
	}
	_ = cw.Write(head)
	for _, row := range append(append([]ReportRow{}, r.Rows...), r.Total) {
		c, y := row.Credits.list(), row.RMB.list()
		line := []string{row.Period}
		for i := range c {
			line = append(line, c[i].StringFixed(ledger.Scale), y[i].StringFixed(2))
		}
		_ = cw.Write(line)
	}
	cw.Flush()
	return cw.Error()
}

func (a ReportAmounts) list() []decimal.Decimal {
	return []decimal.Decimal{a.PaidPurchased, a.Recognised, a.Breakage, a.PaidRefunded, a.DeferredOpening,
		a.DeferredClosing, a.PromoGranted, a.PromoSpent, a.PromoExpired, a.PromoOpening, a.PromoClosing}
}
