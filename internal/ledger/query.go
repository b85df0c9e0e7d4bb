package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// ExpiryBucket is how much credit expires at one instant.
type ExpiryBucket struct {
	At     time.Time
	Amount decimal.Decimal
}

// Balance is an account's position now.
type Balance struct {
	AccountID int64
	// Available is what the account can spend now (a sub-account: the
	// pool's available capped by its allocation).
	Available decimal.Decimal
	// Reserved is what open reservations hold (a sub-account: its own).
	Reserved decimal.Decimal
	// ByKind splits the pool's available credit by lot kind.
	ByKind map[LotKind]decimal.Decimal
	// Lots are the pool's lots with credit left, in spending order.
	Lots []Lot
	// Expiring is the expiry schedule of the available credit, soonest first.
	Expiring []ExpiryBucket
	// Allocation is a sub-account's remaining allocation (nil = no limit).
	Allocation *decimal.Decimal
	// Line is the pool's credit line (LotCredit's amount; 0 without one)
	// and LineLeft what of it is unused (its remaining, part of
	// Available). See Own.
	Line, LineLeft decimal.Decimal
	// PoolAvailable is the pool's available credit, before a sub-account's
	// allocation caps it (Available for every other account).
	PoolAvailable decimal.Decimal
}

// Own is the balance the account owns: its available credit less the
// credit line, negative while it spends on credit (the debt is shown,
// never hidden). Without a line it is Available. A sub-account's is its
// pool's owned balance capped by its allocation: the line is the
// enterprise's, so an allocation does not hide it.
func (b Balance) Own() decimal.Decimal {
	own := b.PoolAvailable.Sub(b.Line)
	if b.Allocation != nil {
		own = decimal.Min(own, *b.Allocation)
	}
	return own
}

// RunwayCredit is the credit a runway (how long until it runs out) is
// counted on: the owned balance while there is some — an unused credit line
// is not the account's money, so a pool about to spend on its line is
// running out — and, once it spends on its line, what it may still spend
// (then it runs out when the line does). Without a line it is Available.
func (b Balance) RunwayCredit() decimal.Decimal {
	if own := b.Own(); own.IsPositive() || b.Line.IsZero() {
		return own
	}
	return b.Available
}

// LineUsed is what is used of the credit line (consumed and not yet paid
// back, or held).
func (b Balance) LineUsed() decimal.Decimal { return b.Line.Sub(b.LineLeft) }

const lotColumns = `id, pool_id, account_id, kind, amount, remaining, refunded, paid_fen, refunded_fen, expires_at, source_ref, actor, reason_code, created_at`

// Lots returns every lot of the account's pool, oldest first. Errors: ErrNotFound.
func (l *Ledger) Lots(ctx context.Context, accountID int64) ([]Lot, error) {
	pool, err := l.poolOf(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("ledger: lots: %w", err)
	}
	rows, _ := l.pool.Query(ctx, `SELECT `+lotColumns+` FROM ledger_lots WHERE pool_id = $1 ORDER BY id`, pool)
	lots, err := pgx.CollectRows(rows, pgx.RowToStructByName[Lot])
	if err != nil {
		return nil, fmt.Errorf("ledger: lots: %w", err)
	}
	return lots, nil
}

// LotBySourceTx returns, on q (a transaction or the pool), the account's
// own lot credited with sourceRef (a referral reward's
// "referral:<invitee>:<order>"), the newest when several were. Errors:
// ErrNotFound.
func LotBySourceTx(ctx context.Context, q db.DBTX, accountID int64, sourceRef string) (Lot, error) {
	const sql = `SELECT ` + lotColumns + ` FROM ledger_lots
WHERE pool_id = (SELECT pool_id FROM ledger_accounts WHERE id = $1) AND account_id = $1 AND source_ref = $2
ORDER BY id DESC LIMIT 1`
	rows, _ := q.Query(ctx, sql, accountID, sourceRef)
	lot, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Lot])
	if errors.Is(err, pgx.ErrNoRows) {
		return Lot{}, fmt.Errorf("ledger: lot by source: %w", ErrNotFound)
	}
	if err != nil {
		return Lot{}, fmt.Errorf("ledger: lot by source: %w", err)
	}
	return lot, nil
}

// Balance returns the account's available and reserved credit, split by lot
// kind, with its lots and expiry schedule. Errors: ErrNotFound.
func (l *Ledger) Balance(ctx context.Context, accountID int64) (Balance, error) {
	acc, err := l.Account(ctx, accountID)
	if err != nil {
		return Balance{}, fmt.Errorf("ledger: balance: %w", err)
	}
	now := l.now()
	// Lots and open holds are read in one snapshot: read apart, a commit
	// landing between the two reads shows its hold closed while its lots
	// still carry the held credit, a balance that never existed.
	var lots []Lot
	var reserved, line, lineLeft decimal.Decimal
	const sqlLine = `SELECT coalesce(sum(amount), 0), coalesce(sum(remaining), 0) FROM ledger_lots WHERE pool_id = $1 AND kind = 'credit'`
	const sqlReserved = `SELECT coalesce(sum(amount), 0) FROM ledger_reservations WHERE pool_id = $1 AND status = 'open' AND ($2 OR account_id = $3)`
	err = db.ReadTx(ctx, l.latest(ctx), pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+lotColumns+` FROM ledger_lots WHERE pool_id = $1 AND remaining > 0`, acc.PoolID)
		var err error
		if lots, err = pgx.CollectRows(rows, pgx.RowToStructByName[Lot]); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, sqlReserved, acc.PoolID, acc.ID == acc.PoolID, acc.ID).Scan(&reserved); err != nil {
			return err
		}
		return tx.QueryRow(ctx, sqlLine, acc.PoolID).Scan(&line, &lineLeft)
	})
	if err != nil {
		return Balance{}, fmt.Errorf("ledger: balance: %w", err)
	}
	b := Balance{AccountID: accountID, ByKind: map[LotKind]decimal.Decimal{}, Lots: SpendOrder(lots, now)}
	for _, lot := range b.Lots {
		b.Available = b.Available.Add(lot.Remaining)
		b.ByKind[lot.Kind] = b.ByKind[lot.Kind].Add(lot.Remaining)
		if lot.ExpiresAt != nil {
			if n := len(b.Expiring); n > 0 && b.Expiring[n-1].At.Equal(*lot.ExpiresAt) {
				b.Expiring[n-1].Amount = b.Expiring[n-1].Amount.Add(lot.Remaining)
			} else {
				b.Expiring = append(b.Expiring, ExpiryBucket{At: *lot.ExpiresAt, Amount: lot.Remaining})
			}
		}
	}
	b.Reserved = reserved
	b.Line, b.LineLeft = line, lineLeft
	b.PoolAvailable = b.Available
	if acc.Allocation.Valid {
		a := acc.Allocation.Decimal
		b.Allocation = &a
		b.Available = decimal.Min(b.Available, a)
	}
	return b, nil
}

// BalanceAt returns the account's ledger balance (its pool's credit in
// lots, not counting holds) just after the last event recorded at or before
// t; zero before the first. Every event row stores balance_after and the
// ledger time is monotonic per pool, so each row is a checkpoint and this is
// one index probe on (pool_id, at, id), in the partition of t's month (and
// older ones only when the pool had no event since). After months have left
// for the archive (Archive), an instant before the pool's last archived
// event is refused (ErrArchived, naming where the archive ends); from that
// event on, with no later event of the pool before t, the pool's
// checkpoint answers (so a statement's opening balance at the end of the
// archived months still reconciles). A pool with no archived event had
// none before the archive's end. Errors: ErrNotFound, ErrArchived.
func (l *Ledger) BalanceAt(ctx context.Context, accountID int64, t time.Time) (decimal.Decimal, error) {
	pool, err := l.poolOf(ctx, accountID)
	if err != nil {
		return decimal.Zero, fmt.Errorf("ledger: balance at: %w", err)
	}
	const q = `
SELECT CASE WHEN c.last_at > $2 THEN NULL
            ELSE coalesce((SELECT balance_after FROM ledger_events WHERE pool_id = $1 AND at <= $2 ORDER BY at DESC, id DESC LIMIT 1),
                          c.balance_after, 0) END,
       a.until
FROM (SELECT max(to_at) AS until FROM ledger_archives WHERE restored_at IS NULL) a
LEFT JOIN ledger_checkpoints c ON c.pool_id = $1`
	var b decimal.NullDecimal
	var until *time.Time
	if err := l.latest(ctx).QueryRow(ctx, q, pool, t.UTC()).Scan(&b, &until); err != nil {
		return decimal.Zero, fmt.Errorf("ledger: balance at: %w", err)
	}
	if !b.Valid {
		return decimal.Zero, fmt.Errorf("ledger: balance at %s: %w (the events before %s are in the archive)", t.UTC().Format(time.RFC3339), ErrArchived, until.UTC().Format(time.RFC3339))
	}
	return b.Decimal, nil
}

// Event is one immutable ledger row.
type Event struct {
	ID             int64           `db:"id"`
	PoolID         int64           `db:"pool_id"`
	AccountID      int64           `db:"account_id"`
	LotID          *int64          `db:"lot_id"`
	LotKind        *LotKind        `db:"lot_kind"`
	OpID           int64           `db:"op_id"`
	Type           EventType       `db:"type"`
	Amount         decimal.Decimal `db:"amount"`
	BalanceAfter   decimal.Decimal `db:"balance_after"`
	Unpaid         decimal.Decimal `db:"unpaid"`
	ReservationID  *int64          `db:"reservation_id"`
	IdempotencyKey string          `db:"idempotency_key"`
	Actor          string          `db:"actor"`
	ReasonCode     string          `db:"reason_code"`
	SourceRef      string          `db:"source_ref"`
	Model          string          `db:"model"`
	RequestID      string          `db:"request_id"`
	SessionID      string          `db:"session_id"`
	Project        string          `db:"project"`   // the call's project label
	Key            string          `db:"key_label"` // the call's key label
	Detail         json.RawMessage `db:"detail"`
	OccurredAt     time.Time       `db:"occurred_at"`
	At             time.Time       `db:"at"`
	RecordedAt     time.Time       `db:"recorded_at"`
}

// EventFilter narrows Events; zero fields do not filter.
type EventFilter struct {
	Types     []EventType
	From, To  time.Time // on occurred_at: From inclusive, To exclusive
	Model     string
	SessionID string
	OpID      int64
}

// Event listings, newest first. An account that is its own pool (an
// individual, or an enterprise seeing its whole pool) pages backwards
// through the primary key (pool_id, at, id) from the cursor's (at, id) —
// within a pool that is the id order, and the bound on at leaves the newer
// months' partitions out; the cursor's at is found by its id (each
// partition's BRIN). A sub-account pages through ledger_events_sub_idx
// (pool_id, account_id, id) in each partition, whose predicate the query
// repeats so that the planner can use it.
const (
	sqlEventsSelect = `
SELECT e.id, e.pool_id, e.account_id, e.lot_id, l.kind AS lot_kind, e.op_id, e.type, e.amount, e.balance_after,
       e.unpaid, e.reservation_id, e.idempotency_key, e.actor, e.reason_code, e.source_ref, e.model,
       e.request_id, e.session_id, e.project, e.key_label, e.detail, e.occurred_at, e.at, e.recorded_at
FROM ledger_events e
LEFT JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
WHERE e.pool_id = $1`
	// sqlCursorAt is the at of the cursor's event (infinity on the first
	// page, whose cursor names no event).
	sqlCursorAt     = `coalesce((SELECT at FROM ledger_events WHERE pool_id = $1 AND id = $3), 'infinity')`
	sqlEventsFilter = `
  AND ($4::text[] IS NULL OR e.type::text = ANY ($4))
  AND ($5::timestamptz IS NULL OR e.occurred_at >= $5)
  AND ($6::timestamptz IS NULL OR e.occurred_at < $6)
  AND ($7 = '' OR e.model = $7)
  AND ($8 = '' OR e.session_id = $8)
  AND ($9 = 0 OR e.op_id = $9)`
	sqlPoolEvents = sqlEventsSelect + ` AND e.pool_id = $2
  AND (e.at, e.id) < (` + sqlCursorAt + `, $3) AND e.at <= ` + sqlCursorAt + sqlEventsFilter + `
ORDER BY e.at DESC, e.id DESC
LIMIT $10`
	sqlSubAccountEvents = sqlEventsSelect + ` AND e.account_id = $2 AND e.account_id <> e.pool_id
  AND e.id < $3` + sqlEventsFilter + `
ORDER BY e.id DESC
LIMIT $10`
)

// Events lists an account's events newest first, limit at a time: pass the
// returned cursor to get the next page (0 for the first; a returned 0 means
// no more). An enterprise sees its whole pool; a sub-account its own rows.
// Errors: ErrNotFound.
func (l *Ledger) Events(ctx context.Context, accountID int64, f EventFilter, cursor int64, limit int) ([]Event, int64, error) {
	acc, err := l.Account(ctx, accountID)
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: events: %w", err)
	}
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	var types []string
	for _, t := range f.Types {
		types = append(types, string(t))
	}
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	if cursor <= 0 {
		cursor = math.MaxInt64 // the first page; the bounds stay index conditions
	}
	q := sqlPoolEvents
	if acc.ID != acc.PoolID {
		q = sqlSubAccountEvents
	}
	rows, _ := l.latest(ctx).Query(ctx, q, acc.PoolID, acc.ID, cursor, types, from, to, f.Model, f.SessionID, f.OpID, limit+1)
	evs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Event])
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: events: %w", err)
	}
	var next int64
	if len(evs) > limit {
		evs = evs[:limit]
		next = evs[limit-1].ID
	}
	return evs, next, nil
}
