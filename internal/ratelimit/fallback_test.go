package ratelimit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/faultproxy"
)

// syncBuffer is a log sink the probe goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFallbackDuringARedisOutage: with Redis cut off, calls are still
// decided (by this process's buckets), not failed; the state change is
// logged once each way; when Redis answers again the shared buckets are
// used again.
func TestFallbackDuringARedisOutage(t *testing.T) {
	t.Parallel()
	_, _, prefix, direct := newRedisPair(t) // skips without Redis unless REQUIRE_REDIS=1
	proxy, err := faultproxy.New(direct.Options().Addr)
	require.NoError(t, err)
	t.Cleanup(proxy.Close)
	ctx := context.Background()

	opts, err := redis.ParseURL("redis://" + proxy.Addr() + "/0")
	require.NoError(t, err)
	opts.ReadTimeout, opts.WriteTimeout, opts.DialTimeout, opts.MaxRetries = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond, -1
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	var logs syncBuffer
	f := NewFallback(NewRedis(client, prefix), NewMemory(MemoryOptions{}), func(ctx context.Context) error { return client.Ping(ctx).Err() },
		FallbackOptions{ProbeEvery: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(func() { f.Close() })
	limit := Limit{RPM: 1000}

	d, err := f.Allow(ctx, "acct-1", limit, 0)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.True(t, f.SharedStoreUp())
	n, err := direct.Exists(ctx, prefix+"acct-1").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the bucket lives in Redis")

	proxy.Cut()
	for i := range 20 {
		d, err := f.Allow(ctx, "acct-2", limit, 0)
		require.NoError(t, err, "call %d during the outage", i)
		require.True(t, d.Allowed)
	}
	require.False(t, f.SharedStoreUp())
	n, err = direct.Exists(ctx, prefix+"acct-2").Result()
	require.NoError(t, err)
	require.Zero(t, n, "decided in process while Redis was cut off")
	// Limits still hold in process during the outage.
	tight := Limit{RPM: 3}
	allowed := 0
	for range 10 {
		d, err := f.Allow(ctx, "acct-3", tight, 0)
		require.NoError(t, err)
		if d.Allowed {
			allowed++
		}
	}
	require.Equal(t, 3, allowed)

	require.NoError(t, proxy.Restore())
	require.Eventually(t, f.SharedStoreUp, 5*time.Second, 20*time.Millisecond, "back on Redis once it answers")
	d, err = f.Allow(ctx, "acct-4", limit, 0)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	n, err = direct.Exists(ctx, prefix+"acct-4").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "shared again")

	out := logs.String()
	require.Equal(t, 1, strings.Count(out, "Redis does not answer"), out)
	require.Equal(t, 1, strings.Count(out, "Redis answers again"), out)

	_, err = f.AllowAll(ctx, 0, Check{Key: "", Limit: limit})
	require.ErrorIs(t, err, ErrEmptyKey, "bad input is still an error")
}
