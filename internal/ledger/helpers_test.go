package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a movable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type testBundle struct {
	ctx   context.Context
	l     *ledger.Ledger
	clock *clock
}

func setup(t *testing.T, opts ledger.Options) *testBundle {
	t.Helper()
	c := &clock{t: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	l := ledger.New(dbtest.Pool(t), opts)
	t.Cleanup(l.Close)
	return &testBundle{ctx: context.Background(), l: l, clock: c}
}

var keySeq atomic.Int64

func key() string { return fmt.Sprintf("k%d", keySeq.Add(1)) }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func requireDec(t *testing.T, want string, got decimal.Decimal, msg ...any) {
	t.Helper()
	require.Truef(t, d(want).Equal(got), "want %s, got %s %v", want, got, msg)
}

func (b *testBundle) account(t *testing.T, kind ledger.AccountKind) ledger.Account {
	t.Helper()
	a, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: kind, Name: t.Name()})
	require.NoError(t, err)
	return a
}

type lotOpts struct {
	kind    ledger.LotKind
	expires time.Duration // from the clock; 0 = none
}

func (b *testBundle) credit(t *testing.T, acc int64, amount string, o lotOpts) ledger.Lot {
	t.Helper()
	if o.kind == "" {
		o.kind = ledger.LotPaid
	}
	req := ledger.CreditRequest{AccountID: acc, Kind: o.kind, Amount: d(amount), IdempotencyKey: key(), Actor: "test", SourceRef: "order-1"}
	if o.expires != 0 {
		e := b.clock.Now().Add(o.expires)
		req.ExpiresAt = &e
	}
	r, err := b.l.Credit(b.ctx, req)
	require.NoError(t, err)
	return r.Lot
}

func (b *testBundle) available(t *testing.T, acc int64) decimal.Decimal {
	t.Helper()
	bal, err := b.l.Balance(b.ctx, acc)
	require.NoError(t, err)
	return bal.Available
}

func (b *testBundle) verifyClean(t *testing.T) {
	t.Helper()
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m, "verify found mismatches")
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func slicesSort(ids []int64) { slices.Sort(ids) }
