package costs

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/csvexport"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Margin is one line of the margin report: the charges of a day, a model
// or a customer. Credits are what they charged (from any lot, the unpaid
// part excluded); Revenue is Credits valued at the credit price, Cost the
// sum of the costs their details record (RMB, exact: a total is rounded to
// the fen only when shown). Uncosted counts charges that record no cost.
type Margin struct {
	Key      string // the day (2006-01-02), model, or customer (pool account id)
	Name     string // the customer's name or external id; "" otherwise
	Charges  int64
	Credits  decimal.Decimal
	Revenue  decimal.Decimal
	Cost     decimal.Decimal
	Uncosted int64
}

// Margin is Revenue − Cost.
func (m Margin) Margin() decimal.Decimal { return m.Revenue.Sub(m.Cost) }

// Negative reports whether the charges cost more than they brought in.
func (m Margin) Negative() bool { return m.Margin().IsNegative() }

func (m *Margin) add(o Margin) {
	m.Charges += o.Charges
	m.Credits = m.Credits.Add(o.Credits)
	m.Revenue = m.Revenue.Add(o.Revenue)
	m.Cost = m.Cost.Add(o.Cost)
	m.Uncosted += o.Uncosted
}

// MarginReport is revenue, cost and margin of live accounts' charges that
// happened (occurred_at) in [From, To), by Asia/Shanghai day, by model, by
// customer (the paying pool: an enterprise's sub-accounts count in it) and
// by upstream.
type MarginReport struct {
	From, To       time.Time
	CreditPriceRMB decimal.Decimal
	ByDay          []Margin // by day
	ByModel        []Margin // by revenue, highest first
	ByCustomer     []Margin // by revenue, highest first
	// ByUpstream: by the provider that served the call, as the relay
	// records it on the charge ("": calls not made through the relay).
	ByUpstream []Margin // by revenue, highest first
	// ByDayModel and ByDayCustomer split each day by model and by
	// customer (Day set; Key the model or the pool account id), for the
	// operator dashboard's daily roll-ups (internal/backoffice analytics.go).
	ByDayModel    []DayMargin
	ByDayCustomer []DayMargin
	Total         Margin
}

// DayMargin is the charges of one Asia/Shanghai day (2006-01-02) for one
// model or customer.
type DayMargin struct {
	Day string
	Margin
}

// marginSQL sums each charge (one ledger operation: its deduction events,
// one per lot, and any unpaid_usage) once, then groups the charges by
// Shanghai day, model and pool.
const marginSQL = `
WITH ops AS (
    SELECT e.pool_id, e.op_id,
           min(e.occurred_at) AS at,
           max(e.model) AS model,
           coalesce(sum(-e.amount) FILTER (WHERE e.type <> 'unpaid_usage'), 0) AS credits,
           max((e.detail->>'cost')::numeric) AS cost,
           coalesce(max(e.detail->>'upstream'), '') AS upstream
    FROM ledger_event_view e
    JOIN ledger_account_view p ON p.id = e.pool_id AND p.mode = 'live'
    WHERE e.type IN ('deduction', 'unpaid_usage', 'reservation_expired_charge')
      AND e.occurred_at >= $1 AND e.occurred_at < $2
    GROUP BY e.pool_id, e.op_id
)
SELECT to_char(timezone('Asia/Shanghai', o.at), 'YYYY-MM-DD') AS day, o.model, o.pool_id,
       coalesce(nullif(a.name, ''), a.external_id, '') AS name, o.upstream,
       count(*) AS charges, sum(o.credits) AS credits, coalesce(sum(o.cost), 0) AS cost,
       count(*) FILTER (WHERE o.cost IS NULL) AS uncosted
FROM ops o
JOIN ledger_account_view a ON a.id = o.pool_id
GROUP BY 1, 2, 3, 4, 5`

// Margins reads the margin report of the charges that happened in
// [from, to), valuing charged credits at creditPriceRMB yuan each.
// Errors: database errors wrapped with "costs: margins:".
func (s *Service) Margins(ctx context.Context, from, to time.Time, creditPriceRMB decimal.Decimal) (MarginReport, error) {
	return marginsOn(ctx, s.pool, from, to, creditPriceRMB)
}

// marginsOn is Margins on q (the pool, or a caller's transaction).
func marginsOn(ctx context.Context, q db.DBTX, from, to time.Time, creditPriceRMB decimal.Decimal) (MarginReport, error) {
	r := MarginReport{From: from.UTC(), To: to.UTC(), CreditPriceRMB: creditPriceRMB}
	rows, err := q.Query(ctx, marginSQL, r.From, r.To)
	if err != nil {
		return r, fmt.Errorf("costs: margins: %w", err)
	}
	type row struct {
		Day      string
		Model    string
		PoolID   int64
		Name     string
		Upstream string
		Charges  int64
		Credits  decimal.Decimal
		Cost     decimal.Decimal
		Uncosted int64
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return r, fmt.Errorf("costs: margins: %w", err)
	}
	days, models, customers, upstreams := map[string]*Margin{}, map[string]*Margin{}, map[string]*Margin{}, map[string]*Margin{}
	dayModels, dayCustomers := map[string]*Margin{}, map[string]*Margin{}
	into := func(idx map[string]*Margin, key, name string, m Margin) {
		x := idx[key]
		if x == nil {
			x = &Margin{Key: key, Name: name}
			idx[key] = x
		}
		x.add(m)
	}
	for _, g := range got {
		m := Margin{Charges: g.Charges, Credits: g.Credits, Revenue: g.Credits.Mul(creditPriceRMB), Cost: g.Cost, Uncosted: g.Uncosted}
		into(days, g.Day, "", m)
		into(models, g.Model, "", m)
		into(customers, fmt.Sprint(g.PoolID), g.Name, m)
		into(upstreams, g.Upstream, "", m)
		into(dayModels, g.Day+"\x00"+g.Model, "", m)
		into(dayCustomers, g.Day+"\x00"+fmt.Sprint(g.PoolID), g.Name, m)
		r.Total.add(m)
	}
	r.ByDayModel, r.ByDayCustomer = dayLines(dayModels), dayLines(dayCustomers)
	r.ByDay = sorted(days, func(a, b Margin) bool { return a.Key < b.Key })
	byRevenue := func(a, b Margin) bool {
		if c := a.Revenue.Cmp(b.Revenue); c != 0 {
			return c > 0
		}
		return a.Key < b.Key
	}
	r.ByModel = sorted(models, byRevenue)
	r.ByCustomer = sorted(customers, byRevenue)
	r.ByUpstream = sorted(upstreams, byRevenue)
	r.Total.Key = "total"
	return r, nil
}

// dayLines splits the "day\x00key" keys of idx, in key order.
func dayLines(idx map[string]*Margin) []DayMargin {
	out := make([]DayMargin, 0, len(idx))
	for _, m := range sorted(idx, func(a, b Margin) bool { return a.Key < b.Key }) {
		day, key, _ := strings.Cut(m.Key, "\x00")
		m.Key = key
		out = append(out, DayMargin{Day: day, Margin: m})
	}
	return out
}

func sorted(idx map[string]*Margin, less func(a, b Margin) bool) []Margin {
	out := make([]Margin, 0, len(idx))
	for _, m := range idx {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

// Fen rounds an RMB amount to the fen, half-even: the one rounding of a
// shown or exported report figure.
func Fen(rmb decimal.Decimal) decimal.Decimal { return rmb.RoundBank(2) }

// Report views: which grouping of the report a page or CSV shows.
const (
	ViewDay      = "day"
	ViewModel    = "model"
	ViewCustomer = "customer"
	ViewUpstream = "upstream"
)

// Views are the report's views, in the order the page offers them.
var Views = []string{ViewDay, ViewModel, ViewCustomer, ViewUpstream}

// View returns the report's lines for view (ViewDay when unknown) and the
// view it chose.
func (r MarginReport) View(view string) ([]Margin, string) {
	switch view {
	case ViewModel:
		return r.ByModel, ViewModel
	case ViewCustomer:
		return r.ByCustomer, ViewCustomer
	case ViewUpstream:
		return r.ByUpstream, ViewUpstream
	}
	return r.ByDay, ViewDay
}

// MarginCSV writes one view of the report as CSV (UTF-8 with a BOM, cells
// neutralised against formula injection), figures rounded to the fen
// (half-even), credits to six decimals, and a total line.
func MarginCSV(w io.Writer, r MarginReport, view string) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	lines, view := r.View(view)
	cw := csvexport.NewWriter(w)
	head := []string{view, "charges", "credits", "revenue_rmb", "cost_rmb", "margin_rmb", "uncosted_charges"}
	if view == ViewDay {
		head[0] = "day (Asia/Shanghai)"
	}
	if view == ViewCustomer {
		head = append(head[:1], append([]string{"name"}, head[1:]...)...)
	}
	_ = cw.Write(head)
	for _, m := range append(append([]Margin{}, lines...), r.Total) {
		rec := []string{m.Key}
		if view == ViewCustomer {
			rec = append(rec, m.Name)
		}
		rec = append(rec, strconv.FormatInt(m.Charges, 10), m.Credits.StringFixed(Scale), Fen(m.Revenue).StringFixed(2),
			Fen(m.Cost).StringFixed(2), Fen(m.Margin()).StringFixed(2), strconv.FormatInt(m.Uncosted, 10))
		_ = cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}
