package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Invariant names one rule of the ledger that Verify checks.
type Invariant string

// The invariants Verify checks, in the order it reports them for a pool.
// Amounts are signed changes of the pool's credit outside holds: a
// reservation event takes the hold out of its lot (negative), a
// reservation_release puts it back, so lot remainders and the pool balance
// never include held credit. A transfer event is the exception: it moves
// allocation between two accounts of an enterprise, not credit in or out
// of the pool, so it counts as 0 for the balance.
const (
	// InvariantChain: in id order, each event's balance_after is the pool's
	// previous event's balance_after (0 before the first) plus its amount.
	InvariantChain Invariant = "event chain"
	// InvariantBalanceEvents: a pool's balance is the sum of its events'
	// amounts.
	InvariantBalanceEvents Invariant = "balance = events"
	// InvariantBalanceLast: a pool's balance is its last event's
	// balance_after (0 without events).
	InvariantBalanceLast Invariant = "balance = last balance_after"
	// InvariantBalanceLots: a pool's balance is the sum of its lots'
	// remainders.
	InvariantBalanceLots Invariant = "balance = lots"
	// InvariantReserved: a pool's reserved is the sum of its open
	// reservations' amounts.
	InvariantReserved Invariant = "reserved = open reservations"
	// InvariantLotRemaining: a lot's remaining is the sum of the amounts of
	// the events on that lot.
	InvariantLotRemaining Invariant = "lot remaining"
	// InvariantHolds: a reservation's holds add up to its amount.
	InvariantHolds Invariant = "holds"
	// InvariantHeldLot: every lot a reservation holds is a lot of its pool.
	InvariantHeldLot Invariant = "held lot"
	// InvariantTransfer: the two events of a transfer cancel out.
	InvariantTransfer Invariant = "transfer"
	// InvariantCreditLine: a credit line's lot (LotCredit) holds the line
	// its credit_line events set, and never more unused than its line.
	InvariantCreditLine Invariant = "credit line"
)

// Mismatch is one broken invariant: the pool, the rule, the row it is
// about, the value stored and the value the rule derives from other rows.
type Mismatch struct {
	PoolID    int64
	Invariant Invariant
	// ID is the row the invariant is about: the event (event chain), the
	// lot (lot remaining), the reservation (holds, held lot) or the
	// operation (transfer); 0 for the pool's own running state.
	ID int64
	// LotID is the lot a hold names (held lot only).
	LotID   int64
	Stored  decimal.Decimal
	Derived decimal.Decimal
}

func (m Mismatch) String() string {
	p := fmt.Sprintf("pool %d: %s: ", m.PoolID, m.Invariant)
	switch m.Invariant {
	case InvariantChain:
		return p + fmt.Sprintf("event %d has balance_after %s, the previous balance_after plus its amount is %s", m.ID, m.Stored, m.Derived)
	case InvariantBalanceEvents:
		return p + fmt.Sprintf("balance %s, its events add up to %s", m.Stored, m.Derived)
	case InvariantBalanceLast:
		return p + fmt.Sprintf("balance %s, its last event's balance_after is %s", m.Stored, m.Derived)
	case InvariantBalanceLots:
		return p + fmt.Sprintf("balance %s, its lots' remainders add up to %s", m.Stored, m.Derived)
	case InvariantReserved:
		return p + fmt.Sprintf("reserved %s, its open reservations add up to %s", m.Stored, m.Derived)
	case InvariantLotRemaining:
		return p + fmt.Sprintf("lot %d has %s remaining, its events add up to %s", m.ID, m.Stored, m.Derived)
	case InvariantHolds:
		return p + fmt.Sprintf("reservation %d is for %s, its holds add up to %s", m.ID, m.Stored, m.Derived)
	case InvariantHeldLot:
		return p + fmt.Sprintf("reservation %d holds %s of lot %d, which is not a lot of this pool", m.ID, m.Stored, m.LotID)
	case InvariantTransfer:
		return p + fmt.Sprintf("the events of operation %d add up to %s, not %s", m.ID, m.Stored, m.Derived)
	case InvariantCreditLine:
		return p + fmt.Sprintf("credit lot %d has a line of %s, its credit_line events (and its unused remaining) say %s", m.ID, m.Stored, m.Derived)
	}
	return p + fmt.Sprintf("row %d: stored %s, derived %s", m.ID, m.Stored, m.Derived)
}

// Each query below is one pass over the rows its invariants are about and
// returns the broken ones as (invariant, pool_id, id, lot_id, stored,
// derived); the invariants' names come in as parameters.
const (
	// sqlVerifyChain walks every pool's events in id order (the primary
	// key's (at, id) order): ids grow in commit order within a pool,
	// because every write holds the pool's row lock until it commits. A
	// pool's first event still in ledger_events follows its checkpoint
	// when months of it are archived (ledger_checkpoints), else zero; the
	// per-pool sums below add the checkpoint's, the per-lot sums the
	// archived lots' (ledger_archived_lots).
	sqlVerifyChain = `
SELECT $1::text, pool_id, id, 0::bigint, balance_after, prev + delta
FROM (SELECT e.pool_id, e.id, e.balance_after,
             CASE WHEN e.type = 'transfer' THEN 0 ELSE e.amount END AS delta,
             coalesce(lag(e.balance_after) OVER (PARTITION BY e.pool_id ORDER BY e.at, e.id), c.balance_after, 0) AS prev
      FROM ledger_events e LEFT JOIN ledger_checkpoints c ON c.pool_id = e.pool_id) e
WHERE balance_after <> prev + delta
ORDER BY pool_id, id`

	// sqlVerifyPools compares each pool's running state with its events,
	// its lots and its open reservations.
	sqlVerifyPools = `
SELECT v.invariant, p.id, 0::bigint, 0::bigint, v.stored, v.derived
FROM (SELECT a.id, a.balance, a.reserved,
             coalesce(e.total, 0) + coalesce(c.total, 0) AS events, coalesce(last.balance_after, c.balance_after, 0) AS last,
             coalesce(l.total, 0) AS lots, coalesce(r.total, 0) AS open
      FROM ledger_accounts a
      LEFT JOIN ledger_checkpoints c ON c.pool_id = a.id
      LEFT JOIN (SELECT pool_id, sum(amount) FILTER (WHERE type <> 'transfer') AS total, max(id) AS last_id
                 FROM ledger_events GROUP BY pool_id) e ON e.pool_id = a.id
      LEFT JOIN ledger_events last ON last.pool_id = e.pool_id AND last.id = e.last_id
      LEFT JOIN (SELECT pool_id, sum(remaining) AS total FROM ledger_lots GROUP BY pool_id) l ON l.pool_id = a.id
      LEFT JOIN (SELECT pool_id, sum(amount) AS total FROM ledger_reservations WHERE status = 'open'
                 GROUP BY pool_id) r ON r.pool_id = a.id
      WHERE a.id = a.pool_id) p
CROSS JOIN LATERAL (VALUES ($1::text, p.balance, p.events), ($2::text, p.balance, p.last),
                           ($3::text, p.balance, p.lots), ($4::text, p.reserved, p.open)) v(invariant, stored, derived)
WHERE v.stored <> v.derived
ORDER BY p.id`

	sqlVerifyLots = `
SELECT $1::text, l.pool_id, l.id, 0::bigint, l.remaining, coalesce(e.total, 0) + coalesce(x.total, 0)
FROM ledger_lots l
LEFT JOIN (SELECT pool_id, lot_id, sum(amount) AS total FROM ledger_events WHERE lot_id IS NOT NULL
           GROUP BY pool_id, lot_id) e ON e.pool_id = l.pool_id AND e.lot_id = l.id
LEFT JOIN ledger_archived_lots x ON x.pool_id = l.pool_id AND x.lot_id = l.id
WHERE l.remaining <> coalesce(e.total, 0) + coalesce(x.total, 0)
ORDER BY l.pool_id, l.id`

	sqlVerifyHolds = `
SELECT $1::text, r.pool_id, r.id, 0::bigint, r.amount, h.total
FROM ledger_reservations r
CROSS JOIN LATERAL (SELECT coalesce(sum((x->>'amount')::numeric), 0) AS total
                    FROM jsonb_array_elements(r.holds) x) h
WHERE r.amount <> h.total
ORDER BY r.pool_id, r.id`

	sqlVerifyHeldLots = `
SELECT $1::text, r.pool_id, r.id, coalesce((x->>'lot')::bigint, 0), coalesce((x->>'amount')::numeric, 0), 0::numeric
FROM ledger_reservations r
CROSS JOIN LATERAL jsonb_array_elements(r.holds) x
WHERE NOT EXISTS (SELECT 1 FROM ledger_lots l WHERE l.pool_id = r.pool_id AND l.id = (x->>'lot')::bigint)
ORDER BY r.pool_id, r.id`

	sqlVerifyTransfers = `
SELECT $1::text, pool_id, op_id, 0::bigint, sum(amount), 0::numeric
FROM ledger_events
WHERE type = 'transfer'
GROUP BY pool_id, op_id
HAVING sum(amount) <> 0
ORDER BY pool_id, op_id`

	// sqlVerifyCreditLines: a credit lot's amount is the sum of its
	// credit_line events, and its remaining (the unused line) is at most
	// its amount.
	sqlVerifyCreditLines = `
SELECT $1::text, l.pool_id, l.id, 0::bigint, l.amount,
       CASE WHEN l.remaining > l.amount THEN l.remaining ELSE coalesce(e.total, 0) + coalesce(x.credit_line, 0) END
FROM ledger_lots l
LEFT JOIN (SELECT pool_id, lot_id, sum(amount) AS total FROM ledger_events WHERE type = 'credit_line'
           GROUP BY pool_id, lot_id) e ON e.pool_id = l.pool_id AND e.lot_id = l.id
LEFT JOIN ledger_archived_lots x ON x.pool_id = l.pool_id AND x.lot_id = l.id
WHERE l.kind = 'credit' AND (l.amount <> coalesce(e.total, 0) + coalesce(x.credit_line, 0) OR l.remaining > l.amount)
ORDER BY l.pool_id, l.id`
)

var verifyChecks = []struct {
	sql        string
	invariants []any
}{
	{sqlVerifyChain, []any{InvariantChain}},
	{sqlVerifyPools, []any{InvariantBalanceEvents, InvariantBalanceLast, InvariantBalanceLots, InvariantReserved}},
	{sqlVerifyLots, []any{InvariantLotRemaining}},
	{sqlVerifyHolds, []any{InvariantHolds}},
	{sqlVerifyHeldLots, []any{InvariantHeldLot}},
	{sqlVerifyTransfers, []any{InvariantTransfer}},
	{sqlVerifyCreditLines, []any{InvariantCreditLine}},
}

// Verify checks every invariant above on every pool, each in one pass in
// SQL, all in one read-only snapshot (so it may run while the ledger is
// written), and returns the mismatches grouped by pool: none on a healthy
// ledger. Errors: only a failure to read the database.
func (l *Ledger) Verify(ctx context.Context) ([]Mismatch, error) {
	var out []Mismatch
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, c := range verifyChecks {
			rows, _ := tx.Query(ctx, c.sql, c.invariants...)
			ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mismatch, error) {
				var m Mismatch
				err := r.Scan(&m.Invariant, &m.PoolID, &m.ID, &m.LotID, &m.Stored, &m.Derived)
				return m, err
			})
			if err != nil {
				return err
			}
			out = append(out, ms...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: verify: %w", err)
	}
	slices.SortStableFunc(out, func(a, b Mismatch) int { return cmp.Compare(a.PoolID, b.PoolID) })
	return out, nil
}
