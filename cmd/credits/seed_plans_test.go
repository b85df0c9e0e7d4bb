package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestSeedPlansIsIdempotent(t *testing.T) {
	// A database of its own (other seed tests publish the demo plans in
	// the package's), as the application role `credits seed` connects as.
	ctx := context.Background()
	_, url := dbtest.Own(t)
	pool, err := db.Open(ctx, db.WithUser(url, db.AppRole))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	steps := []seedStep{{"plans", seedPlans}}
	var out bytes.Buffer
	require.NoError(t, seed(ctx, devConfig(t), pool, steps, &out))
	require.Contains(t, out.String(), "seed plans: 4 demo plans published now, 4 plans in the catalogue")
	require.Contains(t, out.String(), "plan basic v1 (tier 1): ¥29.00 a month, ¥290.00 a year, 20,000 plan credits a month")

	out.Reset()
	require.NoError(t, seed(ctx, devConfig(t), pool, steps, &out))
	require.Contains(t, out.String(), "seed plans: 0 demo plans published now, 4 plans in the catalogue")

	cat := plans.New(pool, plans.Options{})
	all, err := cat.Catalogue(ctx)
	require.NoError(t, err)
	require.Len(t, all, 4)
	codes := []string{}
	for _, p := range all {
		require.Equal(t, 1, p.Version, "seeding again published no new version of %s", p.Code)
		codes = append(codes, p.Code)
	}
	require.Equal(t, []string{"free", "basic", "standard", "professional"}, codes, "by tier")
	basic, err := cat.Latest(ctx, "basic")
	require.NoError(t, err)
	item, ok := basic.Item("deepseek-chat")
	require.True(t, ok, "the coding plan item")
	require.Equal(t, []plans.Quota{
		{Unit: plans.Requests, Window: plans.Rolling(5), Limit: 120},
		{Unit: plans.Requests, Window: plans.Week, Limit: 1000},
	}, item.Quotas)
}
