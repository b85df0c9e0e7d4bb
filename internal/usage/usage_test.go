package usage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/usage"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type testBundle struct {
	ledger *ledger.Ledger
	store  *usage.Store
}

func setup(t *testing.T) testBundle {
	pool := dbtest.Pool(t)
	l := ledger.New(pool, ledger.Options{})
	t.Cleanup(l.Close)
	return testBundle{ledger: l, store: usage.New(pool)}
}

func (b testBundle) charge(t *testing.T, account int64, key, model, amount string, in int64) {
	d, _ := json.Marshal(map[string]any{"input_tokens": in, "output_tokens": 1, "requests": 1})
	_, err := b.ledger.Charge(context.Background(), ledger.ChargeRequest{AccountID: account, Amount: decimal.RequireFromString(amount), IdempotencyKey: key, Model: model, Detail: d})
	require.NoError(t, err)
}

func TestChargesPaidFromSeveralLotsCountTokensOnceAndPageWhole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual})
	require.NoError(t, err)
	// Many small lots, so that each charge spans several of them.
	for i := range 40 {
		_, err := b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPromo, Amount: decimal.NewFromInt(10), IdempotencyKey: fmt.Sprint("g", i)})
		require.NoError(t, err)
	}
	for i := range 12 {
		b.charge(t, acc.ID, fmt.Sprint("c", i), "m", "25", 100) // 3 lots each
	}
	sc := usage.Scope{PoolID: acc.ID}

	// Pages of 5, 5, 2 charges, each charge whole (25 credits from 3 lots).
	var all []usage.Charge
	var cursor usage.Cursor
	for {
		page, next, err := b.store.List(ctx, sc, usage.Filter{}, cursor, 5)
		require.NoError(t, err)
		all = append(all, page...)
		if next.IsZero() {
			break
		}
		cursor = next
	}
	require.Len(t, all, 12)
	seen := map[int64]bool{}
	for _, c := range all {
		require.True(t, c.Charged.Equal(decimal.NewFromInt(25)), c.Charged.String())
		require.False(t, seen[c.OpID])
		seen[c.OpID] = true
		require.Equal(t, "promo", c.Parts[0].Kind)
	}

	// Folded or not, the totals are the same: tokens once per charge.
	s1, err := b.store.Summarize(ctx, sc, usage.Filter{})
	require.NoError(t, err)
	require.NoError(t, b.store.Refresh(ctx, acc.ID))
	require.NoError(t, b.store.Refresh(ctx, acc.ID)) // folds nothing twice
	b.charge(t, acc.ID, "late", "m2", "1", 7)
	s2, err := b.store.Summarize(ctx, sc, usage.Filter{})
	require.NoError(t, err)
	require.Equal(t, int64(12), s1.Totals.Charges)
	require.Equal(t, int64(1200), s1.Totals.InputTokens)
	require.True(t, s1.Totals.Charged.Equal(decimal.NewFromInt(300)))
	require.Equal(t, int64(13), s2.Totals.Charges)
	require.Equal(t, int64(1207), s2.Totals.InputTokens)
	require.True(t, s2.Totals.Charged.Equal(decimal.NewFromInt(301)))

	models, err := b.store.Models(ctx, sc)
	require.NoError(t, err)
	require.Equal(t, []string{"m", "m2"}, models)
}

// TestListIsInTheOrderCallsHappened: a usage event reported late sits among
// the calls of its time, and paging across it loses and repeats nothing.
func TestListIsInTheOrderCallsHappened(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual})
	require.NoError(t, err)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPromo, Amount: decimal.NewFromInt(1000), IdempotencyKey: "g"})
	require.NoError(t, err)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	// Recorded in this order; happened at these minutes after base.
	minutes := []int{10, 20, 30, 5, 40, 15, 35}
	for i, m := range minutes {
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: decimal.NewFromInt(1), IdempotencyKey: fmt.Sprint("o", i),
			Model: "m", OccurredAt: base.Add(time.Duration(m) * time.Minute)})
		require.NoError(t, err)
	}
	sc := usage.Scope{PoolID: acc.ID}
	for _, size := range []int{2, 3, 7} {
		var got []time.Time
		var cursor usage.Cursor
		for {
			page, next, err := b.store.List(ctx, sc, usage.Filter{}, cursor, size)
			require.NoError(t, err)
			for _, c := range page {
				got = append(got, c.OccurredAt)
			}
			if next.IsZero() {
				break
			}
			again, err := usage.ParseCursor(next.String())
			require.NoError(t, err)
			require.Equal(t, next.Event, again.Event)
			require.True(t, next.EventAt.Equal(again.EventAt), "the cursor survives the URL")
			cursor = again
		}
		require.Len(t, got, len(minutes), "page size %d", size)
		for i := 1; i < len(got); i++ {
			require.True(t, got[i-1].After(got[i]), "page size %d: newest first by when the call happened: %v", size, got)
		}
	}
	_, err = usage.ParseCursor("1.2")
	require.ErrorIs(t, err, usage.ErrInvalidFilter, "an old two-part cursor is refused, not misread")
}
