package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// DefaultRetryWindow is how long a billed request's idempotency record and
// closed reservation stay in the hot tables: the late-event window (168 h,
// the oldest usage event the gateway accepts) plus a day, which is also far
// beyond any reservation's TTL. A retry can only come from inside it.
const DefaultRetryWindow = 192 * time.Hour

// RetireReport is what one Retire run moved to the archive.
type RetireReport struct {
	Reservations int64 // closed reservations moved
	Idempotency  int64 // idempotency records moved
	// ReservationsThrough is the highest reservation id known to have left
	// the hot table with every id below it.
	ReservationsThrough int64
}

// Retire moves, in batches of batch rows, every closed reservation and
// every idempotency record of a per-request operation (reserve, charge,
// commit, release) older than cutoff from the hot tables to their
// archives (ledger_retire in schema/functions.sql), each batch its own
// transaction. A call repeating one of them afterwards gets
// ErrRetryWindowPassed and changes nothing. q must be the owner role (the
// tables' delete guard refuses the application role): `credits ledger
// retire` runs it with cutoff = now − the retry window. The caller chooses
// a window no retry can outlast (DefaultRetryWindow).
func Retire(ctx context.Context, q db.DBTX, cutoff time.Time, batch int) (RetireReport, error) {
	if batch <= 0 {
		batch = 10000
	}
	var total RetireReport
	for {
		var raw []byte
		if err := q.QueryRow(ctx, `SELECT ledger_retire($1, $2)`, cutoff, batch).Scan(&raw); err != nil {
			return total, fmt.Errorf("ledger: retire: %w", err)
		}
		var r struct {
			Reservations int64 `json:"reservations"`
			Idempotency  int64 `json:"idempotency"`
			Through      int64 `json:"reservations_through"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return total, fmt.Errorf("ledger: retire: %w", err)
		}
		total.Reservations += r.Reservations
		total.Idempotency += r.Idempotency
		total.ReservationsThrough = r.Through
		if r.Reservations < int64(batch) && r.Idempotency < int64(batch) {
			return total, nil
		}
	}
}

// retiredReservation turns a commit's or release's ErrNotFound into
// ErrRetryWindowPassed when the retention job has archived reservation id
// (its id is at or below the archived prefix); other errors pass through.
func (l *Ledger) retiredReservation(ctx context.Context, id int64, err error) error {
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	var retired bool
	if qerr := l.pool.QueryRow(ctx, `SELECT reservations_through >= $1 FROM ledger_retention`, id).Scan(&retired); qerr != nil {
		return errors.Join(err, qerr)
	}
	if retired {
		return ErrRetryWindowPassed
	}
	return err
}
