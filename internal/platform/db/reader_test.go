package db_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/replicatest"
)

// TestReaderOnARealStandby: on a primary and a streaming standby made with
// pg_basebackup, a pinned read runs on the standby (pg_is_in_recovery), a
// read pinned past the standby's replay (replay paused) runs on the
// primary, an unpinned one always does, and with the standby stopped a
// pinned read is answered by the primary.
func TestReaderOnARealStandby(t *testing.T) {
	ctx := context.Background()
	c := replicatest.Start(t, "credits_reader")
	primary, r := c.Reader()
	var err error

	inRecovery := func(ctx context.Context) bool {
		var b bool
		require.NoError(t, r.For(ctx).QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&b))
		return b
	}
	require.Eventually(t, func() bool { return r.Stats().Healthy }, 5*time.Second, 10*time.Millisecond)
	require.True(t, inRecovery(r.Pin(ctx, 0)), "a pinned read runs on the standby")
	require.False(t, inRecovery(ctx), "an unpinned read runs on the primary")

	// Read-your-writes: a write the paused standby has not replayed.
	c.PauseReplay()
	_, err = primary.Exec(ctx, "SELECT pg_notify('replicatest', 'x')") // no WAL: LSN unchanged
	require.NoError(t, err)
	admin, err := db.Open(ctx, c.PrimaryAdmin())
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	_, err = admin.Exec(ctx, "CREATE TABLE reader_probe (id int)")
	require.NoError(t, err)
	lsn, err := r.PrimaryLSN(ctx)
	require.NoError(t, err)
	pinned := r.Pin(ctx, lsn)
	require.False(t, inRecovery(pinned), "the customer's next read waits for nobody: the primary answers")
	var exists bool
	require.NoError(t, r.For(pinned).QueryRow(pinned, "SELECT to_regclass('reader_probe') IS NOT NULL").Scan(&exists))
	require.True(t, exists, "and it has the write")
	require.True(t, inRecovery(r.Pin(ctx, 0)), "a read not after that write still runs on the standby")
	c.ResumeReplay()
	require.Eventually(t, func() bool { return inRecovery(r.Pin(ctx, lsn)) }, 5*time.Second, 10*time.Millisecond,
		"once replayed, the standby serves the customer again")

	// The standby goes away: a read pinned to it before anyone noticed is
	// answered by the primary, and the next pins go there.
	onStandby := r.Pin(ctx, 0)
	c.StopStandby()
	require.False(t, inRecovery(onStandby))
	require.Positive(t, r.Stats().Fallbacks)
	require.False(t, inRecovery(r.Pin(ctx, 0)))
	require.Eventually(t, func() bool { return !r.Stats().Healthy }, 5*time.Second, 10*time.Millisecond)
}

// TestReaderStandsInForALostPrimary: with the primary stopped at once (a
// crash) and the standby still in recovery, a page's reads of the latest
// state (Latest) and its pinned reads (For) are answered by the standby,
// whether the request was pinned before the loss (each read fails on the
// primary and runs again) or after the probe noticed it (straight to the
// standby); a read outside a page still fails, and so does a page whose
// customer's last write the standby has not replayed (read-your-writes).
func TestReaderStandsInForALostPrimary(t *testing.T) {
	ctx := context.Background()
	c := replicatest.Start(t, "credits_reader_failover")
	primary, r := c.Reader()

	inRecovery := func(q db.DBTX, ctx context.Context) (bool, error) {
		var b bool
		err := q.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&b)
		return b, err
	}
	require.Eventually(t, func() bool { return r.Stats().Healthy }, 10*time.Second, 10*time.Millisecond)
	early := r.Pin(ctx, 0)
	b, err := inRecovery(r.Latest(early, primary), early)
	require.NoError(t, err)
	require.False(t, b, "with a primary, Latest reads it even in a page")
	require.False(t, r.StandingIn())

	c.StopPrimary()
	b, err = inRecovery(r.Latest(early, primary), early)
	require.NoError(t, err, "a page pinned before the loss is answered by the standby")
	require.True(t, b)
	require.Positive(t, r.Stats().StandIns)

	require.Eventually(t, r.StandingIn, 5*time.Second, 10*time.Millisecond, "the probe finds the primary gone")
	late := r.Pin(ctx, 0)
	for _, q := range []db.DBTX{r.Latest(late, primary), r.For(late)} {
		b, err = inRecovery(q, late)
		require.NoError(t, err)
		require.True(t, b)
	}
	require.NoError(t, db.ReadTx(late, r.Latest(late, primary), pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		b, err = inRecovery(tx, late)
		return err
	}))
	require.True(t, b)

	_, err = inRecovery(r.Latest(ctx, primary), ctx)
	require.Error(t, err, "outside a page the primary's reads stay the primary's")
	require.True(t, db.Unavailable(ctx, err))
	require.True(t, db.NotApplied(err), "the stopped primary was never reached: %v", err)
	ahead := r.Pin(ctx, db.LSN(1)<<50)
	_, err = inRecovery(r.Latest(ahead, primary), ahead)
	require.Error(t, err, "the standby has not replayed the customer's own write: no stale page")
}

// TestReaderStandsInForAPrimaryThatHangs: a primary whose connection
// attempts hang (as they did in the cluster while a failover's attempts
// piled up on a loaded machine) counts as gone once the probe's read times
// out, and the standby keeps standing in, probe after slow probe: the
// state never turns stale between them.
func TestReaderStandsInForAPrimaryThatHangs(t *testing.T) {
	ctx := context.Background()
	c := replicatest.Start(t, "credits_reader_hang")
	// A primary that accepts connections and never answers them.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var held []net.Conn
		for {
			conn, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					_ = c.Close()
				}
				return
			}
			held = append(held, conn)
		}
	}()
	primary, err := pgxpool.New(ctx, "postgres://credits_app@"+ln.Addr().String()+"/credits?sslmode=disable&connect_timeout=30")
	require.NoError(t, err)
	t.Cleanup(primary.Close)
	standby, err := db.OpenStandby(ctx, c.StandbyURL())
	require.NoError(t, err)
	t.Cleanup(standby.Close)
	probe := 50 * time.Millisecond
	r := db.NewReader(primary, standby, db.ReaderOptions{Probe: probe})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })

	// The standby never had a lag measured against this primary: it may
	// not stand in at all.
	time.Sleep(3 * (probe + time.Second))
	require.False(t, r.CanStandIn(), "a standby whose lag was never known does not stand in")
	require.False(t, r.StandingIn())

	// A Reader that measured the standby in sync against the real primary,
	// whose primary then hangs (the silent one in its place).
	real, err := db.Open(ctx, c.PrimaryURL())
	require.NoError(t, err)
	t.Cleanup(real.Close)
	r2 := db.NewReader(real, standby, db.ReaderOptions{Probe: probe})
	r2.ProbeOnce(ctx)
	require.True(t, r2.Stats().Healthy)
	r2.SetPrimary(primary)
	r2ctx, stop2 := context.WithCancel(ctx)
	done2 := make(chan struct{})
	go func() { defer close(done2); r2.Run(r2ctx) }()
	t.Cleanup(func() { stop2(); <-done2 })
	require.Eventually(t, r2.StandingIn, 5*time.Second, 20*time.Millisecond, "a primary that does not answer the probe counts as gone")
	for range 30 { // three seconds: several slow probes
		require.True(t, r2.StandingIn(), "the state stays fresh between slow probes")
		require.True(t, r2.CanStandIn())
		pinned := r2.Pin(ctx, 0)
		var b bool
		require.NoError(t, r2.Latest(pinned, primary).QueryRow(pinned, "SELECT pg_is_in_recovery()").Scan(&b))
		require.True(t, b)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReaderReadsAgainAPageThatLosesThePrimaryMidRead: a page's read whose
// primary backend is terminated (pg_terminate_backend, as a crash or a
// shutdown does) after its first row fails halfway through its rows: read
// query by query that fails the page, so ReadPage runs the page's reads
// once more, on the standby, which answers every row. A stale read whose
// standby backend is terminated is read again the same way (the standby
// first, the primary should it not answer). Outside a page, and once the
// answer has begun, it is not run again.
func TestReaderReadsAgainAPageThatLosesThePrimaryMidRead(t *testing.T) {
	ctx := context.Background()
	c := replicatest.Start(t, "credits_reader_midread")
	_, r := c.Reader()
	admin, err := db.Open(ctx, c.PrimaryAdmin())
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	standbyAdmin, err := db.Open(ctx, c.StandbyAdmin())
	require.NoError(t, err)
	t.Cleanup(standbyAdmin.Close)
	require.Eventually(t, func() bool { return r.Stats().Healthy }, 5*time.Second, 10*time.Millisecond)

	// Rows of 16 kB each leave the server at once (its send buffer is
	// 8 kB), and 32 MB in all are far more than the socket holds: the
	// termination reaches the reader while it reads.
	const rows = 2000
	// reads is where the page reads (the Failover querier, or For), and
	// kill the server whose backend the first attempt's is terminated on.
	reads := func(context.Context) db.DBTX { return r.Failover() }
	kill := admin
	var attempts int
	var inRecovery []bool
	var read int
	page := func(ctx context.Context) error {
		attempts++
		rs, err := reads(ctx).Query(ctx, `SELECT pg_backend_pid(), pg_is_in_recovery(), g, repeat('x', 16384) FROM generate_series(1, $1) g`, rows)
		if err != nil {
			return err
		}
		defer rs.Close()
		read = 0
		for rs.Next() {
			var pid int32
			var rec bool
			var g int
			var pad string
			if err := rs.Scan(&pid, &rec, &g, &pad); err != nil {
				return err
			}
			if read == 0 {
				inRecovery = append(inRecovery, rec)
				if attempts == 1 {
					var ok bool
					require.NoError(t, kill.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
					require.True(t, ok)
				}
			}
			read++
		}
		return rs.Err()
	}
	always := func() bool { return true }

	t.Run("AQueryAloneFailsHalfway", func(t *testing.T) {
		attempts, inRecovery = 0, nil
		err := page(r.PinFailover(ctx, 0))
		require.Error(t, err)
		require.True(t, db.NoPrimary(err), err.Error())
		require.False(t, db.NotApplied(err), "lost mid-answer: it reached the server")
		require.Positive(t, read, "it failed after its first row")
		require.Less(t, read, rows)
	})
	t.Run("APageIsReadAgainOnTheStandby", func(t *testing.T) {
		attempts, inRecovery = 0, nil
		before := r.Stats().StandIns
		require.NoError(t, r.ReadPage(r.PinFailover(ctx, 0), page, always))
		require.Equal(t, 2, attempts)
		require.Equal(t, []bool{false, true}, inRecovery, "first on the primary, then on the standby")
		require.Equal(t, rows, read, "every row")
		require.Greater(t, r.Stats().StandIns, before)
		// A stale-read page whose read of the latest state (the Failover
		// querier's, on the primary) loses it is read again the same way.
		attempts, inRecovery = 0, nil
		require.NoError(t, r.ReadPage(r.Pin(ctx, 0), page, always))
		require.Equal(t, []bool{false, true}, inRecovery)
		require.Equal(t, rows, read)
	})
	t.Run("AStaleReadThatLosesTheStandbyIsReadAgain", func(t *testing.T) {
		reads, kill = r.For, standbyAdmin
		defer func() { reads, kill = func(context.Context) db.DBTX { return r.Failover() }, admin }()
		attempts, inRecovery = 0, nil
		require.NoError(t, r.ReadPage(r.Pin(ctx, 0), page, always))
		require.Equal(t, 2, attempts)
		require.Equal(t, rows, read, "every row")
		require.Equal(t, []bool{true, true}, inRecovery, "the standby, still up, answers it again")
	})
	t.Run("NotOnceTheAnswerBegan", func(t *testing.T) {
		attempts, inRecovery = 0, nil
		err := r.ReadPage(r.PinFailover(ctx, 0), page, func() bool { return false })
		require.True(t, db.NoPrimary(err))
		require.Equal(t, 1, attempts)
	})
	t.Run("NotOutsideAPage", func(t *testing.T) {
		attempts, inRecovery = 0, nil
		err := r.ReadPage(ctx, page, always)
		require.True(t, db.NoPrimary(err))
		require.Equal(t, 1, attempts)
	})
}
