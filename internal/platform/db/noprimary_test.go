package db_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/replicatest"
)

// unansweredAddr is a TCP address whose connection attempts time out, as a
// dead primary host's do (its SYNs unanswered): a socket listening with a
// backlog of 0 and never accepting, its queue filled by connections the
// test holds, so the kernel drops further SYNs.
func unansweredAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	// FileListener keeps its own copy of the descriptor; the original is
	// closed through its *os.File only. Closing it with syscall.Close left
	// the File's finalizer to close the same number again later — by then
	// another connection's (a pool's), which then waited forever.
	f := os.NewFile(uintptr(fd), "backlog")
	ln, err := net.FileListener(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	t.Cleanup(func() { _ = ln.Close() })
	addr := ln.Addr().String()
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), err.Error())
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatal("the accept queue never filled: connects to it do not time out here")
	return ""
}

// TestNoPrimaryCountsAConnectTimeout: a connection attempt to a primary
// host that does not answer (a TCP connect that times out, not refused as
// a Unix socket or a closed port is) is "no primary", whatever deadline
// ended it — connect_timeout's or the caller's — so the failover paths
// engage: a pinned read is answered by the standby, ReadPage reads again.
// A caller's deadline or cancel outside a connection attempt is still
// not, nor is a query's own error.
func TestNoPrimaryCountsAConnectTimeout(t *testing.T) {
	ctx := context.Background()
	addr := unansweredAddr(t)
	url := "postgres://credits_app@" + addr + "/credits?sslmode=disable"
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	cfg.ConnectTimeout = 300 * time.Millisecond

	t.Run("ConnectTimeout", func(t *testing.T) {
		started := time.Now()
		_, err := pgx.ConnectConfig(ctx, cfg)
		require.Error(t, err)
		require.Less(t, time.Since(started), 5*time.Second, "the connect timed out, it was not refused")
		var connErr *pgconn.ConnectError
		require.ErrorAs(t, err, &connErr)
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout(), "a timeout, not a refusal")
		require.True(t, db.NoPrimary(err), err.Error())
		require.True(t, db.Unavailable(ctx, err), err.Error())
	})
	t.Run("ThroughThePool", func(t *testing.T) {
		pcfg, err := pgxpool.ParseConfig(url)
		require.NoError(t, err)
		pcfg.ConnConfig.ConnectTimeout = 300 * time.Millisecond
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		_, err = pool.Exec(ctx, "SELECT 1")
		require.Error(t, err)
		require.True(t, db.NoPrimary(err), err.Error())
		require.True(t, db.Unavailable(ctx, err), err.Error())
	})
	t.Run("TheCallersDeadlineEndsTheConnect", func(t *testing.T) {
		slow := cfg.Copy()
		slow.ConnectTimeout = 0
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := pgx.ConnectConfig(cctx, slow)
		require.Error(t, err)
		require.True(t, db.NoPrimary(err), "no server was reached: %s", err)
	})
	t.Run("ADialTimeout", func(t *testing.T) {
		_, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		require.Error(t, err)
		require.True(t, db.NoPrimary(fmt.Errorf("store: %w", err)), err.Error())
	})
	t.Run("RefusedConnects", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		require.NoError(t, ln.Close())
		for _, u := range []string{
			"postgres://credits_app@" + closed + "/credits?sslmode=disable",
			"postgres://credits_app@/credits?host=" + t.TempDir() + "&sslmode=disable", // no socket there
		} {
			_, err := pgx.Connect(ctx, u)
			require.Error(t, err)
			require.True(t, db.NoPrimary(err), err.Error())
		}
	})
	t.Run("NotTheCallersOwnDeadlineOrCancel", func(t *testing.T) {
		pool := dbtest.Pool(t)
		_, err := pool.Exec(ctx, "SELECT 1") // connected: what follows is a query's
		require.NoError(t, err)
		qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err = pool.Exec(qctx, "SELECT pg_sleep(2)")
		require.Error(t, err)
		require.False(t, db.NoPrimary(err), err.Error())
		cctx, cancel2 := context.WithCancel(ctx)
		cancel2()
		_, err = pool.Exec(cctx, "SELECT 1")
		require.Error(t, err)
		require.False(t, db.NoPrimary(err), err.Error())
		for _, err := range []error{context.Canceled, context.DeadlineExceeded, fmt.Errorf("x: %w", context.DeadlineExceeded), pgx.ErrNoRows} {
			require.False(t, db.NoPrimary(err), err.Error())
		}
		_, err = pool.Exec(ctx, "SELECT 1/0")
		require.Error(t, err)
		require.False(t, db.NoPrimary(err), "a query's own error: %s", err)
	})
	t.Run("TheStandbyStandsIn", func(t *testing.T) {
		c := replicatest.Start(t, "credits_reader_connect_timeout")
		standby, err := db.OpenStandby(ctx, c.StandbyURL())
		require.NoError(t, err)
		t.Cleanup(standby.Close)
		real, err := db.Open(ctx, c.PrimaryURL())
		require.NoError(t, err)
		t.Cleanup(real.Close)
		r := db.NewReader(real, standby, db.ReaderOptions{Probe: 50 * time.Millisecond})
		r.ProbeOnce(ctx)
		require.True(t, r.Stats().Healthy, "the standby's lag measured against the real primary")
		pcfg, err := pgxpool.ParseConfig(url)
		require.NoError(t, err)
		pcfg.ConnConfig.ConnectTimeout = 300 * time.Millisecond
		gone, err := pgxpool.NewWithConfig(ctx, pcfg)
		require.NoError(t, err)
		t.Cleanup(gone.Close)
		r.SetPrimary(gone) // the primary's host now stops answering

		pinned := r.PinFailover(ctx, 0)
		var inRecovery bool
		require.NoError(t, r.Latest(pinned, gone).QueryRow(pinned, "SELECT pg_is_in_recovery()").Scan(&inRecovery),
			"a pinned read whose connect times out runs again on the standby")
		require.True(t, inRecovery)
		attempts := 0
		require.NoError(t, r.ReadPage(pinned, func(ctx context.Context) error {
			attempts++
			if attempts == 1 {
				_, err := gone.Exec(ctx, "SELECT 1")
				return err
			}
			return r.Latest(ctx, gone).QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
		}, func() bool { return true }))
		require.Equal(t, 2, attempts, "ReadPage reads the page again")
		require.True(t, inRecovery)
	})
}
