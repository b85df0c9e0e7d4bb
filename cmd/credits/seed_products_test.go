package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/products"
)

func TestSeedProductsIsIdempotent(t *testing.T) {
	ctx := context.Background()
	_, url := dbtest.Own(t)
	pool, err := db.Open(ctx, db.WithUser(url, db.AppRole))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	steps := []seedStep{{"products", seedProducts}}
	var out bytes.Buffer
	require.NoError(t, seed(ctx, devConfig(t), pool, steps, &out))
	require.Contains(t, out.String(), "seed products: 3 demo products published now, 3 products in the catalogue")
	require.Contains(t, out.String(), "product deepseek-pack v1 (model_pack): ¥39.00, refundable within 7 days")
	out.Reset()
	require.NoError(t, seed(ctx, devConfig(t), pool, steps, &out))
	require.Contains(t, out.String(), "seed products: 0 demo products published now, 3 products in the catalogue")
	all, err := products.New(pool, products.Options{}).Catalogue(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	for _, p := range all {
		require.Equal(t, 1, p.Version, "seeding again published no new version of %s", p.Code)
	}
}
