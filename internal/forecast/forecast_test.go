package forecast_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/forecast"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/jobs/jobstest"
	"github.com/seed75218f88/credits/internal/usage"
	"github.com/seed75218f88/credits/internal/webhook"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type testBundle struct {
	ctx       context.Context
	pool      *pgxpool.Pool
	ledger    *ledger.Ledger
	hooks     *webhook.Service
	ins       jobs.Inserter
	bundle    *i18n.Bundle
	threshold atomic.Int64
	now       atomic.Pointer[time.Time]
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	b := &testBundle{ctx: context.Background(), pool: dbtest.Pool(t)}
	b.ledger = ledger.New(b.pool, ledger.Options{})
	t.Cleanup(b.ledger.Close)
	var err error
	b.ins, err = jobs.New(b.pool, nil, jobs.Options{InsertOnly: true})
	require.NoError(t, err)
	b.hooks = webhook.NewService(b.pool, b.ins, webhook.Options{})
	b.bundle, err = i18n.Default()
	require.NoError(t, err)
	b.threshold.Store(3)
	now := time.Now()
	b.now.Store(&now)
	return b
}

// service is one instance of the alerts over pool (another process's when
// pool is another pool).
func (b *testBundle) service(pool *pgxpool.Pool) *forecast.Service {
	return forecast.New(pool, b.ledger, usage.New(pool), b.hooks, b.ins, b.bundle, forecast.Options{
		Now:       func() time.Time { return *b.now.Load() },
		Threshold: func() int { return int(b.threshold.Load()) }, PortalURL: "https://console.example/portal/topup"})
}

var seq atomic.Int64

// account has credited credits and, for each of spent, a charge that many
// days ago; its portal user reads mail in lang.
func (b *testBundle) account(t *testing.T, credited string, lang string, spent map[int]string) int64 {
	t.Helper()
	acc, err := b.ledger.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "runway"})
	require.NoError(t, err)
	n := seq.Add(1)
	_, err = b.ledger.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: decimal.RequireFromString(credited),
		IdempotencyKey: fmt.Sprintf("runway-credit-%d-%d", acc.ID, n)})
	require.NoError(t, err)
	for ago, amount := range spent {
		_, err := b.ledger.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: decimal.RequireFromString(amount),
			IdempotencyKey: fmt.Sprintf("runway-charge-%d-%d", acc.ID, ago), Model: "deepseek-chat",
			OccurredAt: b.now.Load().Add(-time.Duration(ago) * 24 * time.Hour)})
		require.NoError(t, err)
	}
	_, err = b.pool.Exec(b.ctx, `INSERT INTO users (email, kind, account_id, locale) VALUES ($1, 'customer', $2, $3)`,
		fmt.Sprintf("runway-%d@example.com", acc.ID), acc.ID, lang)
	require.NoError(t, err)
	_, _, err = b.hooks.CreateEndpoint(b.ctx, acc.ID, "https://hooks.example.com/credits")
	require.NoError(t, err)
	return acc.ID
}

// sent counts, for acc, the alert rows, the balance.runway_low webhook
// deliveries queued and the mails queued, with the mails' subjects.
func (b *testBundle) sent(t *testing.T, acc int64) (rows, hooks int, subjects []string) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM runway_alerts WHERE account_id = $1`, acc).Scan(&rows))
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM river_job j JOIN webhook_endpoints e ON e.id = (j.args->>'endpoint_id')::bigint
		WHERE j.kind = 'webhook_deliver' AND j.args->>'event_type' = 'balance.runway_low' AND e.account_id = $1`, acc).Scan(&hooks))
	r, err := b.pool.Query(b.ctx, `SELECT args FROM river_job WHERE kind = 'mail_send' AND args->'message'->'to'->>0 = $1`,
		fmt.Sprintf("runway-%d@example.com", acc))
	require.NoError(t, err)
	mails, err := pgx.CollectRows(r, pgx.RowTo[[]byte])
	require.NoError(t, err)
	for _, m := range mails {
		var a struct {
			Message struct{ Subject, Text string }
		}
		require.NoError(t, json.Unmarshal(m, &a))
		subjects = append(subjects, a.Message.Subject)
		require.Contains(t, a.Message.Text, "https://console.example/portal/topup")
	}
	return rows, hooks, subjects
}

// TestRunwayAlert: 10,000 credits, 8,000 spent two and three days ago (the
// week's pace): 2,000 × 7 ÷ 8,000 = 1.75, so the balance lasts about 1 day,
// under the threshold of 3: one alert, webhook and mail, in the user's
// language; today's spend does not count; an account that lasts longer,
// or a threshold of 0, alerts nothing.
func TestRunwayAlert(t *testing.T) {
	b := setup(t)
	svc := b.service(b.pool)

	t.Run("UnderTheThreshold", func(t *testing.T) {
		acc := b.account(t, "10000", "zh-CN", map[int]string{2: "4000", 3: "4000"})
		ok, err := svc.Alert(b.ctx, acc, 3, *b.now.Load())
		require.NoError(t, err)
		require.True(t, ok)
		rows, hooks, subjects := b.sent(t, acc)
		require.Equal(t, 1, rows)
		require.Equal(t, 1, hooks)
		require.Equal(t, []string{"余额约还可用 1 天"}, subjects)
		var payload []byte
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT j.args->'data' FROM river_job j JOIN webhook_endpoints e ON e.id = (j.args->>'endpoint_id')::bigint
			WHERE j.kind = 'webhook_deliver' AND j.args->>'event_type' = 'balance.runway_low' AND e.account_id = $1`, acc).Scan(&payload))
		var p forecast.RunwayPayload
		require.NoError(t, json.Unmarshal(payload, &p))
		require.EqualValues(t, 1, p.Days)
		require.True(t, p.Available.Equal(decimal.NewFromInt(2000)))
		require.True(t, p.SpentLast7Days.Equal(decimal.NewFromInt(8000)))
		// Again the same day: nothing.
		ok, err = svc.Alert(b.ctx, acc, 3, *b.now.Load())
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("LastsLongEnough", func(t *testing.T) {
		// 30,000 − 8,000 = 22,000 × 7 ÷ 8,000 = 19 days; today's 5,000 does not count.
		acc := b.account(t, "35000", "en", map[int]string{2: "4000", 3: "4000", 0: "5000"})
		ok, err := svc.Alert(b.ctx, acc, 3, *b.now.Load())
		require.NoError(t, err)
		require.False(t, ok)
		ok, err = svc.Alert(b.ctx, acc, 30, *b.now.Load())
		require.NoError(t, err)
		require.True(t, ok, "under a threshold of 30")
		_, _, subjects := b.sent(t, acc)
		require.Equal(t, []string{"Your balance lasts about 19 more days"}, subjects)
	})

	t.Run("NoSpendNoForecast", func(t *testing.T) {
		acc := b.account(t, "10", "en", map[int]string{0: "5"})
		ok, err := svc.Alert(b.ctx, acc, 3, *b.now.Load())
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("OffAtZero", func(t *testing.T) {
		acc := b.account(t, "10000", "en", map[int]string{2: "4000", 3: "4000"})
		b.threshold.Store(0)
		defer b.threshold.Store(3)
		n, err := svc.Scan(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		rows, _, _ := b.sent(t, acc)
		require.Zero(t, rows)
	})
}

// TestRunwayAlertOncePerDay: 64 concurrent scans for one account on one
// day alert once; the next Shanghai day alerts once more.
func TestRunwayAlertOncePerDay(t *testing.T) {
	b := setup(t)
	svc := b.service(b.pool)
	acc := b.account(t, "10000", "en", map[int]string{2: "4000", 3: "4000"})
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 64 {
		wg.Go(func() {
			<-start
			ok, err := svc.Alert(b.ctx, acc, 3, *b.now.Load())
			require.NoError(t, err)
			if ok {
				sent.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	require.EqualValues(t, 1, sent.Load())
	rows, hooks, subjects := b.sent(t, acc)
	require.Equal(t, 1, rows)
	require.Equal(t, 1, hooks)
	require.Equal(t, []string{"Your balance lasts about 1 more day"}, subjects)

	// A day later (the pace still counts those days): one more.
	next := b.now.Load().Add(24 * time.Hour)
	b.now.Store(&next)
	for range 8 {
		wg.Go(func() {
			_, err := svc.Scan(b.ctx)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	rows, hooks, _ = b.sent(t, acc)
	require.Equal(t, 2, rows)
	require.Equal(t, 2, hooks)
}

// TestRunwayAlertTwoWorkers: two job clients — two processes, each its own
// pool — working the hourly job at once alert the account once.
func TestRunwayAlertTwoWorkers(t *testing.T) {
	b := setup(t)
	acc := b.account(t, "10000", "en", map[int]string{2: "4000", 3: "4000"})
	var clients []*jobs.Client
	for range 2 {
		pool, err := pgxpool.New(b.ctx, dbtest.URL(t))
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		workers := river.NewWorkers()
		river.AddWorker(workers, &forecast.ScanWorker{Forecast: b.service(pool)})
		clients = append(clients, jobstest.Start(t, pool, workers))
	}
	for i := range 16 {
		_, err := clients[i%2].Insert(b.ctx, forecast.ScanArgs{}, nil)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		var left int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM river_job WHERE kind = 'forecast_runway_scan' AND state <> 'completed'`).Scan(&left))
		return left == 0
	}, 30*time.Second, 20*time.Millisecond, "every scan ran")
	var by []string
	rows, err := b.pool.Query(b.ctx, `SELECT DISTINCT attempted_by[1] FROM river_job WHERE kind = 'forecast_runway_scan'`)
	require.NoError(t, err)
	by, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, by)
	n, hooks, subjects := b.sent(t, acc)
	require.Equal(t, 1, n)
	require.Equal(t, 1, hooks)
	require.Len(t, subjects, 1)
}

// TestRunwayReadsTheOwnedBalanceOfALinePool: beside a credit line of
// 1,000,000 credits, the runway is that of the credit the pool owns — 12,000
// owned lasts 10 days at 8,000 a week (no alert), 2,000 about one (alert),
// though the line keeps 1,002,000 spendable.
func TestRunwayReadsTheOwnedBalanceOfALinePool(t *testing.T) {
	b := setup(t)
	svc := b.service(b.pool)
	acc := b.account(t, "20000", "en", map[int]string{2: "4000", 3: "4000"})
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.ledger.SetCreditLineTx(b.ctx, tx, ledger.CreditLineRequest{AccountID: acc, Line: decimal.NewFromInt(1000000),
			SourceRef: "test", Actor: "finance", ReasonCode: "credit_line", IdempotencyKey: fmt.Sprintf("runway-line-%d", acc)})
		return err
	}))
	ok, err := svc.Alert(b.ctx, acc, 3, *b.now.Load())
	require.NoError(t, err)
	require.False(t, ok, "12,000 owned lasts 10 days")
	_, err = b.ledger.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: decimal.NewFromInt(10000),
		IdempotencyKey: fmt.Sprintf("runway-today-%d", acc), Model: "deepseek-chat", OccurredAt: *b.now.Load()})
	require.NoError(t, err)
	ok, err = svc.Alert(b.ctx, acc, 3, *b.now.Load())
	require.NoError(t, err)
	require.True(t, ok, "2,000 owned lasts about a day")
	var payload []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT j.args->'data' FROM river_job j JOIN webhook_endpoints e ON e.id = (j.args->>'endpoint_id')::bigint
		WHERE j.kind = 'webhook_deliver' AND j.args->>'event_type' = 'balance.runway_low' AND e.account_id = $1`, acc).Scan(&payload))
	var p forecast.RunwayPayload
	require.NoError(t, json.Unmarshal(payload, &p))
	require.True(t, p.Available.Equal(decimal.NewFromInt(2000)), "the owned balance: %s", p.Available)
	require.EqualValues(t, 1, p.Days)

	// Spending on the line the next day: its runway is the line's, which
	// lasts (no alert every day while it lives on the line).
	next := b.now.Load().Add(24 * time.Hour)
	b.now.Store(&next)
	_, err = b.ledger.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: decimal.NewFromInt(3000),
		IdempotencyKey: fmt.Sprintf("runway-line-spent-%d", acc), Model: "deepseek-chat", OccurredAt: next})
	require.NoError(t, err)
	ok, err = svc.Alert(b.ctx, acc, 3, next)
	require.NoError(t, err)
	require.False(t, ok, "999,000 of the line left lasts months")
}
