package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/webhook"
)

// On a database with history and no cursor, the first scan starts at the
// newest event: a crossing from before raises no alert, the next one does.
// (This test owns the package database's one global cursor: not parallel.)
func TestAlertScannerStartsAtTheNewestEventWithoutACursor(t *testing.T) {
	b := setup(t, Options{})
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, webhook.NewDeliverer(b.pool, webhook.DelivererOptions{}))
	client, err := jobs.New(b.pool, workers, jobs.Options{}) // not started: the jobs are inspected, not run
	require.NoError(t, err)
	hooks := webhook.NewService(b.pool, client, webhook.Options{})
	alerts, err := NewAlerts(b.pool, client, hooks, AlertOptions{GapTimeout: time.Millisecond})
	require.NoError(t, err)

	ext := uniq(t, "a")
	acct := b.account(t, b.live, ext, acctOpts{promo: "100"})
	_, _, err = hooks.CreateEndpoint(ctx, acct.ID, "https://hooks.example.com/x")
	require.NoError(t, err)
	charge := func(key, amount string) {
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: acct.ID, Amount: d(amount), IdempotencyKey: key})
		require.NoError(t, err)
	}
	lowAlerts := func() int {
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND args->>'event_type' = 'balance.low'
			AND (args->>'endpoint_id')::bigint IN (SELECT id FROM webhook_endpoints WHERE account_id = $2)`,
			webhook.DeliverArgs{}.Kind(), acct.ID).Scan(&n))
		return n
	}

	charge("old", "96") // history: below 5 % of the 100 granted, before any scan
	_, err = b.pool.Exec(ctx, `DELETE FROM gateway_alert_cursor`)
	require.NoError(t, err)
	for {
		n, err := alerts.ScanEvents(ctx)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	require.Zero(t, lowAlerts(), "old history raises no alert")
	var cursor, newest int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT last_event_id FROM gateway_alert_cursor`).Scan(&cursor))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT max(id) FROM ledger_events`).Scan(&newest))
	require.GreaterOrEqual(t, cursor, newest, "the cursor starts at the newest event")

	// A new grant and a new crossing are announced.
	_, err = b.gw.Grant(ctx, b.live, ext, GrantInput{Amount: d("96"), Kind: ledger.LotPromo, ReasonCode: "x", IdempotencyKey: "g2"})
	require.NoError(t, err)
	charge("new", "90") // 100 → 10: below 20 %
	for {
		n, err := alerts.ScanEvents(ctx)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	require.Equal(t, 1, lowAlerts())
}
