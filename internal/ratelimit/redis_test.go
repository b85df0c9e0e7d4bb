package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redisURL is the server the Redis tests use: REDIS_TEST_URL, else the local
// default. Without a server the tests skip, unless REQUIRE_REDIS=1.
func redisURL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// newRedisPair returns two limiters on two separate connections — two server
// instances — sharing one key prefix unique to the test.
func newRedisPair(t *testing.T) (a, b *Redis, prefix string, client *redis.Client) {
	t.Helper()
	opts, err := redis.ParseURL(redisURL())
	require.NoError(t, err)
	ca, cb := redis.NewClient(opts), redis.NewClient(opts)
	t.Cleanup(func() { ca.Close() })
	t.Cleanup(func() { cb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := ca.Ping(ctx).Err(); err != nil {
		if os.Getenv("REQUIRE_REDIS") == "1" {
			t.Fatalf("Redis at %s: %v", opts.Addr, err)
		}
		t.Skipf("no Redis at %s (%v): set REDIS_TEST_URL, or REQUIRE_REDIS=1 to fail", opts.Addr, err)
	}
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	prefix = "credits:test:" + hex.EncodeToString(buf) + ":"
	t.Cleanup(func() { // cleanups run last-in first-out: before ca closes
		keys, _ := ca.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			ca.Del(context.Background(), keys...)
		}
	})
	return NewRedis(ca, prefix), NewRedis(cb, prefix), prefix, ca
}

func TestRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("TwoInstancesShareOneRequestBudget", func(t *testing.T) {
		t.Parallel()
		a, b, _, _ := newRedisPair(t)
		lim := Limit{RPM: 5}
		for i, l := range []Limiter{a, b, a, b, a} {
			require.True(t, allow(t, l, "acct", lim, 0).Allowed, "call %d", i)
		}
		for _, l := range []Limiter{a, b} {
			d := allow(t, l, "acct", lim, 0)
			require.False(t, d.Allowed, "the sixth call is refused on either instance")
			require.Greater(t, d.RetryAfter, 11*time.Second)
			require.LessOrEqual(t, d.RetryAfter, 12*time.Second, "one request refills every 12 s at 5 RPM")
		}
		require.True(t, allow(t, b, "other-acct", lim, 0).Allowed, "other keys are untouched")
	})

	t.Run("TwoInstancesShareOneTokenBudget", func(t *testing.T) {
		t.Parallel()
		a, b, _, _ := newRedisPair(t)
		lim := Limit{RPM: 100, TPM: 1000}
		require.True(t, allow(t, a, "acct", lim, 600).Allowed)
		d := allow(t, b, "acct", lim, 600)
		require.False(t, d.Allowed, "B sees the tokens A spent")
		// 400 left, 600 needed: 200 tokens at 1000/min ≈ 12 s.
		require.InDelta(t, 12*time.Second, d.RetryAfter, float64(100*time.Millisecond))
		require.True(t, allow(t, b, "acct", lim, 400).Allowed, "the refused call spent nothing")
	})

	t.Run("RefillsInRealTime", func(t *testing.T) {
		t.Parallel()
		a, b, _, _ := newRedisPair(t)
		lim := Limit{TPM: 6000} // 100 tokens per second
		require.True(t, allow(t, a, "acct", lim, 6000).Allowed)
		d := allow(t, b, "acct", lim, 50)
		require.False(t, d.Allowed)
		require.InDelta(t, 500*time.Millisecond, d.RetryAfter, float64(50*time.Millisecond))
		time.Sleep(d.RetryAfter + 20*time.Millisecond)
		require.True(t, allow(t, b, "acct", lim, 50).Allowed, "allowed after Retry-After")
	})

	t.Run("KeysExpireOnceFull", func(t *testing.T) {
		t.Parallel()
		a, _, prefix, client := newRedisPair(t)
		allow(t, a, "acct", Limit{RPM: 60, TPM: 6000}, 3000)
		ttl, err := client.PTTL(ctx, prefix+"acct").Result()
		require.NoError(t, err)
		// Half the token bucket refills in 30 s; plus the one-second margin.
		require.Greater(t, ttl, 29*time.Second)
		require.LessOrEqual(t, ttl, 31*time.Second)
	})

	t.Run("ConcurrentInstancesNeverExceedTheLimit", func(t *testing.T) {
		t.Parallel()
		a, b, _, _ := newRedisPair(t)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := range 16 {
			l := a
			if i%2 == 1 {
				l = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					d, err := l.Allow(ctx, "hot", Limit{RPM: 6000}, 0) // 100 per second
					if err == nil && d.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int64(320), allowed.Load(), "320 calls fit a 6000 burst")

		// Now exhaust a small budget from both sides at once.
		var small atomic.Int64
		for i := range 16 {
			l := a
			if i%2 == 1 {
				l = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					d, err := l.Allow(ctx, "small", Limit{RPM: 60}, 0) // 1 per second
					if err == nil && d.Allowed {
						small.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		require.GreaterOrEqual(t, small.Load(), int64(60))
		require.LessOrEqual(t, small.Load(), int64(61), "at most one refilled during the test")
	})

	t.Run("OpenPicksRedisWhenURLIsSet", func(t *testing.T) {
		t.Parallel()
		newRedisPair(t) // skips without a server
		l, closeFn, err := Open(ctx, redisURL(), nil)
		require.NoError(t, err)
		defer closeFn()
		_, ok := l.(*Fallback)
		require.True(t, ok)

		l, closeFn, err = Open(ctx, "", nil)
		require.NoError(t, err)
		defer closeFn()
		_, ok = l.(*Memory)
		require.True(t, ok, "in-process without REDIS_URL")

		_, _, err = Open(ctx, "redis://127.0.0.1:1/0", nil)
		require.ErrorContains(t, err, "cannot reach Redis")
	})
}
