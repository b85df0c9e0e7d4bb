package usage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Zero-credit calls. The ledger refuses zero-amount charges, so the gateway
// records the calls of models billed `free` in gateway_free_calls (one row
// per call: reserved, then committed or released; a usage event is
// committed at once), and a call paid by a plan's quota is its committed
// use in plan_quota_uses. The view gateway_usage_calls (migration 001343)
// reads both; the usage pages show its rows as zero-credit usage: rows of
// List and Export (OpID 0, FreeCallID set — a quota call's is its use's id + 2^62 —,
// no buckets; Charge.Quota set for a quota call), calls and tokens in
// Summarize (no charges, nothing charged) and models in Models, under the
// same scope and filter as the charges.

// freeType is the type List gives a free call's row, next to the ledger's
// usage event types.
const freeType = "free"

// sqlFreeRows is List's branch for free calls: the columns of its ledger
// branch, with the tokens as a usage detail and, for a usage event, its
// idempotency key as the request id (as a charged usage event has). $9 is
// how many to read (0: none), $10 the free-call cursor (0: the newest).
const sqlFreeRows = `
SELECT f.id, 0::bigint AS op_id, f.account_id, '` + freeType + `' AS type, 0::numeric AS amount, 0::numeric AS unpaid,
       f.model, f.session_id,
       CASE WHEN f.idempotency_key LIKE 'usage:%' THEN substr(f.idempotency_key, 7) ELSE '' END AS request_id,
       jsonb_build_object('input_tokens', f.input_tokens, 'output_tokens', f.output_tokens,
                          'cache_hit_tokens', f.cache_hit_tokens, 'requests', f.requests,
                          'rate_card_version', f.rate_card_version, 'outcome', f.outcome) AS detail,
       f.occurred_at, f.paid_by AS kind, ''::text AS project, ''::text AS key_label
FROM gateway_usage_calls f
WHERE f.pool_id = $1 AND f.state = 'committed'
  AND ($2::bigint = 0 OR f.account_id = $2)
  AND ($10::bigint = 0 OR (f.occurred_at, f.id) < ($12::timestamptz, $10))
  AND ($4::timestamptz IS NULL OR f.occurred_at >= $4)
  AND ($5::timestamptz IS NULL OR f.occurred_at < $5)
  AND ($6::text = '' OR f.model = $6)
  AND ($7::text = '' OR f.session_id = $7)
ORDER BY f.occurred_at DESC, f.id DESC
LIMIT $9`

// sqlFreeAgg sums the pool's committed free calls by account, Asia/Shanghai
// day and model, in the columns of usage_daily: calls and tokens, no
// charges and nothing charged. It takes Summarize's parameters: $4 session,
// $5 and $6 the days (from inclusive, to exclusive), $7 account, $8 model.
const sqlFreeAgg = `
SELECT f.account_id, (f.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS day, f.model,
       0::bigint AS charges, 0::numeric AS charged, 0::numeric AS unpaid,
       sum(f.input_tokens)::bigint, sum(f.output_tokens)::bigint, sum(f.cache_hit_tokens)::bigint,
       sum(f.requests)::bigint
FROM gateway_usage_calls f
WHERE f.pool_id = $1 AND f.state = 'committed'
  AND ($4::text = '' OR f.session_id = $4)
  AND ($5::date IS NULL OR f.occurred_at >= ($5::date::timestamp AT TIME ZONE 'Asia/Shanghai'))
  AND ($6::date IS NULL OR f.occurred_at < ($6::date::timestamp AT TIME ZONE 'Asia/Shanghai'))
  AND ($7::bigint = 0 OR f.account_id = $7) AND ($8::text = '' OR f.model = $8)
GROUP BY 1, 2, 3`

// Cursor is where a page of List ends in each of the two histories it
// merges: the pool's usage events and its free calls. The zero Cursor asks
// for the first page; List returns it when there is nothing more.
type Cursor struct {
	// Event and EventAt list the charges below this position: the last
	// one shown's occurrence and its operation's smallest event id (Event
	// 0: from the newest; -1: none left).
	Event   int64
	EventAt time.Time
	// Free and FreeAt list the free calls below this position (Free 0:
	// from the newest; -1: none left).
	Free   int64
	FreeAt time.Time
}

// IsZero reports whether c is the first page's cursor (as List's answer:
// no more pages).
func (c Cursor) IsZero() bool {
	return c.Event == 0 && c.Free == 0 && c.EventAt.IsZero() && c.FreeAt.IsZero()
}

// String is the cursor as a URL parameter
// ("event.free.eventAtMicros.freeAtMicros").
func (c Cursor) String() string {
	return strconv.FormatInt(c.Event, 10) + "." + strconv.FormatInt(c.Free, 10) + "." +
		strconv.FormatInt(micros(c.EventAt), 10) + "." + strconv.FormatInt(micros(c.FreeAt), 10)
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// ParseCursor reads a Cursor.String; "" is the zero Cursor.
// Errors: ErrInvalidFilter.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return Cursor{}, ErrInvalidFilter
	}
	var n [4]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < -1 || (i >= 2 && (v < 0 || v > maxCursorMicros)) {
			return Cursor{}, ErrInvalidFilter
		}
		n[i] = v
	}
	return Cursor{Event: n[0], Free: n[1], EventAt: fromMicros(n[2]), FreeAt: fromMicros(n[3])}, nil
}

// maxCursorMicros bounds a cursor's times (the year 9999).
const maxCursorMicros = 253402300799999999

// Version returns the version of the pool's usage for callers that cache
// what they read: the newest ledger event id (Head) plus the number of
// committed free calls. Both only grow, and every change to what List,
// Summarize or Models answer grows one of them (a new usage event, a new
// free call, or the commit of a free model's reservation, whose row is
// older than the newest), so the sum differs for every state of the pool.
// One round trip, as Head.
func (s *Store) Version(ctx context.Context, poolID int64) (int64, error) {
	const q = `
SELECT coalesce((SELECT id FROM ledger_event_view WHERE pool_id = $1 ORDER BY at DESC, id DESC LIMIT 1), 0)
     + (SELECT count(*) FROM gateway_usage_calls WHERE pool_id = $1 AND state = 'committed')`
	var v int64
	if err := s.read(ctx).QueryRow(ctx, q, poolID).Scan(&v); err != nil {
		return 0, fmt.Errorf("usage: version: %w", err)
	}
	return v, nil
}
