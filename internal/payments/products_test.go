package payments_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
)

// TestCanTransition: the order state machine, on its own.
func TestCanTransition(t *testing.T) {
	t.Parallel()
	const (
		cr = payments.StateCreated
		pe = payments.StatePending
		pa = payments.StatePaid
		cl = payments.StateClosed
		fa = payments.StateFailed
		nr = payments.StateNeedsReview
		pr = payments.StatePartiallyRefunded
		rf = payments.StateRefunded
	)
	all := []payments.State{cr, pe, pa, cl, fa, nr, pr, rf}
	allowed := map[[2]payments.State]bool{
		{cr, pe}: true, {cr, pa}: true, {cr, fa}: true, {cr, cl}: true, {cr, nr}: true,
		{pe, pa}: true, {pe, cl}: true, {pe, fa}: true, {pe, nr}: true,
		{cl, nr}: true, {cl, pa}: true,
		{fa, nr}: true,
		{nr, pa}: true, {nr, cl}: true,
		{pa, pr}: true, {pa, rf}: true,
		{pr, pr}: true, {pr, rf}: true,
	}
	for _, from := range all {
		require.True(t, from.Valid())
		for _, to := range all {
			require.Equal(t, allowed[[2]payments.State{from, to}], payments.CanTransition(from, to), "%s → %s", from, to)
		}
	}
	require.False(t, payments.CanTransition(pa, pe), "a paid order never reopens")
	require.False(t, payments.CanTransition(rf, pa), "a refunded order is final")
	require.False(t, payments.State("bogus").Valid())
}

// TestQuote prices tiers, bonuses and custom amounts at ¥0.001 a credit.
func TestQuote(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	svc := payments.New(nil, nil, payments.Channels{}, payments.Options{Now: func() time.Time { return now }})
	tiers := svc.Tiers()
	require.Len(t, tiers, 4)
	for i, want := range []struct {
		fen            int64
		credits, bonus string
	}{{3000, "30000", "0"}, {10000, "100000", "20000"}, {30000, "300000", "0"}, {100000, "1000000", "0"}} {
		require.Equal(t, want.fen, tiers[i].AmountFen)
		requireDec(t, want.credits, tiers[i].Credits)
		requireDec(t, want.bonus, tiers[i].BonusCredits)
	}
	q, err := svc.Quote(10000)
	require.NoError(t, err)
	require.True(t, q.HasBonus())
	requireDec(t, "20", q.BonusPercent)
	require.Equal(t, now.Add(90*24*time.Hour), *q.BonusExpiresAt)
	requireDec(t, "100.00", q.AmountYuan())

	q, err = svc.Quote(5555)
	require.NoError(t, err)
	requireDec(t, "55550", q.Credits)
	require.False(t, q.HasBonus())
	require.Nil(t, q.BonusExpiresAt)

	for _, fen := range []int64{0, -1, 999, payments.DefaultMaxFen + 1} {
		_, err := svc.Quote(fen)
		require.ErrorIs(t, err, payments.ErrAmountOutOfRange, fen)
	}
	min, max := svc.Limits()
	require.Equal(t, payments.DefaultMinFen, min)
	require.Equal(t, payments.DefaultMaxFen, max)

	// Another credit price: ¥0.002 a credit, ¥100 = 50,000 credits.
	svc = payments.New(nil, nil, payments.Channels{}, payments.Options{CreditPriceRMB: d("0.002"), Bonus: map[int64]decimal.Decimal{}})
	q, err = svc.Quote(10000)
	require.NoError(t, err)
	requireDec(t, "50000", q.Credits)
	require.False(t, q.HasBonus(), "no bonus when promotions are off")
}
