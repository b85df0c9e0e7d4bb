package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// A pool with a credit line is alerted when the credit it owns runs low:
// a grant of 100 on a line of 1,000,000 is announced below 20 and below 5
// of what it owns, not once the line is nearly spent too. (Not parallel:
// it shares the package's one alert cursor with the test above.)
func TestLowBalanceReadsTheOwnedBalanceOfALinePool(t *testing.T) {
	b := setup(t, Options{})
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, webhook.NewDeliverer(b.pool, webhook.DelivererOptions{}))
	client, err := jobs.New(b.pool, workers, jobs.Options{})
	require.NoError(t, err)
	hooks := webhook.NewService(b.pool, client, webhook.Options{})
	alerts, err := NewAlerts(b.pool, client, hooks, AlertOptions{GapTimeout: time.Millisecond})
	require.NoError(t, err)
	scan := func() {
		t.Helper()
		for {
			n, err := alerts.ScanEvents(ctx)
			require.NoError(t, err)
			if n == 0 {
				return
			}
		}
	}
	scan() // the cursor exists before this test's events

	ext := uniq(t, "line")
	acct := b.account(t, b.live, ext, acctOpts{kind: ledger.AccountEnterprise})
	_, _, err = hooks.CreateEndpoint(ctx, acct.ID, "https://hooks.example.com/line")
	require.NoError(t, err)
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.ledger.SetCreditLineTx(ctx, tx, ledger.CreditLineRequest{AccountID: acct.ID, Line: d("1000000"),
			SourceRef: "test", Actor: "staff:1", ReasonCode: "credit_line", IdempotencyKey: ext + ":line"})
		return err
	}))
	_, err = b.gw.Grant(ctx, b.live, ext, GrantInput{Amount: d("100"), Kind: ledger.LotPromo, ReasonCode: "x", IdempotencyKey: ext + ":g"})
	require.NoError(t, err)
	lowAlerts := func() []string {
		t.Helper()
		rows, err := b.pool.Query(ctx, `SELECT j.args->'data'->>'threshold_percent' FROM river_job j
			WHERE j.kind = $1 AND j.args->>'event_type' = 'balance.low'
			AND (j.args->>'endpoint_id')::bigint IN (SELECT id FROM webhook_endpoints WHERE account_id = $2) ORDER BY j.id`,
			webhook.DeliverArgs{}.Kind(), acct.ID)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return got
	}
	charge := func(key, amount string) {
		t.Helper()
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: acct.ID, Amount: d(amount), IdempotencyKey: ext + key})
		require.NoError(t, err)
		scan()
	}
	charge(":1", "80") // owns 20 of 100: not below 20 %
	require.Empty(t, lowAlerts())
	charge(":2", "1") // owns 19: below 20 %, with 1,000,019 spendable
	require.Equal(t, []string{"20"}, lowAlerts())
	charge(":3", "14") // owns 5: not below 5 %
	require.Len(t, lowAlerts(), 1)
	charge(":4", "10") // owns -5, spending on the line: below 5 %
	require.Equal(t, []string{"20", "5"}, lowAlerts())
}
