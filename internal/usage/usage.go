// Package usage is the read model of what customers spent on model calls:
// the charges of an account (one per ledger operation, with the buckets that
// paid for it), their daily totals by model, and CSV-ready rows. The ledger
// writes usage as events (deduction, unpaid_usage and
// reservation_expired_charge rows sharing an op_id, with model, session and
// request ids and a detail JSON of token counts); this package only reads
// them, plus a daily rollup it folds forward itself (usage_daily), so that
// totals and charts stay fast on histories of millions of events. Calls of
// free models, which the ledger does not record, come from the gateway's
// gateway_free_calls as zero-credit usage (see free.go).
//
// Every query is scoped to one pool (the account that owns the lots) and,
// for a sub-account, to its own rows: callers pass a Scope resolved from the
// signed-in user, never from request parameters alone.
package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// ErrInvalidFilter is returned for a filter whose range ends before it starts.
var ErrInvalidFilter = errors.New("usage: invalid filter")

// ErrArchived: the filter's dates reach into months of ledger events moved
// to the archive (ledger.Archive), whose charges are not at hand until
// staff restore them (`credits ledger restore`). It wraps
// ledger.ErrArchived too.
var ErrArchived = errors.New("usage: dates archived")

// CheckDates refuses a filter starting before the end of the archived
// months (ErrArchived): its page would show their charges as missing, not
// as archived. Errors: ErrArchived, database errors.
func (s *Store) CheckDates(ctx context.Context, f Filter) error {
	until, err := ledger.ArchivedUntil(ctx, s.read(ctx))
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	if !f.From.IsZero() && f.From.Before(until) {
		return fmt.Errorf("%w: %w: usage from %s: the events before %s are in the archive", ErrArchived, ledger.ErrArchived,
			f.From.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return nil
}

// Scope is whose usage a query may read: the pool's, or one account's rows
// within the pool (a sub-account, or an enterprise narrowing to one of its
// departments).
type Scope struct {
	PoolID int64
	// AccountID limits the rows to one account of the pool; 0 means the
	// whole pool.
	AccountID int64
}

// Filter narrows the charges; zero fields do not filter. From and To are
// instants on Asia/Shanghai day boundaries (From inclusive, To exclusive);
// Day makes them.
type Filter struct {
	From, To  time.Time
	Model     string
	SessionID string
}

// Day returns midnight of the Asia/Shanghai calendar day of t.
func Day(t time.Time) time.Time {
	y, m, d := t.In(format.Shanghai).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, format.Shanghai)
}

// Part is what one bucket (lot kind) paid of a charge.
type Part struct {
	Kind   string // paid, promo, plan, grace
	Amount decimal.Decimal
}

// Detail is the usage detail the gateway records with each charge.
type Detail struct {
	InputTokens     int64  `json:"input_tokens"`
	OutputTokens    int64  `json:"output_tokens"`
	CacheHitTokens  int64  `json:"cache_hit_tokens"`
	Requests        int64  `json:"requests"`
	RateCardVersion any    `json:"rate_card_version"`
	Outcome         string `json:"outcome"`
}

// Charge is one usage operation: what a model call (or a batch of calls)
// cost and which buckets paid. A free model's call is a Charge too, of zero
// credits and no buckets, with OpID 0 and FreeCallID set.
type Charge struct {
	OpID int64
	// FreeCallID is the gateway's record of a free model's call (0 for a
	// ledger charge).
	FreeCallID int64
	// Quota marks a free-call row as a call paid by the plan's quota.
	Quota     bool
	AccountID int64
	Model     string
	SessionID string
	RequestID string
	// Project and Key are the labels the gateway sent with the call.
	Project    string
	Key        string
	OccurredAt time.Time
	// Charged is what the lots paid; Unpaid what they could not (recorded
	// for finance, never a negative balance).
	Charged decimal.Decimal
	Unpaid  decimal.Decimal
	// Parts splits Charged by bucket, in the order the ledger spent them.
	Parts  []Part
	Detail Detail
	// firstID is the smallest event id of the operation, or the free
	// call's id (the page cursor).
	firstID int64
}

// RateCard is the rate-card version as text ("" when the charge has none).
func (c Charge) RateCard() string {
	switch v := c.Detail.RateCardVersion.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return decimal.NewFromFloat(v).String()
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// DayModel is one day's usage of one model.
type DayModel struct {
	Day   string // 2006-01-02, Asia/Shanghai
	Model string
	Totals
}

// Totals sums a filter's usage (or one day's of one model).
type Totals struct {
	Charges        int64
	Charged        decimal.Decimal
	Unpaid         decimal.Decimal
	InputTokens    int64
	OutputTokens   int64
	CacheHitTokens int64
	Requests       int64
}

// add adds o to t.
func (t *Totals) add(o Totals) {
	t.Charges += o.Charges
	t.Charged = t.Charged.Add(o.Charged)
	t.Unpaid = t.Unpaid.Add(o.Unpaid)
	t.InputTokens += o.InputTokens
	t.OutputTokens += o.OutputTokens
	t.CacheHitTokens += o.CacheHitTokens
	t.Requests += o.Requests
}

// Summary is the daily spend by model of a filter, and its totals.
type Summary struct {
	Days   []DayModel // by day, then model
	Totals Totals
}

// Store reads usage. It is safe for concurrent use.
type Store struct {
	pool db.Querier
	// RefreshAfter is how many unfolded usage rows a read tolerates before
	// it folds them into the rollup first (default 2,000).
	RefreshAfter int
	// Reader, when set, sends the reads of a request pinned to the standby
	// there (portal pages and CSV: usage history is what the standby is
	// for); the fold (Refresh) always writes on the primary.
	Reader *db.Reader
}

// New returns a Store over pool.
func New(pool db.Querier) *Store { return &Store{pool: pool, RefreshAfter: 2000} }

// read is where this request's reads go (db.Reader.For).
func (s *Store) read(ctx context.Context) db.DBTX { return s.Reader.Or(ctx, s.pool) }

// usageTypes are the event types that make up a charge.
const usageTypes = `('deduction', 'unpaid_usage', 'reservation_expired_charge')`

// MaxPage is the most charges one List call returns.
const MaxPage = 200

// sqlList reads, in one round trip, up to $8 usage events below the
// position ($11 occurred, $3 id) and up to $9 committed free calls below
// ($12 occurred, $10 id) (each id 0: from the newest), the events first,
// each part newest first by when the call happened (occurred_at; the id
// breaks ties, and keeps an operation's rows together).
const sqlList = `
SELECT * FROM ((
SELECT e.id, e.op_id, e.account_id, e.type::text AS type, e.amount, e.unpaid, e.model, e.session_id, e.request_id,
       e.detail, e.occurred_at, coalesce(l.kind::text, '') AS kind, e.project, e.key_label
FROM ledger_event_view e
LEFT JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id
WHERE e.pool_id = $1 AND e.type IN ` + usageTypes + `
  AND ($2::bigint = 0 OR e.account_id = $2)
  AND ($3::bigint = 0 OR (e.occurred_at, e.id) < ($11::timestamptz, $3))
  AND ($4::timestamptz IS NULL OR e.occurred_at >= $4)
  AND ($5::timestamptz IS NULL OR e.occurred_at < $5)
  AND ($6::text = '' OR e.model = $6)
  AND ($7::text = '' OR e.session_id = $7)
ORDER BY e.occurred_at DESC, e.id DESC
LIMIT $8
) UNION ALL (` + sqlFreeRows + `)) u
ORDER BY u.type = '` + freeType + `', u.occurred_at DESC, u.id DESC`

func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func checkFilter(f Filter) error {
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return ErrInvalidFilter
	}
	return nil
}

// List returns up to limit charges of the scope matching f, the ledger's
// charges and the free models' calls merged newest first by when the call
// happened (OccurredAt): a usage event reported late sits among the calls
// of its time, not at the top. Pass the returned cursor to get the next page
// (the zero Cursor for the first; a returned zero Cursor means there are no
// more). Errors: ErrInvalidFilter.
func (s *Store) List(ctx context.Context, sc Scope, f Filter, cur Cursor, limit int) ([]Charge, Cursor, error) {
	if err := checkFilter(f); err != nil {
		return nil, Cursor{}, err
	}
	if limit <= 0 || limit > MaxPage {
		limit = 50
	}
	var charges, free []Charge
	chunk := limit*3 + 8
	eventsDone := cur.Event < 0
	if eventsDone {
		chunk = 0
	}
	freeLimit := limit + 1 // one more proves there is more
	if cur.Free < 0 {
		freeLimit = 0
	}
	cursor, cursorAt, eventsMore, freeMore := max(cur.Event, 0), cur.EventAt, false, false
	for {
		rows, err := s.read(ctx).Query(ctx, sqlList, sc.PoolID, sc.AccountID, cursor, timeArg(f.From), timeArg(f.To), f.Model, f.SessionID,
			chunk, freeLimit, max(cur.Free, 0), cursorAt.UTC(), cur.FreeAt.UTC())
		if err != nil {
			return nil, Cursor{}, fmt.Errorf("usage: list: %w", err)
		}
		n, err := scanCharges(rows, &charges, &free)
		if err != nil {
			return nil, Cursor{}, fmt.Errorf("usage: list: %w", err)
		}
		if freeLimit > 0 { // the free calls are read once
			freeMore, freeLimit = len(free) > limit, 0
			free = free[:min(len(free), limit)]
		}
		if eventsDone {
			break
		}
		if len(charges) > limit {
			// The op after the page proves there is more; the page ends
			// with a complete op.
			charges, eventsMore = charges[:limit], true
			break
		}
		if n < chunk {
			break
		}
		// The chunk ended inside the history: continue below the smallest
		// id read; rows of a partly read op merge into it.
		last := charges[len(charges)-1]
		cursor, cursorAt = last.firstID, last.OccurredAt
	}
	page, i, j := mergeByTime(charges, free, limit)
	next := cur
	switch {
	case eventsDone || (i == len(charges) && !eventsMore):
		next.Event = -1
	case i > 0:
		next.Event, next.EventAt = charges[i-1].firstID, charges[i-1].OccurredAt
	}
	switch {
	case cur.Free < 0 || (j == len(free) && !freeMore):
		next.Free = -1
	case j > 0:
		next.Free, next.FreeAt = free[j-1].firstID, free[j-1].OccurredAt
	}
	if next.Event < 0 && next.Free < 0 {
		next = Cursor{}
	}
	return mergeAll(page), next, nil
}

// mergeByTime merges up to limit charges and free calls, newest first (a
// charge before a free call of the same instant), and returns how many of
// each it took.
func mergeByTime(charges, free []Charge, limit int) ([]Charge, int, int) {
	page := make([]Charge, 0, min(limit, len(charges)+len(free)))
	i, j := 0, 0
	for len(page) < limit && (i < len(charges) || j < len(free)) {
		if j == len(free) || (i < len(charges) && !charges[i].OccurredAt.Before(free[j].OccurredAt)) {
			page = append(page, charges[i])
			i++
		} else {
			page = append(page, free[j])
			j++
		}
	}
	return page, i, j
}

// scanCharges reads sqlList's rows: event rows (newest first), merging
// consecutive rows of one op into a Charge and continuing the last Charge
// of out when the rows go on with its op, and free calls, one Charge each,
// into free. It returns how many event rows it read.
func scanCharges(rows pgx.Rows, out, free *[]Charge) (int, error) {
	defer rows.Close()
	count := 0
	for rows.Next() {
		var (
			id, op, account       int64
			typ, model, sess, req string
			amount, unpaid        decimal.Decimal
			detail                []byte
			occurred              time.Time
			kind, project, label  string
		)
		if err := rows.Scan(&id, &op, &account, &typ, &amount, &unpaid, &model, &sess, &req, &detail, &occurred, &kind, &project, &label); err != nil {
			return count, err
		}
		if typ == freeType {
			c := Charge{FreeCallID: id, Quota: kind == "quota", AccountID: account, Model: model, SessionID: sess, RequestID: req,
				OccurredAt: occurred.UTC(), firstID: id}
			_ = json.Unmarshal(detail, &c.Detail)
			*free = append(*free, c)
			continue
		}
		count++
		n := len(*out)
		if n == 0 || (*out)[n-1].OpID != op {
			c := Charge{OpID: op, AccountID: account, Model: model, SessionID: sess, RequestID: req, Project: project, Key: label,
				OccurredAt: occurred.UTC()}
			if len(detail) > 0 {
				_ = json.Unmarshal(detail, &c.Detail) // a malformed detail still shows the amount
			}
			*out = append(*out, c)
			n++
		}
		c := &(*out)[n-1]
		c.firstID = id
		if typ == "unpaid_usage" {
			c.Unpaid = c.Unpaid.Add(unpaid)
			continue
		}
		paid := amount.Neg()
		c.Charged = c.Charged.Add(paid)
		// Rows come newest first; the ledger spent the oldest row's lot first.
		c.Parts = append([]Part{{Kind: kind, Amount: paid}}, c.Parts...)
	}
	return count, rows.Err()
}

func mergeAll(cs []Charge) []Charge {
	for i := range cs {
		cs[i].Parts = mergeParts(cs[i].Parts)
	}
	return cs
}

// mergeParts adds up parts of the same kind, keeping the first-spent order.
func mergeParts(ps []Part) []Part {
	var out []Part
	for _, p := range ps {
		found := false
		for i := range out {
			if out[i].Kind == p.Kind {
				out[i].Amount = out[i].Amount.Add(p.Amount)
				found = true
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

// Export calls fn for every charge of the scope matching f, newest first,
// reading the history in pages so that memory stays flat.
// Errors: ErrInvalidFilter, and fn's error.
func (s *Store) Export(ctx context.Context, sc Scope, f Filter, fn func(Charge) error) error {
	var cursor Cursor
	for {
		page, next, err := s.List(ctx, sc, f, cursor, MaxPage)
		if err != nil {
			return err
		}
		for _, c := range page {
			if err := fn(c); err != nil {
				return err
			}
		}
		if next.IsZero() {
			return nil
		}
		cursor = next
	}
}

// opsAgg aggregates usage ops of one pool by account, Shanghai day and model:
// events with id in ($2, $3] ($3 = 0: no upper bound), optionally of one
// session ($4). Tokens and requests come from the op's first row, so an op
// paid from several lots counts its tokens once.
const opsAgg = opsAggHead + `$2` + opsAggTail

// opsAggAfterMark is opsAgg over the events after the pool's rollup mark as
// the same statement sees it (and after $2), so that a fold committing
// between a caller's reads can never count an event twice.
// $2 (the mark the caller read just before) stays a plain parameter so
// that the planner sees how few events are left and walks the primary key.
const opsAggAfterMark = opsAggHead +
	`$2 AND e.id > (SELECT coalesce((SELECT last_event_id FROM usage_rollup_marks WHERE pool_id = $1), 0))` + opsAggTail

// sqlEventAt2 is the at of the pool's event $2 (-infinity for 0): the
// ledger's key is (pool_id, at, id) and at grows with id within a pool, so
// "at ≥ it" bounds "id > $2" on the key and leaves older partitions out.
const sqlEventAt2 = `coalesce((SELECT c.at FROM ledger_event_view c WHERE c.pool_id = $1 AND c.id = $2), '-infinity')`

const opsAggHead = `
WITH ops AS (
    SELECT e.op_id, min(e.account_id) AS account_id, min(e.model) AS model, min(e.occurred_at) AS occurred_at,
           coalesce(-sum(e.amount) FILTER (WHERE e.type <> 'unpaid_usage'), 0) AS charged,
           sum(e.unpaid) AS unpaid,
           (array_agg(e.detail ORDER BY e.id))[1] AS detail
    FROM ledger_event_view e
    WHERE e.pool_id = $1 AND e.at >= ` + sqlEventAt2 + ` AND e.id > `
const opsAggTail = ` AND ($3::bigint = 0 OR e.id <= $3)
      AND e.type IN ` + usageTypes + `
      AND ($4::text = '' OR e.session_id = $4)
    GROUP BY e.op_id)
SELECT account_id, (occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS day, model,
       count(*) AS charges, sum(charged) AS charged, sum(unpaid) AS unpaid,
       sum(coalesce((detail->>'input_tokens')::bigint, 0)) AS input_tokens,
       sum(coalesce((detail->>'output_tokens')::bigint, 0)) AS output_tokens,
       sum(coalesce((detail->>'cache_hit_tokens')::bigint, 0)) AS cache_hit_tokens,
       sum(coalesce((detail->>'requests')::bigint, 1)) AS requests
FROM ops GROUP BY 1, 2, 3`

const sqlFold = `
INSERT INTO usage_daily AS d (pool_id, account_id, day, model, charges, charged, unpaid,
                              input_tokens, output_tokens, cache_hit_tokens, requests)
SELECT $1, a.* FROM (` + opsAgg + `) a
ON CONFLICT (pool_id, day, account_id, model) DO UPDATE SET
    charges = d.charges + excluded.charges,
    charged = d.charged + excluded.charged,
    unpaid = d.unpaid + excluded.unpaid,
    input_tokens = d.input_tokens + excluded.input_tokens,
    output_tokens = d.output_tokens + excluded.output_tokens,
    cache_hit_tokens = d.cache_hit_tokens + excluded.cache_hit_tokens,
    requests = d.requests + excluded.requests`

// Refresh folds the pool's events recorded since the last refresh into the
// daily rollup. Concurrent refreshes of one pool wait for each other; each
// event is folded exactly once. A periodic job or the reads themselves
// (when many rows are pending) call it.
func (s *Store) Refresh(ctx context.Context, poolID int64) error {
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO usage_rollup_marks (pool_id, last_event_id) VALUES ($1, 0) ON CONFLICT DO NOTHING`, poolID); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRow(ctx, `SELECT last_event_id FROM usage_rollup_marks WHERE pool_id = $1 FOR UPDATE`, poolID).Scan(&last); err != nil {
			return err
		}
		// Within a pool, events commit in id order (the ledger writes under
		// the pool's row lock), so everything up to hi is committed.
		hi, err := ledger.Head(ctx, tx, poolID)
		if err != nil {
			return err
		}
		if hi <= last {
			return nil
		}
		if _, err := tx.Exec(ctx, sqlFold, poolID, last, hi, ""); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE usage_rollup_marks SET last_event_id = $2 WHERE pool_id = $1`, poolID, hi)
		return err
	})
	if err != nil {
		return fmt.Errorf("usage: refresh: %w", err)
	}
	return nil
}

// sqlMark reads the pool's last folded event id and how many events came
// after it (counting at most $2), in one round trip. The planner cannot
// know m.last, so the bound on at (the mark's event's, found by id) and
// ORDER BY at, id are what keep it on the primary key (pool_id, at, id)
// (without them, it reads the pool's whole history).
const sqlMark = `
SELECT m.last, (SELECT count(*) FROM (SELECT 1 FROM ledger_event_view
                                      WHERE pool_id = $1 AND id > m.last
                                        AND at >= coalesce((SELECT c.at FROM ledger_event_view c WHERE c.pool_id = $1 AND c.id = m.last), '-infinity')
                                      ORDER BY at, id LIMIT $2) p)
FROM (SELECT coalesce((SELECT last_event_id FROM usage_rollup_marks WHERE pool_id = $1), 0) AS last) m`

// mark returns the last folded event id of the pool, first folding pending
// rows when there are more than RefreshAfter of them. A fold that finds no
// primary (a failover: the page is read from the standby) is skipped: the
// read then sums the pending rows themselves, slower but the same answer.
func (s *Store) mark(ctx context.Context, poolID int64) (int64, error) {
	var last int64
	for range 2 {
		var n int
		if err := s.read(ctx).QueryRow(ctx, sqlMark, poolID, s.RefreshAfter+1).Scan(&last, &n); err != nil {
			return 0, err
		}
		if n <= s.RefreshAfter {
			return last, nil
		}
		if err := s.Refresh(ctx, poolID); err != nil {
			if db.Unavailable(ctx, err) {
				return last, nil
			}
			return 0, err
		}
	}
	return last, nil
}

// Head returns the id of the pool's newest ledger event (0 when it has
// none). Events are append-only and a pool's committed events are always a
// prefix of its ids, so every read of the pool's balance or events is a
// function of Head (and, for balances, of the clock): callers use it as the
// version of what they cache. Usage also has free models' calls, which are
// not ledger events: its reads are a function of Version. One probe at the
// end of the primary key.
func (s *Store) Head(ctx context.Context, poolID int64) (int64, error) {
	head, err := ledger.Head(ctx, s.read(ctx), poolID)
	if err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	return head, nil
}

const sqlSummary = `
SELECT to_char(day, 'YYYY-MM-DD'), model, sum(charges)::bigint, sum(charged), sum(unpaid),
       sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cache_hit_tokens)::bigint, sum(requests)::bigint
FROM (
    SELECT account_id, day, model, charges, charged, unpaid, input_tokens, output_tokens, cache_hit_tokens, requests
    FROM usage_daily
    WHERE pool_id = $1 AND ($5::date IS NULL OR day >= $5) AND ($6::date IS NULL OR day < $6)
    UNION ALL
    SELECT * FROM (` + opsAggAfterMark + `) delta
    UNION ALL
    SELECT * FROM (` + sqlFreeAgg + `) free
) x
WHERE ($5::date IS NULL OR day >= $5) AND ($6::date IS NULL OR day < $6)
  AND ($7::bigint = 0 OR account_id = $7) AND ($8::text = '' OR model = $8)
GROUP BY day, model
ORDER BY day, model`

// sqlSessionSummary sums one session's charges straight from the events
// (a session is short; the rollup does not keep sessions), and its free calls.
const sqlSessionSummary = `
SELECT to_char(day, 'YYYY-MM-DD'), model, sum(charges)::bigint, sum(charged), sum(unpaid),
       sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cache_hit_tokens)::bigint, sum(requests)::bigint
FROM ((` + opsAgg + `) UNION ALL (` + sqlFreeAgg + `)) x
WHERE ($5::date IS NULL OR day >= $5) AND ($6::date IS NULL OR day < $6)
  AND ($7::bigint = 0 OR account_id = $7) AND ($8::text = '' OR model = $8)
GROUP BY day, model
ORDER BY day, model`

func dayArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.In(format.Shanghai).Format("2006-01-02")
}

// Summarize returns the daily spend by model of the scope matching f and its
// totals. Days are Asia/Shanghai days. Free models' calls count as calls
// and tokens, not as charges. Errors: ErrInvalidFilter.
func (s *Store) Summarize(ctx context.Context, sc Scope, f Filter) (Summary, error) {
	if err := checkFilter(f); err != nil {
		return Summary{}, err
	}
	var rows pgx.Rows
	var err error
	if f.SessionID != "" {
		rows, err = s.read(ctx).Query(ctx, sqlSessionSummary, sc.PoolID, 0, 0, f.SessionID, dayArg(f.From), dayArg(f.To), sc.AccountID, f.Model)
	} else {
		var last int64
		if last, err = s.mark(ctx, sc.PoolID); err != nil {
			return Summary{}, fmt.Errorf("usage: summarize: %w", err)
		}
		rows, err = s.read(ctx).Query(ctx, sqlSummary, sc.PoolID, last, 0, "", dayArg(f.From), dayArg(f.To), sc.AccountID, f.Model)
	}
	if err != nil {
		return Summary{}, fmt.Errorf("usage: summarize: %w", err)
	}
	days, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DayModel, error) {
		var d DayModel
		err := r.Scan(&d.Day, &d.Model, &d.Charges, &d.Charged, &d.Unpaid, &d.InputTokens, &d.OutputTokens, &d.CacheHitTokens, &d.Requests)
		return d, err
	})
	if err != nil {
		return Summary{}, fmt.Errorf("usage: summarize: %w", err)
	}
	sum := Summary{Days: days}
	for _, d := range days {
		sum.Totals.add(d.Totals)
	}
	return sum, nil
}

// Models lists the models the scope has used (free models included), for
// the usage filter. Like Summarize it reads the rollup and the events after
// the rollup's mark in one statement, so they agree even when a fold
// commits meanwhile.
func (s *Store) Models(ctx context.Context, sc Scope) ([]string, error) {
	last, err := s.mark(ctx, sc.PoolID)
	if err != nil {
		return nil, fmt.Errorf("usage: models: %w", err)
	}
	// $3 (the mark just read) lets the planner see how few events are left.
	const q = `
SELECT DISTINCT model FROM usage_daily WHERE pool_id = $1 AND ($2::bigint = 0 OR account_id = $2)
UNION
SELECT DISTINCT model FROM ledger_event_view
WHERE pool_id = $1 AND id > $3 AND at >= coalesce((SELECT c.at FROM ledger_event_view c WHERE c.pool_id = $1 AND c.id = $3), '-infinity')
  AND id > (SELECT coalesce((SELECT last_event_id FROM usage_rollup_marks WHERE pool_id = $1), 0))
  AND type IN ` + usageTypes + ` AND ($2::bigint = 0 OR account_id = $2)
UNION
SELECT DISTINCT model FROM gateway_usage_calls
WHERE pool_id = $1 AND state = 'committed' AND ($2::bigint = 0 OR account_id = $2)
ORDER BY 1`
	rows, _ := s.read(ctx).Query(ctx, q, sc.PoolID, sc.AccountID, last)
	models, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("usage: models: %w", err)
	}
	return models, nil
}
