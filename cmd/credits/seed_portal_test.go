package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestSeedPortalIsIdempotent(t *testing.T) {
	pool := dbtest.AppPool(t) // `credits seed` connects as the application role
	ctx := context.Background()
	steps := []seedStep{{"portal", seedPortal}}
	var out bytes.Buffer
	require.NoError(t, seed(ctx, devConfig(t), pool, steps, &out))
	require.Contains(t, out.String(), "demo@example.com / "+demoPassword)
	require.Contains(t, out.String(), "corp@example.com / "+demoPassword)
	count := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM ledger_events`).Scan(&n))
		return n
	}
	before := count()
	require.Greater(t, before, 300, "a realistic usage history")
	require.NoError(t, seed(ctx, devConfig(t), pool, steps, &out))
	require.Equal(t, before, count(), "seeding again adds nothing")
	var subs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM ledger_accounts WHERE kind = 'sub'`).Scan(&subs))
	require.Equal(t, 2, subs)
}
