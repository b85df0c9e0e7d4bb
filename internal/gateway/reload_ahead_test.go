package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/platform/atonce"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

// heldLists is access's store counting its reads, one per reload of an
// account, each held until the gate opens while one is set.
type heldLists struct {
	*access.Store
	n    atomic.Int64
	gate atomic.Pointer[chan struct{}]
}

func (h *heldLists) Models(ctx context.Context, accountID int64) ([]string, error) {
	h.n.Add(1)
	if g := h.gate.Load(); g != nil {
		<-*g
	}
	return h.Store.Models(ctx, accountID)
}

func (h *heldLists) hold() (release func()) {
	g := make(chan struct{})
	h.gate.Store(&g)
	return func() { h.gate.Store(nil); close(g) }
}

// An account in steady use is reloaded in the background past half the
// cache TTL: no reserve waits on that reload, however many come at once;
// another process's change is obeyed within the TTL, and a change heard
// here is not undone by a reload begun before it.
func TestAccountReloadedAheadOfExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	const ttl = 5 * time.Second
	lists := &heldLists{Store: access.NewStore(b.pool)}
	gw, err := New(Deps{Pool: b.pool, Ledger: b.ledger, Pricing: pricing.New(b.pool), Models: lists,
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{})},
		Options{Now: b.clock.Now, Secret: []byte("gateway-test-secret-0123456789"), CacheTTL: ttl})
	require.NoError(t, err)
	acct := b.account(t, b.live, uniq(t, "a"), acctOpts{promo: "1000"})
	cached := func() *accountInfo {
		v, ok := gw.byID.Load(acct.ID)
		if !ok {
			return nil
		}
		return v.(*accountInfo)
	}
	reserve := func() error {
		_, err := gw.ReserveAccount(ctx, b.live, acct.ID, ReserveInput{Model: "deepseek-chat", MaxInputTokens: 10,
			IdempotencyKey: uniq(t, "r")})
		return err
	}
	// reserves makes 64 at once and fails if they take over 5 s.
	reserves := func() {
		t.Helper()
		failed, ok := atonce.Run(64, 5*time.Second, reserve)
		require.True(t, ok, "the reserves waited on the reload")
		require.Zero(t, failed)
	}

	require.NoError(t, reserve()) // first use: read on the call's path
	require.EqualValues(t, 1, lists.n.Load())
	first := cached().at
	b.clock.Advance(ttl/2 - time.Second) // before half: the cache alone
	require.NoError(t, reserve())
	require.EqualValues(t, 1, lists.n.Load())

	t.Run("PastHalfServedWhileOneReloadRunsBehind", func(t *testing.T) {
		release := lists.hold()
		b.clock.Advance(1500 * time.Millisecond)
		reserves()
		require.Eventually(t, func() bool { return lists.n.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
		require.Equal(t, first, cached().at, "served the copy while the reload is held")
		release()
		require.Eventually(t, func() bool { return cached().at.After(first) }, 5*time.Second, 5*time.Millisecond)
		require.EqualValues(t, 2, lists.n.Load(), "64 reserves past half the TTL: one reload")
	})

	t.Run("ChangeElsewhereObeyedWithinTheTTL", func(t *testing.T) {
		rpm := int64(7)
		require.NoError(t, b.gw.Limits.Set(ctx, acct.ID, Limits{RPM: &rpm})) // another process's change
		read := cached().at
		b.clock.Advance(ttl/2 + 100*time.Millisecond)
		require.NoError(t, reserve())
		require.Eventually(t, func() bool { c := cached(); return c.own.RPM != nil && *c.own.RPM == 7 },
			5*time.Second, 5*time.Millisecond, "read again behind the call")
		require.True(t, cached().at.Sub(read) < ttl)

		// No call past half the TTL: a copy as old as the TTL is not
		// served, the reserve waits for the reload.
		require.NoError(t, b.gw.Limits.Set(ctx, acct.ID, Limits{}))
		b.clock.Advance(ttl)
		require.NoError(t, reserve())
		require.Nil(t, cached().own.RPM, "the change is in the copy the reserve used")
	})

	t.Run("ReservesPastTheTTLShareOneReload", func(t *testing.T) {
		b.clock.Advance(ttl)
		before := lists.n.Load()
		release := lists.hold()
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if reserve() != nil {
					failed.Add(1)
				}
			}()
		}
		require.Eventually(t, func() bool { return lists.n.Load() == before+1 }, 5*time.Second, 5*time.Millisecond)
		time.Sleep(50 * time.Millisecond) // the other reserves join it
		release()
		wg.Wait()
		require.Zero(t, failed.Load())
		require.Equal(t, before+1, lists.n.Load(), "64 reserves past the TTL: one reload")
	})

	// A change heard here (Forget: an allow-list changed) while a reload
	// ahead runs: that reload's copy, which may not show it, is not kept.
	t.Run("ForgetDuringAReloadAhead", func(t *testing.T) {
		b.clock.Advance(ttl/2 + 100*time.Millisecond)
		before := lists.n.Load()
		release := lists.hold()
		require.NoError(t, reserve())
		require.Eventually(t, func() bool { return lists.n.Load() == before+1 }, 5*time.Second, 5*time.Millisecond)
		gw.Forget(acct.ID)
		release()
		require.Eventually(t, func() bool { return !gw.ahead.Running(acct.ID) }, 5*time.Second, 5*time.Millisecond)
		require.Nil(t, cached(), "the reload begun before the change was not kept")
		require.NoError(t, reserve())
		require.Equal(t, before+2, lists.n.Load(), "the next reserve read the account again")
	})
}
