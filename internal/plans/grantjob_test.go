package plans

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/jobs/jobstest"
)

// TestGrantJobGrantsEachMonthOnce runs the periodic job (on start), then 64
// more grant jobs at once, then two more: the comp's second month gets one
// lot, expiring at that month's end.
func TestGrantJobGrantsEachMonthOnce(t *testing.T) {
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Second)
	b := setupSubs(t, start)
	_, _, err := b.subs.Comp(ctx, CompRequest{AccountID: b.account, PlanCode: b.plan.Code, Months: 3, Actor: "ops@example.com"})
	require.NoError(t, err)
	month2, end2 := PeriodAt(start, Monthly, 1)
	b.clock.Set(month2.Add(time.Minute))

	workers := river.NewWorkers()
	river.AddWorker(workers, NewGrantWorker(b.subs))
	client := jobstest.Start(t, dbtest.AppPool(t), workers, PeriodicJobs()...)
	waitJobsDone := func() {
		t.Helper()
		require.Eventually(t, func() bool {
			var open int
			err := dbtest.AppPool(t).QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state NOT IN ('completed', 'discarded', 'cancelled')`,
				GrantArgs{}.Kind()).Scan(&open)
			require.NoError(t, err)
			return open == 0 && len(b.planLots(t)) == 2
		}, 30*time.Second, 50*time.Millisecond, "the grant jobs finish with the second month granted")
	}
	waitJobsDone()

	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Insert(ctx, GrantArgs{}, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for range 2 {
		_, err := client.Insert(ctx, GrantArgs{}, nil)
		require.NoError(t, err)
	}
	waitJobsDone()
	lots := b.planLots(t)
	require.Len(t, lots, 2, "one lot per month")
	require.Equal(t, end2, lots[1].ExpiresAt.UTC())
	var failed int
	require.NoError(t, dbtest.AppPool(t).QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND errors <> '{}'`, GrantArgs{}.Kind()).Scan(&failed))
	require.Zero(t, failed, "no grant job failed")
}
