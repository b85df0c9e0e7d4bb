package costs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// A model whose margin over a Shanghai day is negative is recorded once
// per (model, day), and finance is mailed about it once, in the same
// transaction, however many runs of the daily job race: 64 here.
func TestNegativeMarginAlertedOncePerModelAndDay(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	s := New(pool)
	day1 := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	seedCharges(t, s, day1) // day 2: deepseek-chat and qwen-plus cost more than they brought in
	ins, err := jobs.New(pool, nil, jobs.Options{InsertOnly: true})
	require.NoError(t, err)
	bundle, err := i18n.Default()
	require.NoError(t, err)
	a := &Alerter{Pool: pool, Costs: s, Jobs: ins, I18n: bundle, ReportURL: "https://example.com/admin/margins",
		CreditPrice: func() decimal.Decimal { return ledger.DefaultCreditPriceRMB },
		Recipients:  func(context.Context) ([]string, error) { return []string{"finance@example.com"}, nil }}
	day2 := time.Date(2025, 4, 2, 12, 0, 0, 0, shanghai)

	var wg sync.WaitGroup
	var mu sync.Mutex
	recorded := 0
	for range 64 {
		wg.Go(func() {
			got, err := a.Run(ctx, day2)
			if !assertNoError(t, err) {
				return
			}
			mu.Lock()
			recorded += len(got)
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Equal(t, 2, recorded, "two models, each recorded by one run")
	alerts, err := s.Alerts(ctx, 10)
	require.NoError(t, err)
	var models []string
	for _, al := range alerts {
		if al.Day == "2025-04-02" {
			models = append(models, al.Model)
			require.True(t, al.Margin().IsNegative())
		}
	}
	require.ElementsMatch(t, []string{"deepseek-chat", "qwen-plus"}, models)
	var mails int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'mail_send'
		AND args->'message'->>'subject' LIKE '%2025-04-02%'`).Scan(&mails))
	require.Equal(t, 2, mails, "one mail per alert")

	// Day 1 was profitable: nothing to record.
	got, err := a.Run(ctx, day1.Add(8*time.Hour))
	require.NoError(t, err)
	require.Empty(t, got)
}

// assertNoError reports err from a goroutine without stopping the test there.
func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("run: %v", err)
		return false
	}
	return true
}
