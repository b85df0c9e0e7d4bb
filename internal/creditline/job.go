package creditline

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// BillingArgs is the periodic job that closes the periods whose billing
// day has come (CloseDue) and moves unpaid bills along their states
// (Advance). It runs every JobInterval rather than once a day, so a missed
// run is caught up; every step is idempotent (a period closes once, a
// notice goes out once), so two job clients running it at once do no
// harm.
type BillingArgs struct{}

// Kind names the job in River's tables.
func (BillingArgs) Kind() string { return "creditline_billing" }

// JobInterval is how often the billing job runs.
const JobInterval = 15 * time.Minute

// BillingWorker works BillingArgs.
type BillingWorker struct {
	river.WorkerDefaults[BillingArgs]
	Service *Service
}

// Work closes due periods, then advances unpaid bills.
func (w *BillingWorker) Work(ctx context.Context, _ *river.Job[BillingArgs]) error {
	if _, err := w.Service.CloseDue(ctx); err != nil {
		return err
	}
	_, err := w.Service.Advance(ctx)
	return err
}

// PeriodicJobs are the package's periodic jobs.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.Every(JobInterval, BillingArgs{})}
}
