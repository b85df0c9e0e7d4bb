package gateway

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a movable clock shared by the ledger and the gateway.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

type testBundle struct {
	pool   *pgxpool.Pool
	ledger *ledger.Ledger
	gw     *Service
	costs  *costs.Service
	clock  *clock
	live   Key
	test   Key
}

var sharedOnce sync.Once

// setup builds a Service over the package's database (the default rate card
// published once) with its own clock; opts may change the options, and
// trial the ledger's (accounts start in trial at ledger.DefaultTrialCap, as
// in the server).
func setup(t *testing.T, opts Options, trial ...ledger.Options) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{clock: &clock{}}
	b.pool = dbtest.Pool(t)
	sharedOnce.Do(func() {
		_, err := pricing.New(b.pool).EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
		require.NoError(t, err)
		_, err = costs.New(b.pool).EnsureDemo(ctx, "test")
		require.NoError(t, err)
	})
	lo := ledger.Options{TrialCap: ledger.DefaultTrialCap}
	if len(trial) > 0 {
		lo = trial[0]
	}
	lo.Now = b.clock.Now
	b.ledger = ledger.New(b.pool, lo)
	t.Cleanup(b.ledger.Close)
	opts.Now = b.clock.Now
	opts.Secret = []byte("gateway-test-secret-0123456789")
	var err error
	b.costs = costs.New(b.pool)
	b.gw, err = New(Deps{Pool: b.pool, Ledger: b.ledger, Pricing: pricing.New(b.pool), Costs: b.costs,
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{})}, opts)
	require.NoError(t, err)
	b.live, _, err = b.gw.Keys.Create(ctx, ledger.ModeLive, "live "+t.Name())
	require.NoError(t, err)
	b.test, _, err = b.gw.Keys.Create(ctx, ledger.ModeTest, "test "+t.Name())
	require.NoError(t, err)
	return b
}

var uniqN atomic.Int64

// uniq makes an external id unique to the test and the run (tests repeat
// under -count on one database).
func uniq(t *testing.T, s string) string {
	return fmt.Sprintf("%s-%s-%d", strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), s, uniqN.Add(1))
}

type acctOpts struct {
	kind       ledger.AccountKind
	parent     string
	unverified bool
	promo      string // granted promo credit, "" none
	rpm        *int64
}

func (b *testBundle) account(t *testing.T, key Key, ext string, o acctOpts) AccountView {
	t.Helper()
	in := AccountInput{Kind: o.kind, Parent: o.parent, RPM: o.rpm}
	if !o.unverified {
		in.Verification = &VerificationInput{Status: "verified", Reference: "ref-" + ext}
	}
	v, _, err := b.gw.PutAccount(context.Background(), key, ext, in)
	require.NoError(t, err)
	if o.promo != "" {
		_, err := b.gw.Grant(context.Background(), key, ext, GrantInput{Amount: decimal.RequireFromString(o.promo),
			Kind: ledger.LotPromo, ReasonCode: "test", IdempotencyKey: "promo-" + ext})
		require.NoError(t, err)
	}
	return v
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func requireDec(t *testing.T, want string, got decimal.Decimal, msg ...any) {
	t.Helper()
	require.True(t, d(want).Equal(got), "want %s, got %s %v", want, got, fmt.Sprint(msg...))
}

// A reservation holds max_input × input rate + max_output × output rate of
// the card in force (per_request: one request; free: nothing), and the
// ledger holds exactly that.
func TestReservationHoldFollowsTheRateCard(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name, model string
		in, out     int64
		hold        string
	}{
		// deepseek-chat: ¥2 / ¥8 per 1M = 2 / 8 credits per 1k.
		{"TokenModel", "deepseek-chat", 1000, 2000, "18"},
		{"OneTokenEach", "deepseek-chat", 1, 1, "0.01"},
		// deepseek-reasoner: 4 / 16 per 1k; 333 × 0.004 + 777 × 0.016.
		{"OddCounts", "deepseek-reasoner", 333, 777, "13.764"},
		{"OutputOnly", "deepseek-chat", 0, 500, "4"},
		// wanx-v1: ¥0.16 a call = 160 credits, whatever the tokens.
		{"PerRequest", "wanx-v1", 5000, 5000, "160"},
		{"Free", "glm-4-flash", 100000, 100000, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext := uniq(t, "a")
			b.account(t, b.live, ext, acctOpts{promo: "1000"})
			r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: tc.model, MaxInputTokens: tc.in,
				MaxOutputTokens: tc.out, IdempotencyKey: "k"})
			require.NoError(t, err)
			requireDec(t, tc.hold, r.Reserved)
			bal, err := b.gw.Balance(ctx, b.live, ext)
			require.NoError(t, err)
			requireDec(t, tc.hold, bal.Reserved, "the ledger holds the same")
			requireDec(t, "1000", bal.Available.Add(bal.Reserved))
		})
	}
	t.Run("UnknownModel", func(t *testing.T) {
		ext := uniq(t, "a")
		b.account(t, b.live, ext, acctOpts{promo: "10"})
		_, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "gpt-17", MaxInputTokens: 1, IdempotencyKey: "k"})
		require.ErrorIs(t, err, pricing.ErrUnknownModel)
	})
	t.Run("HoldLargerThanBalance", func(t *testing.T) {
		ext := uniq(t, "a")
		b.account(t, b.live, ext, acctOpts{promo: "17.99"})
		_, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: 1000,
			MaxOutputTokens: 2000, IdempotencyKey: "k"})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
	})
}

// The outcome given at commit decides what is charged; the rest of the
// hold goes back.
func TestCommitOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name             string
		in               CommitInput
		charged, release string
	}{
		// Hold: 1000 in × 2 + 2000 out × 8 per 1k = 18.
		{"Completed", CommitInput{InputTokens: 1000, OutputTokens: 1000, CacheHitTokens: 1000}, "10.5", "7.5"},
		{"CompletedIsTheDefault", CommitInput{InputTokens: 500}, "1", "17"},
		{"ClientDisconnectedChargesWhatWasProduced", CommitInput{InputTokens: 1000, OutputTokens: 250, Outcome: OutcomeClientDisconnected}, "4", "14"},
		{"UpstreamErrorChargesNothing", CommitInput{Outcome: OutcomeUpstreamError}, "0", "18"},
		{"UpstreamErrorWithTokensChargesThem", CommitInput{InputTokens: 1000, Outcome: OutcomeUpstreamError}, "2", "16"},
		{"MoreThanHeldIsChargedInFull", CommitInput{InputTokens: 1000, OutputTokens: 3000}, "26", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext := uniq(t, "a")
			b.account(t, b.live, ext, acctOpts{promo: "100"})
			r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: 1000,
				MaxOutputTokens: 2000, IdempotencyKey: "k", SessionID: "s"})
			require.NoError(t, err)
			c, err := b.gw.Commit(ctx, b.live, r.ID, tc.in)
			require.NoError(t, err)
			requireDec(t, tc.charged, c.Charged)
			requireDec(t, tc.release, c.Released)
			requireDec(t, "100", c.Available.Add(c.Charged), "available is what was not charged")
			bal, err := b.gw.Balance(ctx, b.live, ext)
			require.NoError(t, err)
			require.True(t, bal.Reserved.IsZero(), "nothing stays held")
		})
	}
	t.Run("UnknownOutcome", func(t *testing.T) {
		ext := uniq(t, "a")
		b.account(t, b.live, ext, acctOpts{promo: "100"})
		r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: "k"})
		require.NoError(t, err)
		_, err = b.gw.Commit(ctx, b.live, r.ID, CommitInput{Outcome: "timeout"})
		require.ErrorIs(t, err, ErrInvalidRequest)
		fe, ok := fielderr.As(err)
		require.True(t, ok)
		require.Equal(t, "invalid", fe.Code("outcome"))
	})
	t.Run("ForgedIDIsNotFound", func(t *testing.T) {
		_, err := b.gw.Commit(ctx, b.live, "rsv_AAAAAAAAAAAAAAAAAAAAAAAAAAAA", CommitInput{})
		require.ErrorIs(t, err, ErrNotFound)
	})
}

// An unverified account may spend granted credit up to the trial cap, in
// charges plus what its open reservations hold, and no paid credit.
func TestTrialCreditCapBoundary(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{TrialLimit: ratelimit.Limit{RPM: 1000, TPM: 10_000_000}}, ledger.Options{TrialCap: d("10")})
	ctx := context.Background()
	ext := uniq(t, "a")
	b.account(t, b.live, ext, acctOpts{unverified: true, promo: "100"})
	reserve := func(key string, in int64) (ReservationView, error) {
		return b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: in, IdempotencyKey: key})
	}
	// deepseek-chat input: 2 credits per 1k, so 5,000 tokens hold exactly the cap.
	_, err := reserve("over", 5001)
	require.ErrorIs(t, err, ErrVerificationRequired, "10.002 is past the cap of 10")
	r, err := reserve("exact", 5000)
	require.NoError(t, err, "exactly the cap is allowed")
	_, err = reserve("one-more", 1)
	require.ErrorIs(t, err, ErrVerificationRequired, "the open hold counts")
	_, err = b.gw.Commit(ctx, b.live, r.ID, CommitInput{InputTokens: 4000}) // charges 8
	require.NoError(t, err)
	_, err = reserve("rest", 1000) // 8 charged + 2 = 10
	require.NoError(t, err)

	// Usage events hit the same cap: 8 charged + 2 held, nothing is left.
	res, err := b.gw.IngestUsage(ctx, b.live, UsageBatch{Events: []UsageEvent{{IdempotencyKey: "u", Account: ext,
		Model: "deepseek-chat", InputTokens: 1, OccurredAt: b.clock.Now()}}})
	require.NoError(t, err)
	require.Equal(t, RejectVerificationRequired, res.Rejected[0].Code)

	// Verified, the cap no longer applies.
	_, _, err = b.gw.PutAccount(ctx, b.live, ext, AccountInput{Verification: &VerificationInput{Status: "verified", Reference: "r"}})
	require.NoError(t, err)
	_, err = reserve("after", 20000)
	require.NoError(t, err)

	t.Run("PaidCreditNeedsVerification", func(t *testing.T) {
		ext := uniq(t, "paid")
		v := b.account(t, b.live, ext, acctOpts{unverified: true})
		_, err := b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: v.ID, Kind: ledger.LotPaid, Amount: d("50"),
			SourceRef: "order", Actor: "test", ReasonCode: "topup", IdempotencyKey: "paid-" + ext})
		require.NoError(t, err)
		_, err = b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: "k"})
		require.ErrorIs(t, err, ErrVerificationRequired)
	})
}

// Each event of a batch is judged on its own; the batch itself must hold
// 1 to MaxBatch events.
func TestUsageBatchValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{MaxBatch: 20})
	ctx := context.Background()
	// The card took effect at setup; move 8 days on so the late-event
	// window's edge lies after it.
	b.clock.Advance(8 * 24 * time.Hour)
	now := b.clock.Now()
	ext := uniq(t, "a")
	b.account(t, b.live, ext, acctOpts{promo: "1000"})

	_, err := b.gw.IngestUsage(ctx, b.live, UsageBatch{})
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = b.gw.IngestUsage(ctx, b.live, UsageBatch{Events: make([]UsageEvent, 21)})
	require.ErrorIs(t, err, ErrInvalidRequest, "more than MaxBatch")

	ev := func(key string, at time.Time, edit func(*UsageEvent)) UsageEvent {
		e := UsageEvent{IdempotencyKey: key, Account: ext, Model: "deepseek-chat", InputTokens: 1000, OccurredAt: at}
		if edit != nil {
			edit(&e)
		}
		return e
	}
	events := []UsageEvent{
		ev("ok", now, nil),
		ev("late-edge", now.Add(-7*24*time.Hour+time.Minute), nil),
		ev("too-old", now.Add(-7*24*time.Hour-time.Minute), nil),
		ev("future-edge", now.Add(4*time.Minute), nil),
		ev("in-future", now.Add(6*time.Minute), nil),
		ev("", now, nil),
		ev("negative", now, func(e *UsageEvent) { e.OutputTokens = -1 }),
		ev("no-time", time.Time{}, nil),
		ev("ghost", now, func(e *UsageEvent) { e.Account = uniq(t, "ghost") }),
		ev("model", now, func(e *UsageEvent) { e.Model = "gpt-17" }),
		ev("ok", now, nil), // the same event again: charged once
	}
	res, err := b.gw.IngestUsage(ctx, b.live, UsageBatch{Events: events})
	require.NoError(t, err)
	codes := map[int]string{}
	for _, r := range res.Rejected {
		codes[r.Index] = r.Code
	}
	require.Equal(t, map[int]string{2: RejectTooOld, 4: RejectInFuture, 5: RejectInvalid, 6: RejectInvalid,
		7: RejectInvalid, 8: RejectUnknownAccount, 9: RejectUnknownModel}, codes)
	require.Equal(t, 3, res.Accepted, "ok, late-edge and future-edge")
	require.Equal(t, 1, res.Duplicates)
	res, err = b.gw.IngestUsage(ctx, b.live, UsageBatch{Events: []UsageEvent{ev("ok", now, func(e *UsageEvent) { e.InputTokens = 2000 })}})
	require.NoError(t, err)
	require.Equal(t, RejectIdempotencyConflict, res.Rejected[0].Code, "the key with another body")
	bal, err := b.gw.Balance(ctx, b.live, ext)
	require.NoError(t, err)
	requireDec(t, "994", bal.Available, "three events of 2 credits each")
}

// A key is checked against its hash; a verified key is cached for the TTL,
// revocation works at once on the revoking server and within the TTL on
// the others.
func TestKeyAuthenticationCacheAndRevocation(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	now := time.Now()
	var mu sync.Mutex
	tick := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(dt time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(dt) }
	a, other := NewKeyStore(pool, time.Minute), NewKeyStore(pool, time.Minute)
	a.now, other.now = tick, tick

	k, secret, err := a.Create(ctx, ledger.ModeLive, "k "+t.Name())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, "sk_live_"))
	var stored []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT hash FROM api_keys WHERE id = $1`, k.ID).Scan(&stored))
	require.NotContains(t, string(stored), secret[keyPrefixLen:], "only the hash is stored")

	got, err := a.Authenticate(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, k.ID, got.ID)
	require.Equal(t, ledger.ModeLive, got.Mode)
	_, err = other.Authenticate(ctx, secret)
	require.NoError(t, err)

	forged := secret[:len(secret)-1] + string("ab"[0]+byte(secret[len(secret)-1])%2)
	_, err = a.Authenticate(ctx, forged)
	require.ErrorIs(t, err, ErrUnauthorized, "same prefix, other secret")
	for _, s := range []string{"", "sk_live_short", "pk_live_" + secret[8:]} {
		_, err = a.Authenticate(ctx, s)
		require.ErrorIs(t, err, ErrUnauthorized)
	}

	require.NoError(t, a.Revoke(ctx, k.ID))
	_, err = a.Authenticate(ctx, secret)
	require.ErrorIs(t, err, ErrUnauthorized, "at once on the revoking server")
	_, err = other.Authenticate(ctx, secret)
	require.NoError(t, err, "another server trusts its cache for the TTL")
	advance(time.Minute)
	_, err = other.Authenticate(ctx, secret)
	require.ErrorIs(t, err, ErrUnauthorized, "and refuses the key after it")
	require.ErrorIs(t, a.Revoke(ctx, k.ID), ErrKeyRevoked, "revoked already")
	require.ErrorIs(t, a.Revoke(ctx, 1<<40), ErrNotFound, "no such key")
}

// CreateTx and RevokeTx write only when the caller's transaction commits;
// a revocation rolled back leaves the key working. Names are trimmed and
// bounded, and List shows keys newest first, revoked ones included.
func TestKeysInTheCallersTransaction(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	ks := NewKeyStore(pool, time.Minute)
	countByName := func(name string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE name = $1`, name).Scan(&n))
		return n
	}

	name := "rolled back " + t.Name()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, secret, err := ks.CreateTx(ctx, tx, ledger.ModeLive, "  "+name+"  ")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Zero(t, countByName(name))
	_, err = ks.Authenticate(ctx, secret)
	require.ErrorIs(t, err, ErrUnauthorized, "a key whose transaction rolled back does not exist")

	name = "kept " + t.Name()
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	k, secret, err := ks.CreateTx(ctx, tx, ledger.ModeTest, "  "+name+"  ")
	require.NoError(t, err)
	require.Equal(t, name, k.Name, "trimmed")
	require.NoError(t, tx.Commit(ctx))
	_, err = ks.Authenticate(ctx, secret)
	require.NoError(t, err)

	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	revoked, err := ks.RevokeTx(ctx, tx, k.ID)
	require.NoError(t, err)
	require.NotNil(t, revoked.RevokedAt)
	require.NoError(t, tx.Rollback(ctx))
	ks.Forget(k.ID)
	_, err = ks.Authenticate(ctx, secret)
	require.NoError(t, err, "the revocation rolled back")

	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	_, err = ks.RevokeTx(ctx, tx, k.ID)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	_, err = ks.Authenticate(ctx, secret)
	require.NoError(t, err, "still cached until Forget")
	ks.Forget(k.ID)
	_, err = ks.Authenticate(ctx, secret)
	require.ErrorIs(t, err, ErrUnauthorized)

	newer, _, err := ks.Create(ctx, ledger.ModeLive, strings.Repeat("名", KeyNameMaxLen))
	require.NoError(t, err, "the limit counts characters, not bytes")
	_, _, err = ks.Create(ctx, ledger.ModeLive, strings.Repeat("x", KeyNameMaxLen+1))
	fe, ok := fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, "too_long", fe.Code("name"))
	_, _, err = ks.Create(ctx, ledger.ModeLive, "   ")
	fe, ok = fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, "required", fe.Code("name"))
	_, _, err = ks.Create(ctx, "staging", "x")
	fe, ok = fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, "invalid_key_mode", fe.Code("mode"))

	all, err := ks.List(ctx)
	require.NoError(t, err)
	ids := map[int64]int{}
	for i, x := range all {
		ids[x.ID] = i
		require.NotContains(t, x.Prefix, secret[keyPrefixLen:])
	}
	require.Contains(t, ids, k.ID, "revoked keys are listed")
	require.Less(t, ids[newer.ID], ids[k.ID], "newest first")
	require.NotNil(t, all[ids[k.ID]].RevokedAt)
}

// A sandbox key never reaches a live account, nor the reverse, even with
// the same external id or a reservation id of the other mode.
func TestSandboxAndLiveNeverMeet(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	ext := uniq(t, "acme")
	live := b.account(t, b.live, ext, acctOpts{promo: "100"})
	_, err := b.gw.Balance(ctx, b.test, ext)
	require.ErrorIs(t, err, ErrNotFound, "no sandbox account of that name yet")
	test := b.account(t, b.test, ext, acctOpts{promo: "5"})
	require.NotEqual(t, live.ID, test.ID)
	require.Equal(t, ledger.ModeTest, test.Mode)

	r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: 1000, IdempotencyKey: "k"})
	require.NoError(t, err)
	_, err = b.gw.Commit(ctx, b.test, r.ID, CommitInput{InputTokens: 1000})
	require.ErrorIs(t, err, ErrNotFound, "a live reservation id is unknown to a sandbox key")
	_, err = b.gw.Release(ctx, b.test, r.ID)
	require.ErrorIs(t, err, ErrNotFound)

	_, err = b.gw.Grant(ctx, b.test, ext, GrantInput{Amount: d("50"), Kind: ledger.LotPromo, ReasonCode: "x", IdempotencyKey: "g2"})
	require.NoError(t, err)
	lb, err := b.gw.Balance(ctx, b.live, ext)
	require.NoError(t, err)
	requireDec(t, "98", lb.Available, "the sandbox grant did not reach the live account")
	tb, err := b.gw.Balance(ctx, b.test, ext)
	require.NoError(t, err)
	requireDec(t, "55", tb.Available)
}

// Limits set through the store (what the portal does) are the ones the
// reservation path enforces, at once on this server; a sub-account's calls
// also draw on its enterprise's bucket.
func TestLimitsAreOneStoreAndSubAccountsShareTheEnterpriseBucket(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	ent := uniq(t, "ent")
	b.account(t, b.live, ent, acctOpts{kind: ledger.AccountEnterprise, promo: "1000"})
	sub := b.account(t, b.live, uniq(t, "sub"), acctOpts{kind: ledger.AccountSub, parent: ent})
	reserve := func(key string) error {
		_, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: sub.ExternalID, Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: key})
		return err
	}
	require.NoError(t, reserve("warm")) // cached now, with the default limits

	two := int64(2)
	require.NoError(t, b.gw.Limits.Set(ctx, sub.ID, Limits{RPM: &two}))
	got, err := b.gw.Limits.Get(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, int64(2), *got.RPM)
	require.Nil(t, got.TPM, "unset: the default")
	require.NoError(t, reserve("a"), "the bucket starts full at the new limit")
	require.NoError(t, reserve("b"))
	var rl *RateLimitedError
	require.ErrorAs(t, reserve("c"), &rl)
	require.False(t, rl.Enterprise)
	require.Equal(t, 30, rl.RetryAfterSeconds())

	neg := int64(-1)
	require.ErrorIs(t, b.gw.Limits.Set(ctx, sub.ID, Limits{TPM: &neg}), ErrInvalidRequest)

	// The enterprise at 1 RPM: its own call uses it up, then the
	// sub-account is refused by the enterprise's bucket.
	entAcct, err := b.ledger.AccountByExternalID(ctx, ledger.ModeLive, ent)
	require.NoError(t, err)
	sub2 := b.account(t, b.live, uniq(t, "sub2"), acctOpts{kind: ledger.AccountSub, parent: ent})
	oneRPM := int64(1)
	require.NoError(t, b.gw.Limits.Set(ctx, entAcct.ID, Limits{RPM: &oneRPM}))
	require.NoError(t, b.gw.Limits.Set(ctx, sub2.ID, Limits{RPM: &oneRPM}))
	_, err = b.gw.Reserve(ctx, b.live, ReserveInput{Account: ent, Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: "e"})
	require.NoError(t, err)
	_, err = b.gw.Reserve(ctx, b.live, ReserveInput{Account: sub2.ExternalID, Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: "d"})
	require.ErrorAs(t, err, &rl)
	require.True(t, rl.Enterprise, "the sub-account's own bucket has room; the enterprise's refuses")
	require.ErrorIs(t, rl, ErrEnterpriseRateLimited)
	require.ErrorIs(t, rl, ErrRateLimited)
	require.Equal(t, 60, rl.RetryAfterSeconds())
	// Both or neither: the call the enterprise refused cost sub2's own
	// bucket (one request a minute) nothing, so once the enterprise's limit
	// is lifted (zero: unlimited), sub2's call goes through at once.
	zero := int64(0)
	require.NoError(t, b.gw.Limits.Set(ctx, entAcct.ID, Limits{RPM: &zero}))
	_, err = b.gw.Reserve(ctx, b.live, ReserveInput{Account: sub2.ExternalID, Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: "d2"})
	require.NoError(t, err, "sub2's one request of the minute is still there")
	_, err = b.gw.Reserve(ctx, b.live, ReserveInput{Account: sub2.ExternalID, Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: "d3"})
	require.ErrorAs(t, err, &rl)
	require.False(t, rl.Enterprise, "now sub2's own bucket is spent")

	// Another server (its own cache and buckets) sees a change within the cache TTL.
	other, err := New(Deps{Pool: b.pool, Ledger: b.ledger, Pricing: pricing.New(b.pool),
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{})},
		Options{Now: b.clock.Now, Secret: []byte("gateway-test-secret-0123456789"), CacheTTL: 5 * time.Second})
	require.NoError(t, err)
	solo := b.account(t, b.live, uniq(t, "solo"), acctOpts{promo: "100"})
	reserveOn := func(s *Service, key string) error {
		_, err := s.Reserve(ctx, b.live, ReserveInput{Account: solo.ExternalID, Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: key})
		return err
	}
	require.NoError(t, reserveOn(other, "o1")) // cached there with the default
	require.NoError(t, b.gw.Limits.Set(ctx, solo.ID, Limits{RPM: &two}))
	require.NoError(t, reserveOn(other, "o2"))
	require.NoError(t, reserveOn(other, "o3"), "within the TTL the other server still has the default")
	b.clock.Advance(6 * time.Second)
	require.NoError(t, reserveOn(other, "o4"))
	require.NoError(t, reserveOn(other, "o5"))
	require.ErrorAs(t, reserveOn(other, "o6"), &rl, "after the TTL it enforces the new limit")
}

// A free model's call holds nothing but leaves a record: committed with its
// tokens, or released; the session sums it with zero credits.
func TestFreeModelCallsAreRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	ext := uniq(t, "a")
	b.account(t, b.live, ext, acctOpts{promo: "10"})
	reserve := func(key string) ReservationView {
		r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "glm-4-flash", MaxInputTokens: 1000,
			MaxOutputTokens: 1000, IdempotencyKey: key, SessionID: "s"})
		require.NoError(t, err)
		require.True(t, r.Reserved.IsZero())
		return r
	}
	r := reserve("k1")
	require.Equal(t, r.ID, reserve("k1").ID, "a retry is the same call")
	_, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "glm-4-flash", MaxInputTokens: 1, IdempotencyKey: "k1"})
	require.ErrorIs(t, err, ErrIdempotencyConflict)
	c, err := b.gw.Commit(ctx, b.live, r.ID, CommitInput{InputTokens: 700, OutputTokens: 300})
	require.NoError(t, err)
	require.True(t, c.Charged.IsZero())
	requireDec(t, "10", c.Available)
	_, err = b.gw.Release(ctx, b.live, r.ID)
	require.ErrorIs(t, err, ledger.ErrReservationClosed)

	released := reserve("k2")
	for range 2 {
		_, err = b.gw.Release(ctx, b.live, released.ID)
		require.NoError(t, err, "releasing twice is fine")
	}
	_, err = b.gw.Commit(ctx, b.live, released.ID, CommitInput{InputTokens: 1})
	require.ErrorIs(t, err, ledger.ErrReservationClosed)

	s, err := b.gw.Session(ctx, b.live, ext, "s")
	require.NoError(t, err)
	require.Equal(t, int64(1), s.Calls, "the released call is not a call")
	require.Equal(t, int64(700), s.InputTokens)
	require.Equal(t, int64(300), s.OutputTokens)
	require.True(t, s.Charged.IsZero())
	require.Equal(t, "glm-4-flash", s.Models[0].Model)
	_, err = b.gw.Session(ctx, b.test, ext, "s")
	require.ErrorIs(t, err, ErrNotFound, "sessions are per mode")
}

// Two revocations of one key racing each other: one revokes it, the other
// is told it already is (it waits for the first transaction's row lock).
func TestRevokingAKeyTwiceAtOnce(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	ks := NewKeyStore(pool, time.Minute)
	k, _, err := ks.Create(ctx, ledger.ModeLive, "raced "+t.Name())
	require.NoError(t, err)

	first, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = first.Rollback(ctx) }()
	_, err = ks.RevokeTx(ctx, first, k.ID)
	require.NoError(t, err)
	second := make(chan error, 1)
	go func() { second <- ks.Revoke(ctx, k.ID) }()
	select {
	case err := <-second:
		t.Fatalf("the second revocation did not wait for the first: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, first.Commit(ctx))
	require.ErrorIs(t, <-second, ErrKeyRevoked)
}
