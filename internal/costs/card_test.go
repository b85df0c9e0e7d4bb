package costs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/pricing"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The cost is pricing's arithmetic over RMB rates: the same buckets, the
// exact sum rounded once, half-even, to six decimals.
func TestCostArithmetic(t *testing.T) {
	t.Parallel()
	tok := Line{Model: "m", BillingType: pricing.BillingToken, InputPer1K: decimal.RequireFromString("0.0012"), OutputPer1K: decimal.RequireFromString("0.0048"),
		CacheHitPer1K: decimal.RequireFromString("0.0003")}
	for _, tc := range []struct {
		name                 string
		line                 Line
		in, out, cache, reqs int64
		want                 string
	}{
		{"Tokens", tok, 1000, 500, 200, 1, "0.00366"},
		{"OneToken", tok, 1, 0, 0, 1, "0.000001"},     // 0.0000012 → 0.000001
		{"HalfEvenDown", tok, 0, 0, 5, 1, "0.000002"}, // 0.0000015 → 0.000002 (even)
		{"HalfEvenUp", tok, 0, 0, 15, 1, "0.000004"},  // 0.0000045 → 0.000004 (even)
		{"NoTokens", tok, 0, 0, 0, 1, "0"},
		{"PerRequest", Line{Model: "i", BillingType: pricing.BillingPerRequest, PerRequest: decimal.RequireFromString("0.096")}, 9, 9, 9, 3, "0.288"},
		{"Free", Line{Model: "f", BillingType: pricing.BillingFree}, 1000, 1000, 0, 1, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Cost(tc.line, tc.in, tc.out, tc.cache, tc.reqs)
			require.True(t, decimal.RequireFromString(tc.want).Equal(got), "want %s, got %s", tc.want, got)
		})
	}
}

// A cost card is published as the next version, in force from its
// effective time, checked line by line with every shape rule of the rate
// card, and immutable once published (the database refuses an UPDATE).
func TestPublishAndInForce(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	s := New(pool)
	_, err := s.InForce(ctx, time.Now())
	require.ErrorIs(t, err, ErrNoCostCard)

	v1, err := s.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	again, err := s.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	require.Equal(t, v1, again, "seed publishes one demo card")
	c, err := s.InForce(ctx, time.Now())
	require.NoError(t, err)
	line, ok := c.Line("wanx-v1")
	require.True(t, ok)
	require.True(t, decimal.RequireFromString("0.096").Equal(line.PerRequest), "60 %% of ¥0.16: %s", line.PerRequest)

	for _, tc := range []struct {
		name string
		card Card
		code string
	}{
		{"NoActor", Card{Models: c.Models}, CodeNoActor},
		{"NoModels", Card{Actor: "a"}, CodeNoModels},
		{"Negative", Card{Actor: "a", Models: []Line{{Model: "m", BillingType: pricing.BillingToken, InputPer1K: decimal.New(-1, 0)}}}, CodeNegativePrice},
		{"Shape", Card{Actor: "a", Models: []Line{{Model: "m", BillingType: pricing.BillingFree, InputPer1K: decimal.New(1, 0)}}}, CodeBadPriceShape},
		{"Duplicate", Card{Actor: "a", Models: []Line{{Model: "m", BillingType: pricing.BillingFree}, {Model: "m", BillingType: pricing.BillingFree}}}, CodeDuplicateModel},
		{"InThePast", Card{Actor: "a", EffectiveAt: time.Now().Add(-time.Hour), Models: c.Models}, CodeEffectiveInPast},
	} {
		_, err := s.Publish(ctx, tc.card)
		var ve *ValidationError
		require.True(t, errors.As(err, &ve), "%s: %v", tc.name, err)
		require.Equal(t, tc.code, ve.Code, tc.name)
		require.ErrorIs(t, err, ErrInvalidCard)
	}

	// 16 concurrent publishers get versions in order, none lost.
	var wg sync.WaitGroup
	base := time.Now().Add(time.Hour)
	for i := range 16 {
		wg.Go(func() {
			card := DemoCard()
			card.Actor, card.EffectiveAt = "test", base.Add(time.Duration(i)*time.Minute)
			_, _ = s.Publish(ctx, card) // a later time may lose to an earlier one: effective_not_after_previous
		})
	}
	wg.Wait()
	vs, err := s.Versions(ctx)
	require.NoError(t, err)
	for i := 1; i < len(vs); i++ {
		require.Equal(t, vs[i-1].Version+1, vs[i].Version)
		require.True(t, vs[i].EffectiveAt.After(vs[i-1].EffectiveAt))
	}
	got, err := s.InForce(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, v1, got.Version, "the later versions are not in force yet")

	_, err = pool.Exec(ctx, `UPDATE cost_card_prices SET input_per_1k = 0`)
	require.Error(t, err, "published cost cards are immutable")
	_, err = pool.Exec(ctx, `INSERT INTO cost_card_prices (version, model, billing_type) VALUES ($1, 'late', 'free')`, v1)
	require.Error(t, err, "a published card gains no model")
}
