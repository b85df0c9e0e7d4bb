package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// allowAllBehaviour is what both limiters must do for a call counted
// against several keys (a sub-account and its enterprise). Each key name is
// made unique with prefix; nothing here waits for a refill, so it runs the
// same against Redis's real clock.
func allowAllBehaviour(t *testing.T, lim Limiter, prefix string) {
	ctx := context.Background()
	allowAll := func(tokens int64, checks ...Check) Decision {
		t.Helper()
		d, err := lim.AllowAll(ctx, tokens, checks...)
		require.NoError(t, err)
		return d
	}

	t.Run("BothOrNeither", func(t *testing.T) {
		sub, ent := prefix+"both-sub", prefix+"both-ent"
		subLimit, entLimit := Limit{RPM: 5}, Limit{RPM: 1}
		require.True(t, allowAll(0, Check{sub, subLimit}, Check{ent, entLimit}).Allowed)
		d := allowAll(0, Check{sub, subLimit}, Check{ent, entLimit})
		require.False(t, d.Allowed, "the enterprise's one request a minute is spent")
		require.Equal(t, 1, d.Refused, "the enterprise's bucket refused")
		require.InDelta(t, time.Minute, d.RetryAfter, float64(time.Second))
		for i := range 4 {
			require.True(t, allowAll(0, Check{sub, subLimit}).Allowed,
				"the refused call cost the sub-account nothing: call %d of its remaining 4", i)
		}
		require.False(t, allowAll(0, Check{sub, subLimit}).Allowed, "and then its minute is spent")
	})

	t.Run("TokensBothOrNeither", func(t *testing.T) {
		sub, ent := prefix+"tok-sub", prefix+"tok-ent"
		subLimit, entLimit := Limit{TPM: 1000}, Limit{TPM: 600}
		require.True(t, allowAll(500, Check{sub, subLimit}, Check{ent, entLimit}).Allowed)
		d := allowAll(500, Check{sub, subLimit}, Check{ent, entLimit})
		require.False(t, d.Allowed, "100 tokens left at the enterprise")
		require.Equal(t, 1, d.Refused)
		d, err := lim.Allow(ctx, sub, subLimit, 500)
		require.NoError(t, err)
		require.True(t, d.Allowed, "the sub-account still has its 500")
	})

	t.Run("TheLongestWaitIsReported", func(t *testing.T) {
		a, b := prefix+"wait-a", prefix+"wait-b"
		require.True(t, allowAll(0, Check{a, Limit{RPM: 60}}, Check{b, Limit{RPM: 1}}).Allowed)
		for allowAll(0, Check{a, Limit{RPM: 60}}).Allowed {
		}
		d := allowAll(0, Check{a, Limit{RPM: 60}}, Check{b, Limit{RPM: 1}})
		require.False(t, d.Allowed)
		require.Equal(t, 1, d.Refused, "b's minute outlasts a's second")
		require.Greater(t, d.RetryAfter, 50*time.Second)
	})

	t.Run("UnlimitedKeysAreSkipped", func(t *testing.T) {
		free, tight := prefix+"skip-free", prefix+"skip-tight"
		require.True(t, allowAll(0, Check{free, Limit{}}, Check{tight, Limit{RPM: 1}}).Allowed)
		d := allowAll(0, Check{free, Limit{}}, Check{tight, Limit{RPM: 1}})
		require.False(t, d.Allowed)
		require.Equal(t, 1, d.Refused, "the index is the caller's, unlimited keys included")
		require.True(t, allowAll(0, Check{free, Limit{}}).Allowed, "no limit, no refusal")
		require.True(t, allowAll(0).Allowed, "no key, nothing to refuse")
	})

	t.Run("BadKeys", func(t *testing.T) {
		_, err := lim.AllowAll(ctx, 0, Check{prefix + "dup", Limit{RPM: 1}}, Check{prefix + "dup", Limit{RPM: 5}})
		require.ErrorIs(t, err, ErrDuplicateKey)
		_, err = lim.AllowAll(ctx, 0, Check{prefix + "ok", Limit{RPM: 1}}, Check{"", Limit{RPM: 5}})
		require.ErrorIs(t, err, ErrEmptyKey)
	})

	t.Run("ConcurrentCallsInEitherOrderNeverExceedEitherLimit", func(t *testing.T) {
		a, b := prefix+"race-a", prefix+"race-b"
		la, lb := Limit{RPM: 30}, Limit{RPM: 20} // Redis refills in real time: one of a's every 2 s
		var allowed, onlyA atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for range 60 {
					checks := []Check{{a, la}, {b, lb}}
					if g%2 == 1 { // the other order: a lock order bug would deadlock here
						checks[0], checks[1] = checks[1], checks[0]
					}
					d, err := lim.AllowAll(ctx, 0, checks...)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						allowed.Add(1)
					}
					if d, err := lim.Allow(ctx, a, la, 0); err == nil && d.Allowed {
						onlyA.Add(1)
					}
				}
			})
		}
		wg.Wait()
		// 480 joint calls and 480 of a's own competed for a's 30: all of
		// it went, each call counted once on a.
		require.LessOrEqual(t, allowed.Load(), int64(20), "never more joint calls than b allows")
		require.Equal(t, int64(30), allowed.Load()+onlyA.Load(), "a paid for the joint calls and its own, nothing else")
		left := int64(0)
		for {
			d, err := lim.Allow(ctx, b, lb, 0)
			require.NoError(t, err)
			if !d.Allowed {
				break
			}
			left++
		}
		require.Equal(t, 20-allowed.Load(), left, "b paid for the joint calls allowed, and only those")
	})
}

func TestMemoryAllowAll(t *testing.T) {
	t.Parallel()
	b := setup(t, MemoryOptions{}) // frozen clock
	allowAllBehaviour(t, b.lim, "")
}

func TestRedisAllowAll(t *testing.T) {
	t.Parallel()
	a, _, _, _ := newRedisPair(t)
	allowAllBehaviour(t, a, "")
}

// TestMemoryAllowAllKeepsItsBucketsThroughEviction: with a full shard, the
// eviction that makes room for one key of the call never drops the other.
func TestMemoryAllowAllKeepsItsBucketsThroughEviction(t *testing.T) {
	t.Parallel()
	b := setup(t, MemoryOptions{Shards: 1, MaxKeysPerShard: 2})
	ctx := context.Background()
	sub, ent := Check{"sub", Limit{RPM: 2}}, Check{"ent", Limit{RPM: 2}}
	d, err := b.lim.AllowAll(ctx, 0, sub, ent)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	// A third key's call evicts one of them (the shard holds two); the
	// evicted one forgets its use, which may only loosen, never tighten.
	_, err = b.lim.Allow(ctx, "other", Limit{RPM: 1}, 0)
	require.NoError(t, err)
	require.LessOrEqual(t, b.lim.Len(), 2)
	// Both keys in one call into a full shard: both buckets survive the call.
	d, err = b.lim.AllowAll(ctx, 0, sub, ent)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.Equal(t, 2, b.lim.Len(), "the call's two buckets, the third key evicted for them")
	d, err = b.lim.AllowAll(ctx, 0, sub, ent)
	require.NoError(t, err)
	require.False(t, d.Allowed, "whichever bucket was kept across the eviction has spent its two")
}
