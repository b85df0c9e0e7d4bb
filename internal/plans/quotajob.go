package plans

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// QuotaSweepArgs is the periodic job that releases quota held by calls
// never committed nor released, and sends the plan.quota_exhausted webhooks
// a refused call could not send itself.
type QuotaSweepArgs struct{}

// Kind names the job in River's tables.
func (QuotaSweepArgs) Kind() string { return "plans_quota_sweep" }

// QuotaSweepWorker works QuotaSweepArgs.
type QuotaSweepWorker struct {
	river.WorkerDefaults[QuotaSweepArgs]
	Quotas *Quotas
}

// Work sweeps once.
func (w *QuotaSweepWorker) Work(ctx context.Context, _ *river.Job[QuotaSweepArgs]) error {
	_, err := w.Quotas.Sweep(ctx)
	return err
}

// QuotaPeriodicJobs schedules the sweep every minute: a held call's quota
// comes back within a minute of its reservation's expiry.
func QuotaPeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.Every(time.Minute, QuotaSweepArgs{})}
}
