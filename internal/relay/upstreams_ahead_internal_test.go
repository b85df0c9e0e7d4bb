package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/atonce"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// listReads is the test database's pool counting the reads of the enabled
// upstream list, each held until the gate opens while one is set.
type listReads struct {
	*pgxpool.Pool
	n    atomic.Int64
	gate atomic.Pointer[chan struct{}]
}

func (q *listReads) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if strings.Contains(sql, "FROM relay_upstreams WHERE enabled") {
		q.n.Add(1)
		if g := q.gate.Load(); g != nil {
			<-*g
		}
	}
	return q.Pool.Query(ctx, sql, args...)
}

// hold makes the next reads wait until the returned function is called.
func (q *listReads) hold() (release func()) {
	g := make(chan struct{})
	q.gate.Store(&g)
	return func() { q.gate.Store(nil); close(g) }
}

// stoppedClock is a clock that moves only when told.
type stoppedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stoppedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stoppedClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// The upstream list is read again in the background past half its TTL:
// no call waits on that read, however many come at once, and a change made
// by another process is obeyed within the TTL.
func TestUpstreamListReadAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.AppPool(t)
	reads := &listReads{Pool: pool}
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clk := &stoppedClock{t: start}
	at := func(d time.Duration) { clk.Set(start.Add(d)) }
	const ttl = 2 * time.Second
	store := NewUpstreams(reads, piicrypto.Dev(), Options{Now: clk.Now, UpstreamTTL: ttl})
	loadedAt := func() time.Time { store.mu.Lock(); defer store.mu.Unlock(); return store.loadedAt }

	// Another process's store adds the upstream and, later, changes it.
	model := fmt.Sprintf("ahead-%d", time.Now().UnixNano())
	up, err := NewUpstreams(pool, piicrypto.Dev(), Options{}).Ensure(ctx, UpstreamForm{Name: model, BaseURL: "http://127.0.0.1:9/v1",
		Secret: "s", Models: model + "=sim-chat", Weight: "1", Priority: "0", TimeoutMS: "1000", Enabled: true})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(ctx, `UPDATE relay_upstreams SET enabled = false WHERE id = $1`, up.ID) })
	change := func(sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, `UPDATE relay_upstreams SET `+sql+`, updated_at = now() WHERE id = $1`, append([]any{up.ID}, args...)...)
		require.NoError(t, err)
	}
	serves := func(m string) bool {
		t.Helper()
		models, err := store.PublicModels(ctx)
		require.NoError(t, err)
		for _, x := range models {
			if x == m {
				return true
			}
		}
		return false
	}
	// calls makes 64 calls at once and fails if they take over 5 s.
	calls := func(m string) {
		t.Helper()
		missed, ok := atonce.Run(64, 5*time.Second, func() error {
			models, err := store.PublicModels(ctx)
			if err == nil && !strings.Contains(strings.Join(models, " "), m) {
				err = errors.New("not in the list: " + m)
			}
			return err
		})
		require.True(t, ok, "the calls waited on the read")
		require.Zero(t, missed, "every call is served the list")
	}

	t.Run("FirstUseWaitsForTheRead", func(t *testing.T) {
		require.True(t, serves(model))
		require.EqualValues(t, 1, reads.n.Load())
		at(ttl/2 - 100*time.Millisecond) // before half: the cache alone
		require.True(t, serves(model))
		require.EqualValues(t, 1, reads.n.Load())
	})

	t.Run("PastHalfServedWhileOneReadRunsBehind", func(t *testing.T) {
		release := reads.hold()
		at(ttl/2 + 100*time.Millisecond)
		calls(model) // served at once though the read they started is held
		require.Eventually(t, func() bool { return reads.n.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
		calls(model)
		release()
		require.Eventually(t, func() bool { return loadedAt().Equal(start.Add(ttl/2 + 100*time.Millisecond)) },
			5*time.Second, 5*time.Millisecond, "the read ahead's list is stored, timed from when it began")
		require.EqualValues(t, 2, reads.n.Load(), "128 calls past half the TTL: one read")
	})

	renamed := model + "-b"
	t.Run("ChangeObeyedWithinTheTTL", func(t *testing.T) {
		read := loadedAt().Sub(start) // the last read began at 1.1 s
		change(`models = jsonb_build_object($2::text, 'sim-chat')`, renamed)
		at(read + ttl/2 - 100*time.Millisecond)
		require.True(t, serves(model), "before half the TTL the cached list is served")
		require.EqualValues(t, 2, reads.n.Load())
		at(read + ttl/2 + 100*time.Millisecond)
		require.True(t, serves(model), "past half, still the cached list, read again behind the call")
		require.Eventually(t, func() bool { return serves(renamed) }, 5*time.Second, 5*time.Millisecond)
		require.EqualValues(t, 3, reads.n.Load())
		require.False(t, serves(model))

		// No call came past half the TTL: a list as old as the TTL is not
		// served, the call waits for the read.
		read = loadedAt().Sub(start)
		change(`enabled = false`)
		at(read + ttl)
		require.False(t, serves(renamed), "disabled: obeyed at the TTL at the latest")
		require.EqualValues(t, 4, reads.n.Load())
	})

	t.Run("CallsPastTheTTLShareOneRead", func(t *testing.T) {
		change(`enabled = true`)
		at(loadedAt().Sub(start) + ttl)
		release := reads.hold()
		var wg sync.WaitGroup
		var served atomic.Int64
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if models, err := store.PublicModels(ctx); err == nil && strings.Contains(strings.Join(models, " "), renamed) {
					served.Add(1)
				}
			}()
		}
		require.Eventually(t, func() bool { return reads.n.Load() == 5 }, 5*time.Second, 5*time.Millisecond)
		time.Sleep(50 * time.Millisecond) // the other calls join it
		release()
		wg.Wait()
		require.EqualValues(t, 64, served.Load(), "every call sees the upstream enabled again")
		require.EqualValues(t, 5, reads.n.Load(), "64 calls past the TTL: one read")
	})

	// A change made here while a read ahead runs: that read's list, which
	// may not show it, is not stored; the next call reads the list again.
	t.Run("ChangeHereDuringAReadAhead", func(t *testing.T) {
		at(loadedAt().Sub(start) + ttl/2 + 100*time.Millisecond)
		release := reads.hold()
		require.True(t, serves(renamed))
		require.Eventually(t, func() bool { return reads.n.Load() == 6 }, 5*time.Second, 5*time.Millisecond)
		store.mu.Lock()
		version := store.version
		store.mu.Unlock()
		store.invalidate()
		release()
		require.Eventually(t, func() bool { return !store.ahead.Running(version) }, 5*time.Second, 5*time.Millisecond)
		require.True(t, loadedAt().IsZero(), "the read begun before the change was not stored")
		require.True(t, serves(renamed))
		require.EqualValues(t, 7, reads.n.Load(), "the next call read the list")
	})
}
