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
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Granularity is the period of a report row.
type Granularity string

// Report granularities; periods are cut in Asia/Shanghai.
const (
	Daily   Granularity = "day"
	Monthly Granularity = "month"
)

// ReportAmounts are one period's figures. Paid credit is revenue as it is
// spent; promotional credit (promo and grace lots) is never revenue. Plan
// lots are neither: their credit is part of what a plan fee bought, and the
// fee is recognised over its period (the Plan… figures).
//
//	DeferredClosing = DeferredOpening + PaidPurchased − Recognised − Breakage − PaidRefunded
//	PromoClosing    = PromoOpening + PromoGranted − PromoSpent − PromoExpired
//
// Deferred revenue counts paid credit held by open reservations as unspent
// (it is not consumed until the call commits). PromoExpired includes bonus
// credit revoked by refunds (README, "Refunds and bonus").
type ReportAmounts struct {
	PaidPurchased   decimal.Decimal // paid lots created (top-ups, manual recharges)
	Recognised      decimal.Decimal // paid credit spent: recognised revenue (RMB: plus BonusDeducted)
	Breakage        decimal.Decimal // paid credit expired unspent
	PaidRefunded    decimal.Decimal // paid credit refunded (RMB: the money paid back)
	DeferredOpening decimal.Decimal // unspent paid credit at the period's start
	DeferredClosing decimal.Decimal // unspent paid credit at the period's end: deferred revenue
	// BonusDeducted is bonus credit already spent that refunds charged
	// for (credits), and what they kept back for it at the paid lots'
	// price (RMB, counted in Recognised). The credits are promo credit,
	// already in PromoSpent: they are outside the credit identity above.
	BonusDeducted decimal.Decimal
	// Plan fees (RMB only; zero in credits): a plan order's money is
	// recognised evenly over the period it pays for, day by day in
	// Asia/Shanghai (PlanFee.RecognisedBy); what is not yet recognised is
	// deferred plan revenue.
	//
	//	PlanDeferredClosing = PlanDeferredOpening + PlanFeesReceived − PlanFeesRecognised − PlanFeesRefunded
	PlanFeesReceived    decimal.Decimal
	PlanFeesRecognised  decimal.Decimal
	PlanFeesRefunded    decimal.Decimal
	PlanDeferredOpening decimal.Decimal
	PlanDeferredClosing decimal.Decimal
	PromoGranted        decimal.Decimal
	PromoSpent          decimal.Decimal
	PromoExpired        decimal.Decimal
	PromoOpening        decimal.Decimal
	PromoClosing        decimal.Decimal
	// Postpaid credit (revenue_postpaid.go): consumption of credit lines
	// recognised as revenue at the credit price (a bill's period at the
	// bill's amount), bills paid, and the receivable (应收) it leaves.
	//
	//	ReceivableClosing = ReceivableOpening + PostpaidRecognised − BillsPaid
	//
	// ReceivableBilled is the part of ReceivableClosing on bills issued
	// and unpaid at the period's end (the rest is not billed yet).
	PostpaidRecognised decimal.Decimal
	BillsPaid          decimal.Decimal
	ReceivableOpening  decimal.Decimal
	ReceivableClosing  decimal.Decimal
	ReceivableBilled   decimal.Decimal
}

// ReportRow is one period of a report, in credits and in yuan.
type ReportRow struct {
	Period     string    // "2025-03-01" (day), "2025-03" (month) or "total"
	Start, End time.Time // [Start, End), UTC
	Credits    ReportAmounts
	// RMB values paid credit at the price paid for each lot
	// (the lot's paid_fen; ledger.LotValue allocates it to the lot's
	// consumption, expiry and refunds, to the fen, so a lot that is used up
	// recognises exactly what was paid for it), not at today's credit price:
	// a row never changes when CREDIT_PRICE_RMB does, and over every lot
	// Recognised + Breakage + PaidRefunded + DeferredClosing = the money
	// received, exactly. Promotional credit was not paid for: its RMB
	// figures are zero.
	RMB ReportAmounts
}

// Report is the revenue report of [From, To) by period, with a total row.
type Report struct {
	From, To    time.Time
	Granularity Granularity
	// CreditPriceRMB is the price in force when the report was made. It
	// values only paid lots credited without a recorded price (none that
	// payments or the back office credit).
	CreditPriceRMB decimal.Decimal
	Rows           []ReportRow
	Total          ReportRow
}

// reportPromoSQL sums the ledger's events on promotional lots (promo,
// grace; not plan lots, which a plan fee paid for, nor the credit line,
// which is not credit given) in [$1, $2) by Asia/Shanghai period, for live
// accounts (the opening is promoOpening's). Reservation and release events
// only move credit in and out of holds and are left out, so open holds
// count as unspent.
const reportPromoSQL = `
SELECT date_trunc($3, e.at AT TIME ZONE 'Asia/Shanghai') AS period,
       coalesce(sum(e.amount) FILTER (WHERE e.type IN ('purchase', 'grant', 'adjustment')), 0) AS credited,
       coalesce(-sum(e.amount) FILTER (WHERE e.type IN ('deduction', 'reservation_expired_charge')), 0) AS spent,
       coalesce(-sum(e.amount) FILTER (WHERE e.type = 'expiry'), 0) AS expired
FROM ledger_event_view e
JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id AND l.kind NOT IN ('paid', 'plan', 'credit')
JOIN ledger_account_view p ON p.id = e.pool_id AND p.mode = 'live'
WHERE e.at >= $1 AND e.at < $2 AND e.lot_id IS NOT NULL
GROUP BY 1`

type promoSum struct {
	Period   *time.Time      `db:"period"`
	Credited decimal.Decimal `db:"credited"`
	Spent    decimal.Decimal `db:"spent"`
	Expired  decimal.Decimal `db:"expired"`
}

// reportPaidSQL reads every event that puts credit into or takes it out of
// a paid lot of a live account since $5 (the month whose positions the
// replay starts from; NULL: from the first event), lot by lot in ledger
// order, with the lot's size and price: the report replays each lot through
// ledger.LotValue. Refund events carry what they took at the lot's price
// ("fen") and any bonus deduction in their detail (ledger_refund); older
// refunds have none.
const reportPaidSQL = `
SELECT CASE WHEN e.at < $1 THEN NULL ELSE date_trunc($3, e.at AT TIME ZONE 'Asia/Shanghai') END AS period,
       e.pool_id, e.lot_id, e.type::text AS type, e.amount, l.amount AS lot_amount, l.paid_fen,
       (e.detail->>'fen')::bigint AS fen,
       coalesce((e.detail->>'bonus_fen')::bigint, 0) AS bonus_fen,
       coalesce((e.detail->>'bonus_charged')::numeric, 0) AS bonus_charged
FROM ledger_event_view e
JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id AND l.kind = 'paid'
JOIN ledger_account_view p ON p.id = e.pool_id AND p.mode = 'live'
WHERE e.at >= coalesce($5::timestamptz, '-infinity') AND e.at < $2
  AND e.type IN ('purchase', 'grant', 'adjustment', 'deduction', 'reservation_expired_charge', 'expiry', 'refund')
  AND ($4::bigint = 0 OR e.pool_id = $4)
ORDER BY e.pool_id, e.lot_id, e.id`

type paidEvent struct {
	Period       *time.Time
	PoolID       int64
	LotID        int64
	Type         string
	Amount       decimal.Decimal
	LotAmount    decimal.Decimal
	PaidFen      *int64
	Fen          *int64
	BonusFen     int64
	BonusCharged decimal.Decimal
}

// paidFigures are one period's paid-lot figures in credits and in fen.
type paidFigures struct {
	credits                                                  ReportAmounts
	purchased, recognised, breakage, refunded, bonusDeducted int64
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
// accounts. Finance and admin users may read it. Errors: ErrForbidden,
// ledger.ErrArchived (the first period starts inside the archived months;
// it carries the field error report_archived on from, naming the first date).
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
	until, err := s.checkNotArchived(ctx, start)
	if err != nil {
		return r, err
	}
	promoOpening, ok, err := s.promoOpening(ctx, r.From, until)
	if err != nil {
		return r, fmt.Errorf("backoffice: revenue report: %w", err)
	}
	if !ok {
		return r, fmt.Errorf("backoffice: revenue report from %s: %w: no closed month at or after the archive's end %s keeps the promotional credit left (months archived before migration 001810)",
			start.Format("2006-01-02"), ledger.ErrArchived, until.Format(time.RFC3339))
	}
	key := func(t *time.Time) string {
		if t == nil {
			return "" // the opening balance
		}
		// date_trunc of a timestamp without time zone: wall time in Shanghai
		return t.Format("2006-01-02")
	}
	paid, err := s.paidFigures(ctx, r.From, r.To, g, 0, key)
	if err != nil {
		return r, fmt.Errorf("backoffice: revenue report: %w", err)
	}
	var fees []PlanFee
	if s.opt.PlanFees != nil {
		if fees, err = s.opt.PlanFees(ctx, r.To); err != nil {
			return r, fmt.Errorf("backoffice: revenue report: %w", err)
		}
	}
	plan := planFeeFigures(fees, start, end, g, key)
	post, bills, err := s.postpaid(ctx, r.From, r.To, g, key)
	if err != nil {
		return r, fmt.Errorf("backoffice: revenue report: %w", err)
	}
	recv := receivable{}.next(post[""])
	totalRecvOpening := recv
	var totalPost postpaidFigures
	rows, _ := s.pool.Query(ctx, reportPromoSQL, r.From, r.To, string(g))
	sums, err := pgx.CollectRows(rows, pgx.RowToStructByName[promoSum])
	if err != nil {
		return r, fmt.Errorf("backoffice: revenue report: %w", err)
	}
	promo := map[string]promoSum{}
	for _, x := range sums {
		promo[key(x.Period)] = x
	}

	open := paid[""]
	deferred := open.credits.PaidPurchased.Sub(open.credits.Recognised).Sub(open.credits.Breakage).Sub(open.credits.PaidRefunded)
	deferredFen := open.purchased - open.recognised - open.breakage - open.refunded
	promoLeft := promoOpening
	var total paidFigures
	total.credits = ReportAmounts{DeferredOpening: deferred, PromoOpening: promoLeft}
	totalOpeningFen := deferredFen
	po := plan[""]
	planDeferred := po.received - po.recognised - po.refunded
	totalPlanOpening := planDeferred
	var totalPlan planFigures
	for p := start; p.Before(end); p = nextPeriod(p, g) {
		k := key(&p)
		f, x := paid[k], promo[k]
		a := f.credits
		a.PromoGranted, a.PromoSpent, a.PromoExpired = x.Credited, x.Spent, x.Expired
		a.DeferredOpening, a.PromoOpening = deferred, promoLeft
		openingFen := deferredFen
		deferred = deferred.Add(a.PaidPurchased).Sub(a.Recognised).Sub(a.Breakage).Sub(a.PaidRefunded)
		deferredFen += f.purchased - f.recognised - f.breakage - f.refunded
		promoLeft = promoLeft.Add(a.PromoGranted).Sub(a.PromoSpent).Sub(a.PromoExpired)
		a.DeferredClosing, a.PromoClosing = deferred, promoLeft
		f.credits = a
		label := p.Format("2006-01-02")
		if g == Monthly {
			label = p.Format("2006-01")
		}
		pf := plan[k]
		planOpening := planDeferred
		planDeferred += pf.received - pf.recognised - pf.refunded
		totalPlan.received += pf.received
		totalPlan.recognised += pf.recognised
		totalPlan.refunded += pf.refunded
		row := withPlan(reportRow(label, p, nextPeriod(p, g), f, openingFen, deferredFen), pf, planOpening, planDeferred)
		pp := post[k]
		recvOpening := recv
		recv = recv.next(pp)
		totalPost.recognisedCredits = totalPost.recognisedCredits.Add(pp.recognisedCredits)
		totalPost.paidCredits = totalPost.paidCredits.Add(pp.paidCredits)
		totalPost.recognised += pp.recognised
		totalPost.paid += pp.paid
		r.Rows = append(r.Rows, withPostpaid(row, pp, recvOpening, recv, bills))
		total.add(f)
		t := &total.credits
		t.PromoGranted = t.PromoGranted.Add(a.PromoGranted)
		t.PromoSpent = t.PromoSpent.Add(a.PromoSpent)
		t.PromoExpired = t.PromoExpired.Add(a.PromoExpired)
	}
	total.credits.DeferredClosing, total.credits.PromoClosing = deferred, promoLeft
	r.Total = withPlan(reportRow("total", start, end, total, totalOpeningFen, deferredFen), totalPlan, totalPlanOpening, planDeferred)
	r.Total = withPostpaid(r.Total, totalPost, totalRecvOpening, recv, bills)
	return r, nil
}

// checkNotArchived refuses a report whose first period starts before the
// end of the months of ledger events in the archive (ledger.ArchivedUntil).
// Those months left only their checkpoints, which keep no figures by day or
// month: a paid lot's month-end position merges spent and expired credit,
// and promotional credit keeps none, so the report could not be exact
// there. From the archive's end on it is: the paid lots' replay starts at a
// closed month at or after it (a month leaves only once closed), and the
// promotional opening starts at a closing's promotional figure
// (promoOpening). The error names the first date a report may start on (a
// Shanghai month start). It returns the archive's end (zero: none).
func (s *Service) checkNotArchived(ctx context.Context, start time.Time) (until time.Time, err error) {
	until, err = ledger.ArchivedUntil(ctx, s.pool)
	if err != nil {
		return until, fmt.Errorf("backoffice: revenue report: %w", err)
	}
	if !start.Before(until) {
		return until, nil
	}
	date := until.In(Shanghai).Format("2006-01-02")
	return until, fmt.Errorf("backoffice: revenue report from %s: %w (the events before %s are in the archive): %w",
		start.Format("2006-01-02"), ledger.ErrArchived, date, fielderr.One("backoffice", "from", "report_archived", "date", date))
}

// paidFigures sums what paid lots' events are worth by period (key of
// its period; "" before the report). It starts from the last closed month
// at or before from (revenue_positions.go) and replays each lot's events
// since then through ledger.LotValue; without a closed month, from each
// lot's first event. A lot credited without a price is valued at the
// credit price in force. The "" figures are the opening position: only
// what they leave deferred is meaningful (a closed month carries each
// lot's used credit as Recognised, its expiries included).
func (s *Service) paidFigures(ctx context.Context, from, to time.Time, g Granularity, poolID int64, key func(*time.Time) string) (map[string]paidFigures, error) {
	base, lots, err := s.paidPositions(ctx, s.pool, from, poolID)
	if err != nil {
		return nil, err
	}
	out := map[string]paidFigures{}
	open := out[key(nil)]
	for _, p := range lots {
		open.add(p.opening())
	}
	out[key(nil)] = open
	err = s.replayPaid(ctx, s.pool, from, to, g, poolID, base, lots, func(period *time.Time, f paidFigures) {
		k := key(period)
		sum := out[k]
		sum.add(f)
		out[k] = sum
	})
	return out, err
}

// PaidConsumedFen is the revenue report's recognised revenue (RMB, in fen)
// of one account's pool over [from, to) — its paid credit consumed at the
// price paid for each lot, with bonus kept back by refunds. from and to
// should be Shanghai day boundaries.
func (s *Service) PaidConsumedFen(ctx context.Context, accountID int64, from, to time.Time) (int64, error) {
	period := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return "in"
	}
	paid, err := s.paidFigures(ctx, from, to, Monthly, accountID, period)
	if err != nil {
		return 0, fmt.Errorf("backoffice: paid consumed: %w", err)
	}
	return paid["in"].recognised, nil
}

// PaidConsumedByMonth is PaidConsumedFen for each Shanghai month ("2026-11")
// of [from, to) with any, in one pass over the pool's paid lots: invoicing
// by consumption (invoicing.Options.ConsumedFen). from and to should be
// Shanghai month boundaries.
func (s *Service) PaidConsumedByMonth(ctx context.Context, accountID int64, from, to time.Time) (map[string]int64, error) {
	month := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		// date_trunc of a timestamp without time zone: wall time in Shanghai
		return t.Format("2006-01")
	}
	paid, err := s.paidFigures(ctx, from, to, Monthly, accountID, month)
	if err != nil {
		return nil, fmt.Errorf("backoffice: paid consumed by month: %w", err)
	}
	out := map[string]int64{}
	for k, f := range paid {
		if k != "" && f.recognised != 0 {
			out[k] = f.recognised
		}
	}
	return out, nil
}

// reportRow is one row: credits as summed, RMB from the fen figures.
func reportRow(label string, start, end time.Time, f paidFigures, openingFen, closingFen int64) ReportRow {
	y := func(fen int64) decimal.Decimal { return decimal.New(fen, -2) }
	return ReportRow{Period: label, Start: start.UTC(), End: end.UTC(), Credits: f.credits, RMB: ReportAmounts{
		PaidPurchased: y(f.purchased), Recognised: y(f.recognised), Breakage: y(f.breakage), PaidRefunded: y(f.refunded),
		DeferredOpening: y(openingFen), DeferredClosing: y(closingFen), BonusDeducted: y(f.bonusDeducted),
		PromoGranted: decimal.Zero, PromoSpent: decimal.Zero, PromoExpired: decimal.Zero, PromoOpening: decimal.Zero, PromoClosing: decimal.Zero,
	}}
}

// withPlan sets a row's plan-fee figures (RMB; zero in credits).
func withPlan(row ReportRow, f planFigures, openingFen, closingFen int64) ReportRow {
	y := func(fen int64) decimal.Decimal { return decimal.New(fen, -2) }
	row.RMB.PlanFeesReceived, row.RMB.PlanFeesRecognised, row.RMB.PlanFeesRefunded = y(f.received), y(f.recognised), y(f.refunded)
	row.RMB.PlanDeferredOpening, row.RMB.PlanDeferredClosing = y(openingFen), y(closingFen)
	return row
}

// ReportCSV writes a report as CSV (UTF-8 with a BOM): one line per period
// and a total line, credits then yuan for each figure (yuan at the price
// paid for each lot; none for promotional credit, which was not paid for).
func ReportCSV(w io.Writer, r Report) error {
	if _, err := io.WriteString(w, bom); err != nil {
		return err
	}
	cw := csvexport.NewWriter(w)
	names := []string{"paid_purchased", "recognised_revenue", "breakage", "paid_refunded", "deferred_opening",
		"deferred_closing", "bonus_deducted", "promo_granted", "promo_spent", "promo_expired", "promo_opening", "promo_closing",
		"plan_fees_received", "plan_fees_recognised", "plan_fees_refunded", "plan_deferred_opening", "plan_deferred_closing",
		"postpaid_recognised", "bills_paid", "receivable_opening", "receivable_closing", "receivable_billed"}
	const promoFrom, planFrom, postpaidFrom = 7, 12, 17 // the first promotional, plan-fee and postpaid figures in names
	head := []string{"period (Asia/Shanghai)"}
	for _, n := range names {
		head = append(head, n+"_credits", n+"_rmb")
	}
	_ = cw.Write(head)
	for _, row := range append(append([]ReportRow{}, r.Rows...), r.Total) {
		c, y := row.Credits.list(), row.RMB.list()
		line := []string{row.Period}
		for i := range c {
			yuan, credits := y[i].StringFixed(2), c[i].StringFixed(ledger.Scale)
			if i >= promoFrom && i < planFrom {
				yuan = "" // promotional credit was not paid for
			}
			if i >= planFrom && i < postpaidFrom {
				credits = "" // a plan fee is money, not credit
			}
			line = append(line, credits, yuan)
		}
		_ = cw.Write(line)
	}
	cw.Flush()
	return cw.Error()
}

func (a ReportAmounts) list() []decimal.Decimal {
	return []decimal.Decimal{a.PaidPurchased, a.Recognised, a.Breakage, a.PaidRefunded, a.DeferredOpening,
		a.DeferredClosing, a.BonusDeducted, a.PromoGranted, a.PromoSpent, a.PromoExpired, a.PromoOpening, a.PromoClosing,
		a.PlanFeesReceived, a.PlanFeesRecognised, a.PlanFeesRefunded, a.PlanDeferredOpening, a.PlanDeferredClosing,
		a.PostpaidRecognised, a.BillsPaid, a.ReceivableOpening, a.ReceivableClosing, a.ReceivableBilled}
}
