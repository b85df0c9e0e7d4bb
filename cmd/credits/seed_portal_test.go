package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
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
	var members, owners int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE role = 'owner') FROM team_members`).Scan(&members, &owners))
	require.Equal(t, 2, members, "the enterprise's owner and the demo customer as its developer, once")
	require.Equal(t, 1, owners)

	// The history reads as if recorded live: each call was recorded when
	// it happened, a pool's events are in time order, and the ledger's own
	// checks pass.
	var late, outOfOrder, demo int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE at <> occurred_at AND type = 'deduction'), count(*),
       count(*) FILTER (WHERE at < prev)
FROM (SELECT at, occurred_at, type, lag(at) OVER (PARTITION BY pool_id ORDER BY id) AS prev FROM ledger_events
      WHERE pool_id IN (SELECT pool_id FROM ledger_events WHERE idempotency_key LIKE 'demo%usage%')) e`).Scan(&late, &demo, &outOfOrder))
	require.Greater(t, demo, 300, "the demo pools' events")
	require.Zero(t, late, "no demo call is a late event")
	require.Zero(t, outOfOrder, "every pool's events are in time order")
	var future int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM ledger_events WHERE occurred_at > now() OR at > now()`).Scan(&future))
	require.Zero(t, future, "nothing happens in the future")
	l := ledger.New(pool, ledger.Options{})
	defer l.Close()
	mismatches, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, mismatches)
}
