package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// retentionBundle is a database of the test's own (the retention job moves
// every old enough row, which would disturb the package's other tests), a
// ledger on it as the server runs it (the application role), and the owner
// role's pool the retention job runs as.
type retentionBundle struct {
	*testBundle
	owner, app *pgxpool.Pool
}

func setupRetention(t *testing.T) *retentionBundle {
	t.Helper()
	ctx := context.Background()
	owner, app, _ := dbtest.OwnRoles(t)
	// The ledger's clock is the wall clock here: the job compares closing
	// times (ledger time) and idempotency records' creation (the
	// database's clock) with one cutoff.
	c := &clock{t: time.Now().UTC()}
	l := ledger.New(app, ledger.Options{Now: func() time.Time { return time.Now().UTC() }})
	t.Cleanup(l.Close)
	return &retentionBundle{testBundle: &testBundle{ctx: ctx, l: l, clock: c}, owner: owner, app: app}
}

// TestRetireKeepsExactlyOnceAcrossTheRetryWindow: a billed request
// (reserve, commit) and a usage charge are retried just inside the retry
// window (their records are a second younger than the cutoff): each
// returns its original result. The retention job then moves them out of
// the hot tables (cutoff a second after them): a retry of the reserve, of
// the commit, a release and a retried charge are each refused with
// retry_window_passed and change nothing, while a reservation still open
// stays and commits, and verify finds the ledger whole.
func TestRetireKeepsExactlyOnceAcrossTheRetryWindow(t *testing.T) {
	b := setupRetention(t)
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100", lotOpts{})
	start := time.Now().UTC()

	rr := ledger.ReserveRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: "rsv:call-1", Model: "m",
		Detail: []byte(`{"max_output_tokens":100}`)}
	res, err := b.l.Reserve(b.ctx, rr)
	require.NoError(t, err)
	cr := ledger.CommitRequest{ReservationID: res.ID, Actual: d("4")}
	com, err := b.l.Commit(b.ctx, cr)
	require.NoError(t, err)
	ch := ledger.ChargeRequest{AccountID: acc.ID, Amount: d("3"), IdempotencyKey: "usage:ev-1", Model: "m", OccurredAt: start}
	chg, err := b.l.Charge(b.ctx, ch)
	require.NoError(t, err)
	open, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("5"), IdempotencyKey: "rsv:call-2"})
	require.NoError(t, err)
	requireDec(t, "88", b.available(t, acc.ID)) // 100 − 4 − 3 − 5 held

	t.Run("JustInsideTheWindowReplays", func(t *testing.T) {
		rep, err := ledger.Retire(b.ctx, b.owner, start.Add(-time.Second), 100)
		require.NoError(t, err)
		require.Zero(t, rep.Reservations)
		again, err := b.l.Reserve(b.ctx, rr)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, res.ID, again.ID)
		c2, err := b.l.Commit(b.ctx, cr)
		require.NoError(t, err)
		require.True(t, c2.Replayed)
		requireDec(t, com.Charged.String(), c2.Charged)
		ch2, err := b.l.Charge(b.ctx, ch)
		require.NoError(t, err)
		require.True(t, ch2.Replayed)
		require.Equal(t, chg.OpID, ch2.OpID)
		requireDec(t, "88", b.available(t, acc.ID))
	})

	t.Run("JustOutsideTheWindowIsRefused", func(t *testing.T) {
		rep, err := ledger.Retire(b.ctx, b.owner, time.Now().UTC().Add(time.Second), 1) // batches of one: the loop drains
		require.NoError(t, err)
		require.Equal(t, int64(1), rep.Reservations, "the committed reservation; the open one stays")
		require.Equal(t, res.ID, rep.ReservationsThrough)
		require.Equal(t, int64(3), rep.Idempotency, "both reserves' records and the charge's; the top-up's stays")

		_, err = b.l.Reserve(b.ctx, rr)
		require.ErrorIs(t, err, ledger.ErrRetryWindowPassed)
		require.Equal(t, "retry_window_passed", ledger.Code(err))
		// a shadow refusal takes the general ledger_reserve, whose key read
		// (ledger_replay) is not the batched one's
		shadowed := rr
		shadowed.ShadowRefusal = "plan_quota_exhausted"
		_, err = b.l.Reserve(b.ctx, shadowed)
		require.ErrorIs(t, err, ledger.ErrRetryWindowPassed)
		_, err = b.l.Commit(b.ctx, cr)
		require.ErrorIs(t, err, ledger.ErrRetryWindowPassed)
		_, err = b.l.Release(b.ctx, res.ID)
		require.ErrorIs(t, err, ledger.ErrRetryWindowPassed)
		_, err = b.l.Charge(b.ctx, ch)
		require.ErrorIs(t, err, ledger.ErrRetryWindowPassed)
		_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: open.ID + 1000, Actual: d("1")})
		require.ErrorIs(t, err, ledger.ErrNotFound, "an id the job never passed is simply unknown")
		requireDec(t, "88", b.available(t, acc.ID), "nothing applied twice")

		// The reservation still open was not moved and commits.
		c3, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: open.ID, Actual: d("2")})
		require.NoError(t, err)
		requireDec(t, "2", c3.Charged)
		requireDec(t, "91", b.available(t, acc.ID))
		b.verifyClean(t)

		var hot, archived int
		require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT (SELECT count(*) FROM ledger_reservations WHERE pool_id = $1),
       (SELECT count(*) FROM ledger_reservations_archive WHERE pool_id = $1 AND id = $2)`, acc.ID, res.ID).Scan(&hot, &archived))
		require.Equal(t, 1, hot)
		require.Equal(t, 1, archived)
	})
}

// TestOnlyTheOwnerRetires: the application role (the server) can neither
// delete from the hot tables nor run the retention job, even with the
// job's setting, nor move the retention mark.
func TestOnlyTheOwnerRetires(t *testing.T) {
	b := setupRetention(t)
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "10", lotOpts{})
	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: "rsv:x"})
	require.NoError(t, err)
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("1")})
	require.NoError(t, err)
	for name, q := range map[string]string{
		"DeleteIdempotency":  `DELETE FROM ledger_idempotency`,
		"DeleteReservations": `DELETE FROM ledger_reservations`,
		"RetireJob":          `SELECT ledger_retire(now() + interval '1 hour', 10)`,
		"MoveTheMark":        `UPDATE ledger_retention SET reservations_through = 1000000`,
		"DeleteArchive":      `DELETE FROM ledger_reservations_archive`,
	} {
		t.Run(name, func(t *testing.T) {
			tx, err := b.app.Begin(b.ctx)
			require.NoError(t, err)
			defer tx.Rollback(b.ctx) //nolint:errcheck
			_, err = tx.Exec(b.ctx, `SET LOCAL ledger.retiring = 'on'`)
			require.NoError(t, err)
			_, err = tx.Exec(b.ctx, q)
			require.Error(t, err)
		})
	}
	var n int
	require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT count(*) FROM ledger_reservations WHERE id = $1`, res.ID).Scan(&n))
	require.Equal(t, 1, n)
	// The owner without the job's setting is refused too.
	_, err = b.owner.Exec(b.ctx, `DELETE FROM ledger_reservations WHERE id = $1`, res.ID)
	require.ErrorContains(t, err, "retention job")
}

// TestRetireWhileBilling: 64 clients reserve and commit while the
// retention job keeps moving everything closed before "now": it never
// takes a reservation still open (every commit succeeds, exactly once),
// and the ledger is whole afterwards — balance, lots, reserved total and
// chain (verify), and the charges add up.
func TestRetireWhileBilling(t *testing.T) {
	b := setupRetention(t)
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100000", lotOpts{})
	const clients, calls = 64, 8
	done := make(chan struct{})
	retired := make(chan int64, 1)
	go func() {
		var moved int64
		defer func() { retired <- moved }()
		for {
			select {
			case <-done:
				return
			default:
			}
			r, err := ledger.Retire(b.ctx, b.owner, time.Now().UTC(), 50)
			if err != nil {
				t.Error(err)
				return
			}
			moved += r.Reservations
		}
	}()
	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			for i := range calls {
				res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("3"),
					IdempotencyKey: fmt.Sprintf("rsv:c%d-%d", c, i)})
				if err == nil {
					_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("2")})
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		require.NoError(t, <-errs)
	}
	close(done)
	moved := <-retired
	t.Logf("the job moved %d reservations while billing", moved)
	requireDec(t, "98976", b.available(t, acc.ID)) // 100000 − 64 × 8 calls × 2
	b.verifyClean(t)
}
