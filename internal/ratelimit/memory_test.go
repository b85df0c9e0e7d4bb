package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type bundle struct {
	lim   *Memory
	clock *clock
}

func setup(t *testing.T, opts MemoryOptions) bundle {
	t.Helper()
	c := &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	opts.Now = c.Now
	return bundle{lim: NewMemory(opts), clock: c}
}

func allow(t *testing.T, l Limiter, key string, limit Limit, tokens int64) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, limit, tokens)
	require.NoError(t, err)
	return d
}

func TestMemory(t *testing.T) {
	t.Parallel()

	t.Run("BurstOfAMinuteThenOneRequestPerRefill", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		lim := Limit{RPM: 60}
		for i := range 60 {
			require.True(t, allow(t, b.lim, "acct", lim, 0).Allowed, "call %d", i)
		}
		d := allow(t, b.lim, "acct", lim, 0)
		require.False(t, d.Allowed, "the 61st call in the minute is refused")
		require.Equal(t, time.Second, d.RetryAfter, "one request refills every second at 60 RPM")

		b.clock.Advance(999 * time.Millisecond)
		require.False(t, allow(t, b.lim, "acct", lim, 0).Allowed)
		b.clock.Advance(time.Millisecond)
		require.True(t, allow(t, b.lim, "acct", lim, 0).Allowed, "allowed once Retry-After has passed")
		require.False(t, allow(t, b.lim, "acct", lim, 0).Allowed)
	})

	t.Run("TokensPerMinute", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		lim := Limit{RPM: 100, TPM: 1000}
		require.True(t, allow(t, b.lim, "acct", lim, 400).Allowed)
		require.True(t, allow(t, b.lim, "acct", lim, 400).Allowed)
		d := allow(t, b.lim, "acct", lim, 400)
		require.False(t, d.Allowed)
		// 200 left, 400 needed: 200 tokens at 1000/min take 12 s.
		require.Equal(t, 12*time.Second, d.RetryAfter)
		require.True(t, allow(t, b.lim, "acct", lim, 200).Allowed, "a smaller call fits what is left")
	})

	t.Run("RefusedCallConsumesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		lim := Limit{RPM: 2, TPM: 100}
		require.True(t, allow(t, b.lim, "acct", lim, 100).Allowed)
		require.False(t, allow(t, b.lim, "acct", lim, 50).Allowed, "no tokens left")
		require.True(t, allow(t, b.lim, "acct", lim, 0).Allowed, "the refused call did not spend the second request")
		require.False(t, allow(t, b.lim, "acct", lim, 0).Allowed)
	})

	t.Run("CallLargerThanTPMNeedsAFullBucketAndLeavesDebt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		lim := Limit{TPM: 1000}
		require.True(t, allow(t, b.lim, "acct", lim, 3000).Allowed, "never refused forever")
		d := allow(t, b.lim, "acct", lim, 1)
		require.False(t, d.Allowed)
		// From -2000 to 1 token at 1000/min: 2001 tokens = 120.06 s.
		require.Equal(t, 120060*time.Millisecond, d.RetryAfter)
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		lim := Limit{RPM: 1}
		require.True(t, allow(t, b.lim, "acct:parent", lim, 0).Allowed)
		require.False(t, allow(t, b.lim, "acct:parent", lim, 0).Allowed)
		require.True(t, allow(t, b.lim, "acct:child", lim, 0).Allowed, "a sub-account has its own bucket")
	})

	t.Run("ZeroLimitIsUnlimited", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		for range 1000 {
			require.True(t, allow(t, b.lim, "acct", Limit{}, 1_000_000).Allowed)
		}
		require.Zero(t, b.lim.Len(), "unlimited keys keep no state")
	})

	t.Run("RaisedLimitAppliesAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		trial := Limit{RPM: 2, TPM: 0}
		verified := Limit{RPM: 100, TPM: 10000}
		require.True(t, allow(t, b.lim, "acct", trial, 10).Allowed)
		require.True(t, allow(t, b.lim, "acct", trial, 10).Allowed)
		require.False(t, allow(t, b.lim, "acct", trial, 10).Allowed)
		// After verification the TPM bucket starts full; the request bucket
		// keeps what was used but now refills at the higher rate.
		b.clock.Advance(time.Second)
		require.True(t, allow(t, b.lim, "acct", verified, 10000).Allowed)
	})

	t.Run("EmptyKeyIsAnError", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		_, err := b.lim.Allow(context.Background(), "", Limit{RPM: 1}, 0)
		require.ErrorIs(t, err, ErrEmptyKey)
	})

	t.Run("IdleKeysAreEvicted", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{Shards: 1})
		for i := range 100 {
			allow(t, b.lim, fmt.Sprintf("k%d", i), Limit{RPM: 10, TPM: 1000}, 500)
		}
		require.Equal(t, 100, b.lim.Len())
		b.clock.Advance(time.Minute) // every bucket is full again
		allow(t, b.lim, "fresh", Limit{RPM: 10}, 0)
		require.Equal(t, 1, b.lim.Len(), "only the key just used is kept")
	})

	t.Run("MemoryIsBounded", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{Shards: 4, MaxKeysPerShard: 10})
		for i := range 1000 {
			allow(t, b.lim, fmt.Sprintf("k%d", i), Limit{RPM: 10}, 0)
		}
		require.LessOrEqual(t, b.lim.Len(), 40)
	})

	t.Run("ConcurrentCallsNeverExceedTheLimit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, MemoryOptions{})
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 500 {
					d, err := b.lim.Allow(context.Background(), "hot", Limit{RPM: 700, TPM: 70_000}, 10)
					if err == nil && d.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int64(700), allowed.Load(), "exactly the minute's allowance, clock frozen")
	})
}

func BenchmarkMemoryAllow(b *testing.B) {
	lim := NewMemory(MemoryOptions{})
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("acct-%d", i)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(n.Add(1)) * 7919
		for pb.Next() {
			i++
			if _, err := lim.Allow(ctx, keys[i%len(keys)], Limit{RPM: 1 << 30, TPM: 1 << 40}, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestMin(t *testing.T) {
	t.Parallel()
	require.Equal(t, Limit{RPM: 20, TPM: 20_000}, Min(Limit{RPM: 600}, TrialLimit), "unlimited TPM capped by the trial")
	require.Equal(t, Limit{RPM: 5, TPM: 20_000}, Min(Limit{RPM: 5, TPM: 50_000}, TrialLimit))
	require.Equal(t, Limit{}, Min(Limit{}, Limit{}))
}
