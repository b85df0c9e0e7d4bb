package ledger

// Reads and locks for other packages. The ledger owns its tables: other
// packages read them only through the functions in this file, which run on
// a pool or inside the caller's transaction (db.DBTX), and through the
// views of migration 000920 (ledger_account_view, ledger_lot_view,
// ledger_event_view) where a report joins the ledger with its own tables,
// and, for what archived months left, the checkpoint views of migrations
// 001741 and 001800 (ledger_checkpoints, ledger_archived_lots).
// TestNoLedgerTablesOutside keeps it so.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// AccountByID reads an account on q: on the caller's transaction, it sees
// what that transaction sees. Errors: ErrNotFound.
func AccountByID(ctx context.Context, q db.DBTX, id int64) (Account, error) {
	rows, _ := q.Query(ctx, `SELECT `+accountColumns+` FROM ledger_accounts WHERE id = $1`, id)
	return collectAccount(rows)
}

// PoolBalance returns the ledger balance (the credit in its lots, holds
// included) of the pool that accountID spends from: its own, or its
// enterprise's for a sub-account. Errors: ErrNotFound.
func PoolBalance(ctx context.Context, q db.DBTX, accountID int64) (decimal.Decimal, error) {
	const sql = `SELECT p.balance FROM ledger_accounts a JOIN ledger_accounts p ON p.id = a.pool_id WHERE a.id = $1`
	var b decimal.Decimal
	err := q.QueryRow(ctx, sql, accountID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("ledger: pool balance: %w", ErrNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("ledger: pool balance: %w", err)
	}
	return b, nil
}

// LockPoolTx locks, until tx ends, the pool row of the pool that accountID
// spends from, and returns the pool's id and ledger balance. Every ledger
// write to the pool takes the same lock, so balances read inside tx before
// and after a …Tx operation are exact. Errors: ErrNotFound.
func LockPoolTx(ctx context.Context, tx pgx.Tx, accountID int64) (int64, decimal.Decimal, error) {
	const sql = `
SELECT p.id, p.balance FROM ledger_accounts p
WHERE p.id = (SELECT pool_id FROM ledger_accounts WHERE id = $1)
FOR UPDATE`
	var id int64
	var b decimal.Decimal
	err := tx.QueryRow(ctx, sql, accountID).Scan(&id, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, b, fmt.Errorf("ledger: lock pool: %w", ErrNotFound)
	}
	if err != nil {
		return 0, b, fmt.Errorf("ledger: lock pool: %w", err)
	}
	return id, b, nil
}

// Frozen reports whether the account or its pool (the enterprise of a
// sub-account) is frozen: either way the account cannot spend.
// Errors: ErrNotFound.
func Frozen(ctx context.Context, q db.DBTX, accountID int64) (bool, error) {
	const sql = `SELECT a.status = 'frozen' OR p.status = 'frozen'
FROM ledger_accounts a JOIN ledger_accounts p ON p.id = a.pool_id WHERE a.id = $1`
	var frozen bool
	err := q.QueryRow(ctx, sql, accountID).Scan(&frozen)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("ledger: frozen: %w", ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("ledger: frozen: %w", err)
	}
	return frozen, nil
}

// Head returns the id of the pool's newest event, 0 when it has none. A
// pool's events are written under its row lock, so its committed events
// are always a prefix of its ids: Head versions everything the ledger
// answers about the pool. One probe at the end of the primary key
// (pool_id, at, id), in the newest partition holding the pool's events.
func Head(ctx context.Context, q db.DBTX, poolID int64) (int64, error) {
	const sql = `SELECT coalesce((SELECT id FROM ledger_events WHERE pool_id = $1 ORDER BY at DESC, id DESC LIMIT 1), 0)`
	var head int64
	if err := q.QueryRow(ctx, sql, poolID).Scan(&head); err != nil {
		return 0, fmt.Errorf("ledger: head: %w", err)
	}
	return head, nil
}

// ArchivedUntil returns the end of the months of events that left for the
// archive (Archive) and were not restored: the events of every pool before
// it are read only through the checkpoints (the views
// ledger_checkpoints and ledger_archived_lots). Zero when no month is
// archived. Errors: database errors.
func ArchivedUntil(ctx context.Context, q db.DBTX) (time.Time, error) {
	var until *time.Time
	if err := q.QueryRow(ctx, `SELECT max(to_at) FROM ledger_archives WHERE restored_at IS NULL`).Scan(&until); err != nil {
		return time.Time{}, fmt.Errorf("ledger: archived until: %w", err)
	}
	if until == nil {
		return time.Time{}, nil
	}
	return until.UTC(), nil
}

// PoolArchivedThrough returns when the pool's last event in the archive
// was recorded (its checkpoint, ledger_checkpoints.last_at); zero when
// none of its events is archived. Every event of the pool after it is
// live, so a period that starts after it reads the pool exactly (its
// opening from the checkpoint), even before the archive's end
// (ArchivedUntil). Errors: database errors.
func PoolArchivedThrough(ctx context.Context, q db.DBTX, poolID int64) (time.Time, error) {
	var last *time.Time
	if err := q.QueryRow(ctx, `SELECT max(last_at) FROM ledger_checkpoints WHERE pool_id = $1`, poolID).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("ledger: pool archived through: %w", err)
	}
	if last == nil {
		return time.Time{}, nil
	}
	return last.UTC(), nil
}

// LastEventID returns the id of the newest event of any pool, 0 when there
// is none: where an outbox reader over every pool starts.
func LastEventID(ctx context.Context, q db.DBTX) (int64, error) {
	var id int64
	if err := q.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM ledger_events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("ledger: last event: %w", err)
	}
	return id, nil
}

// FeedEvent is one event as an outbox reader over every pool sees it.
type FeedEvent struct {
	ID           int64
	PoolID       int64
	Type         EventType
	Amount       decimal.Decimal
	BalanceAfter decimal.Decimal
	// OwnAfter is the balance the pool owned after the event: BalanceAfter
	// less its credit line at that event (Balance.Own); BalanceAfter
	// without a line. Thresholds (low balance, auto top-up) read it, so
	// the unused line does not hide a balance running out.
	OwnAfter decimal.Decimal
	// Settled is true when the event was recorded longer ago than the
	// reader's settle time (by the database clock): a smaller id still
	// missing by then belongs to a transaction that rolled back.
	Settled bool
}

// EventFeed returns up to limit events of every pool with id above after,
// in id order. Ids are taken when a writer inserts, and writers of
// different pools commit in any order, so the feed can have gaps that fill
// later: a reader waits at a gap until the event after it is Settled
// (recorded more than settle ago).
func EventFeed(ctx context.Context, q db.DBTX, after int64, limit int, settle time.Duration) ([]FeedEvent, error) {
	// The line at an event is the credit lot's amount now less the line
	// changes recorded after it: the feed reads near its head, so those are
	// few, found through the primary key (pool_id, at, id) — ledger time
	// is monotonic per pool. Pools without a line skip the look-up.
	const sql = `
SELECT e.id, e.pool_id, e.type, e.amount, e.balance_after,
       CASE WHEN c.id IS NULL THEN e.balance_after
            ELSE e.balance_after - c.amount + (SELECT coalesce(sum(x.amount), 0) FROM ledger_events x
                 WHERE x.pool_id = e.pool_id AND x.at >= e.at AND x.id > e.id AND x.type = 'credit_line') END,
       e.recorded_at < clock_timestamp() - make_interval(secs => $3)
FROM ledger_events e
LEFT JOIN ledger_lots c ON c.pool_id = e.pool_id AND c.kind = 'credit'
WHERE e.id > $1 ORDER BY e.id LIMIT $2`
	rows, _ := q.Query(ctx, sql, after, limit, settle.Seconds())
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FeedEvent, error) {
		var e FeedEvent
		err := r.Scan(&e.ID, &e.PoolID, &e.Type, &e.Amount, &e.BalanceAfter, &e.OwnAfter, &e.Settled)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: event feed: %w", err)
	}
	return evs, nil
}

// ConsumeFeed hands each event after the consumer's cursor to each, in id
// order, at most limit of them, and moves the cursor past those it handed
// over, all in the caller's transaction tx: an event's effect and the
// cursor's move commit together, so each event is consumed once. The
// cursor is the one row (id 1: last_event_id, updated_at) of cursorTable, a
// constant of the consumer's; it is locked for the transaction, so one
// instance consumes at a time. Without a row (the first run) the cursor
// starts at the newest event: history from before the consumer existed is
// not consumed. It stops at a gap until the event after it is settled (see
// EventFeed). It returns how many events it handed over (call it again
// while that equals limit); each's error ends it and is returned as is.
func ConsumeFeed(ctx context.Context, tx pgx.Tx, cursorTable string, limit int, settle time.Duration, each func(FeedEvent) error) (int, error) {
	lock := `SELECT last_event_id FROM ` + cursorTable + ` WHERE id = 1 FOR UPDATE`
	var cursor int64
	err := tx.QueryRow(ctx, lock).Scan(&cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		var newest int64
		if newest, err = LastEventID(ctx, tx); err != nil {
			return 0, err
		}
		if _, err = tx.Exec(ctx, `INSERT INTO `+cursorTable+` (id, last_event_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, newest); err != nil {
			return 0, err
		}
		err = tx.QueryRow(ctx, lock).Scan(&cursor)
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: feed cursor: %w", err)
	}
	evs, err := EventFeed(ctx, tx, cursor, limit, settle)
	if err != nil {
		return 0, err
	}
	last, n := cursor, 0
	for _, e := range evs {
		if e.ID != last+1 && !e.Settled {
			break // an earlier id may still commit: wait for it
		}
		if err := each(e); err != nil {
			return 0, err
		}
		last = e.ID
		n++
	}
	if last != cursor {
		if _, err := tx.Exec(ctx, `UPDATE `+cursorTable+` SET last_event_id = $1, updated_at = now() WHERE id = 1`, last); err != nil {
			return 0, fmt.Errorf("ledger: feed cursor: %w", err)
		}
	}
	return n, nil
}
