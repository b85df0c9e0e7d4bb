package plans

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// quotaSpec covers the "deepseek" group with 10 requests per rolling 5 h,
// 1,000 tokens per Shanghai day and 30 requests per week.
func quotaSpec(t *testing.T) Spec {
	s := testSpec(t)
	s.Items = []Item{{Group: "deepseek", Models: []string{"deepseek-chat", "deepseek-reasoner"}, Quotas: []Quota{
		{Unit: Requests, Window: Rolling(5), Limit: 10},
		{Unit: Tokens, Window: Day, Limit: 1_000},
		{Unit: Requests, Window: Week, Limit: 30},
	}}}
	return s
}

type quotaBundle struct {
	*subBundle
	quotas *Quotas
	cover  Coverage
}

func setupQuota(t *testing.T, start time.Time) *quotaBundle {
	t.Helper()
	ctx := context.Background()
	b := setupSubs(t, start)
	d, err := b.plans.CreateDraft(ctx, quotaSpec(t), "ops@example.com")
	require.NoError(t, err)
	b.plan, err = b.plans.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)
	_, _, err = b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	qb := &quotaBundle{subBundle: b, quotas: NewQuotas(dbtest.AppPool(t), QuotaOptions{Now: b.clock.Now, Writer: b.ledger})}
	qb.cover, err = qb.quotas.Cover(ctx, b.account, "deepseek-chat")
	require.NoError(t, err)
	require.True(t, qb.cover.Covered())
	require.Equal(t, "deepseek", qb.cover.Item.Key())
	return qb
}

var holdSeq atomic.Int64

func (b *quotaBundle) hold(tokens int64) (Held, error) {
	return b.quotas.Hold(context.Background(), HoldRequest{Coverage: b.cover, AccountID: b.account, Model: "deepseek-chat",
		IdempotencyKey: fmt.Sprintf("h%d", holdSeq.Add(1)), RequestHash: "x", Requests: 1, Tokens: tokens, TTL: time.Minute})
}

// TestQuotaHoldsExactlyUnderConcurrency: 64 calls racing for a quota of 10
// requests per 5 hours: exactly 10 hold, every other is refused with the
// instant the oldest use leaves the window, and a release makes room for
// exactly one more. What was held survives a new process (a new Quotas).
func TestQuotaHoldsExactlyUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	b := setupQuota(t, start)

	var held []Held
	var refused []*ExhaustedError
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := b.hold(10)
			mu.Lock()
			defer mu.Unlock()
			var ex *ExhaustedError
			switch {
			case err == nil:
				held = append(held, h)
			case errors.As(err, &ex):
				refused = append(refused, ex)
			default:
				t.Errorf("hold: %v", err)
			}
		}()
	}
	wg.Wait()
	require.Len(t, held, 10, "exactly the quota holds")
	require.Len(t, refused, 54)
	for _, ex := range refused {
		require.ErrorIs(t, ex, ErrQuotaExhausted)
		require.Equal(t, Rolling(5), ex.Quota.Window)
		require.EqualValues(t, 10, ex.Used)
		require.NotNil(t, ex.FreeAt)
		require.True(t, ex.FreeAt.Equal(start.Add(5*time.Hour)), "frees when the oldest use leaves: %s", ex.FreeAt)
	}

	restarted := NewQuotas(dbtest.AppPool(t), QuotaOptions{Now: b.clock.Now})
	b.quotas = restarted
	_, err := b.hold(10)
	require.ErrorIs(t, err, ErrQuotaExhausted, "a new process sees the same windows")

	_, err = b.quotas.Release(ctx, held[0].ID, b.account, b.account)
	require.NoError(t, err)
	again, err := b.quotas.Release(ctx, held[0].ID, b.account, b.account)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	_, err = b.hold(10)
	require.NoError(t, err, "a release gives its room back")
	_, err = b.hold(10)
	require.ErrorIs(t, err, ErrQuotaExhausted)

	b.clock.Set(start.Add(5*time.Hour + time.Second))
	_, err = b.hold(10)
	require.NoError(t, err, "the rolling window moved past the first uses")
}

// TestQuotaSettleTakesRoomAndReportsExcess: a commit above the hold takes
// what room the tokens window has and reports the rest as excess (charged
// as credits by the caller); below the hold gives the difference back.
func TestQuotaSettleTakesRoomAndReportsExcess(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	b := setupQuota(t, start)

	first, err := b.hold(600)
	require.NoError(t, err)
	second, err := b.hold(300)
	require.NoError(t, err)
	_, err = b.hold(200)
	var ex *ExhaustedError
	require.ErrorAs(t, err, &ex)
	require.Equal(t, Tokens, ex.Quota.Unit)
	day := time.Date(2026, 3, 11, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	require.True(t, ex.FreeAt.Equal(day), "a day window frees at Shanghai midnight: %s", ex.FreeAt)

	s, err := b.quotas.Settle(ctx, SettleRequest{PoolID: b.account, UseID: first.ID, AccountID: b.account, Requests: 1, InputTokens: 500, OutputTokens: 300})
	require.NoError(t, err)
	require.EqualValues(t, 700, s.Tokens, "the 100 tokens of room are taken")
	require.EqualValues(t, 100, s.ExcessTokens)
	replay, err := b.quotas.Settle(ctx, SettleRequest{PoolID: b.account, UseID: first.ID, AccountID: b.account, Requests: 1, InputTokens: 500, OutputTokens: 300})
	require.NoError(t, err)
	require.True(t, replay.Replayed)
	require.EqualValues(t, 100, replay.ExcessTokens)
	_, err = b.quotas.Settle(ctx, SettleRequest{PoolID: b.account, UseID: first.ID, AccountID: b.account, Requests: 1, InputTokens: 1})
	require.ErrorIs(t, err, ErrUseConflict)

	s2, err := b.quotas.Settle(ctx, SettleRequest{PoolID: b.account, UseID: second.ID, AccountID: b.account, Requests: 1, InputTokens: 100})
	require.NoError(t, err)
	require.EqualValues(t, 100, s2.Tokens)
	require.Zero(t, s2.ExcessTokens)
	_, err = b.hold(200)
	require.NoError(t, err, "the unused 200 tokens came back")
	_, err = b.quotas.Release(ctx, second.ID, b.account, b.account)
	require.ErrorIs(t, err, ErrUseClosed)

	usage, err := b.quotas.Usage(ctx, b.account)
	require.NoError(t, err)
	require.Len(t, usage, 3)
	require.EqualValues(t, 3, usage[0].Used, "rolling requests")
	require.EqualValues(t, 1_000, usage[1].Used, "day tokens: 700 + 100 + 200")
	require.True(t, usage[1].ResetAt.Equal(day))
	require.True(t, usage[0].ResetAt.Equal(start.Add(5*time.Hour)))
}

// TestQuotaReplaySweepAndStale: one key is one call; a hold never
// committed is released by the sweep; a plan no longer in force answers
// not covered.
func TestQuotaReplaySweepAndStale(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	b := setupQuota(t, start)

	r := HoldRequest{Coverage: b.cover, AccountID: b.account, Model: "deepseek-chat", IdempotencyKey: "same",
		RequestHash: "a", Requests: 1, Tokens: 100, TTL: time.Minute}
	h1, err := b.quotas.Hold(ctx, r)
	require.NoError(t, err)
	h2, err := b.quotas.Hold(ctx, r)
	require.NoError(t, err)
	require.Equal(t, h1.ID, h2.ID)
	require.True(t, h2.Replayed)
	r.RequestHash = "b"
	_, err = b.quotas.Hold(ctx, r)
	require.ErrorIs(t, err, ErrUseConflict)

	b.clock.Set(start.Add(2 * time.Minute))
	n, err := b.quotas.Sweep(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1)
	_, err = b.quotas.Settle(ctx, SettleRequest{PoolID: b.account, UseID: h1.ID, AccountID: b.account, Requests: 1})
	require.ErrorIs(t, err, ErrUseClosed, "the sweep released it")
	usage, err := b.quotas.Usage(ctx, b.account)
	require.NoError(t, err)
	require.Zero(t, usage[0].Used)

	// The term ends: the cached coverage is stale, and Hold says so.
	_, end := PeriodAt(start, Monthly, 0)
	b.clock.Set(end.Add(time.Hour))
	_, err = b.hold(1)
	require.ErrorIs(t, err, ErrNotFound)
	c, err := b.quotas.Cover(ctx, b.account, "deepseek-chat")
	require.NoError(t, err)
	require.False(t, c.Covered())

	require.NoError(t, b.quotas.SetPreference(ctx, b.account, WalletFirst, "test"))
	p, err := b.quotas.Preference(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, WalletFirst, p)
	_, err = ParsePreference("cheapest")
	require.ErrorIs(t, err, ErrInvalidPreference)
}

// TestQuotaKeyRemembersItWentToCredits: a call that found the quota
// exhausted and fell to credits keeps going there on retry, even after the
// window freed up, so one key is never paid twice.
func TestQuotaKeyRemembersItWentToCredits(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	b := setupQuota(t, start)
	var last Held
	for range 10 {
		h, err := b.hold(1)
		require.NoError(t, err)
		last = h
	}
	r := HoldRequest{Coverage: b.cover, AccountID: b.account, Model: "deepseek-chat", IdempotencyKey: "fell",
		RequestHash: "a", Requests: 1, Tokens: 1, TTL: time.Minute, Fallback: true}
	_, err := b.quotas.Hold(ctx, r)
	require.ErrorIs(t, err, ErrQuotaExhausted)
	_, err = b.quotas.Release(ctx, last.ID, b.account, b.account)
	require.NoError(t, err)
	_, err = b.quotas.Hold(ctx, r)
	require.ErrorIs(t, err, ErrDeclined, "the retry goes where the first went")
	r.IdempotencyKey, r.ReplayOnly = "new", true
	_, err = b.quotas.Hold(ctx, r)
	require.ErrorIs(t, err, ErrNoHold)
}

// TestRollingCountsMatchTheSum: through a day of holds, settles (more and
// less than held) and releases at random instants, the running count of
// the rolling window a hold reads (plan_quota_live) always equals the sum
// of the uses in the window (plan_quota_used, what the portal's bars read).
func TestRollingCountsMatchTheSum(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	b := setupQuota(t, start)
	// Room for the whole run, so that every hold is counted.
	b.cover.Item.Quotas = []Quota{{Unit: Requests, Window: Rolling(5), Limit: 1_000_000},
		{Unit: Tokens, Window: Rolling(5), Limit: 1_000_000_000}}
	pool := dbtest.AppPool(t)
	r := rand.New(rand.NewPCG(1, 2))
	var open []Held
	compare := func(step int) {
		for _, w := range windowsAt(b.cover.Subscription, b.cover.Item, b.clock.Now()) {
			arg, err := json.Marshal(w)
			require.NoError(t, err)
			var live, sum int64
			require.NoError(t, pool.QueryRow(ctx, `SELECT plan_quota_live($1, $2, $3), plan_quota_used($1, $2, $3)`,
				b.cover.Subscription.ID, b.cover.Item.Key(), arg).Scan(&live, &sum))
			require.Equal(t, sum, live, "step %d, %s window", step, w.Unit)
		}
	}
	for step := range 400 {
		b.clock.Set(b.clock.Now().Add(time.Duration(r.IntN(6)) * time.Minute))
		switch n := r.IntN(10); {
		case n < 5 || len(open) == 0:
			h, err := b.hold(int64(100 + r.IntN(900)))
			require.NoError(t, err)
			open = append(open, h)
		case n < 8:
			h := open[0]
			open = open[1:]
			_, err := b.quotas.Settle(ctx, SettleRequest{PoolID: b.account, UseID: h.ID, AccountID: b.account, Requests: 1,
				InputTokens: int64(r.IntN(1500)), OutputTokens: int64(r.IntN(500))})
			require.NoError(t, err)
		default:
			h := open[len(open)-1]
			open = open[:len(open)-1]
			_, err := b.quotas.Release(ctx, h.ID, b.account, b.account)
			require.NoError(t, err)
		}
		compare(step)
	}
	require.Greater(t, b.clock.Now().Sub(start), 10*time.Hour, "the run outlasts the window twice")
}

// TestAnotherProcessChangeReachesTheCacheAtOnce: a process trusting its
// cache for an hour still sees another process's change of the billing
// preference within moments, through NOTIFY plan_changes on a connection
// of the listener's own (it takes none of the pool's).
func TestAnotherProcessChangeReachesTheCacheAtOnce(t *testing.T) {
	ctx := context.Background()
	b := setupQuota(t, time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC))
	pool := dbtest.AppPool(t)
	cached := NewQuotas(pool, QuotaOptions{Now: b.clock.Now, CacheTTL: time.Hour})
	listenCtx, stop := context.WithCancel(ctx)
	defer stop()
	go cached.Listen(listenCtx)
	c, err := cached.Cover(ctx, b.account, "deepseek-chat")
	require.NoError(t, err)
	require.Equal(t, PlanFirst, c.Preference)
	acquired := pool.Stat().AcquiredConns()

	other := NewQuotas(pool, QuotaOptions{Now: b.clock.Now})
	// LISTEN may not have taken effect yet: set the preference until the
	// cached process hears of it.
	require.Eventually(t, func() bool {
		require.NoError(t, other.SetPreference(ctx, b.account, WalletOnly, "test"))
		c, err := cached.Cover(ctx, b.account, "deepseek-chat")
		require.NoError(t, err)
		return c.Preference == WalletOnly
	}, 5*time.Second, 50*time.Millisecond, "the change reaches the other process's cache")
	require.LessOrEqual(t, pool.Stat().AcquiredConns(), acquired, "the listener holds none of the pool's connections")
}
