package plans

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// GrantArgs is the periodic job of the period boundary (GrantDue): it
// makes renewal orders, applies free renewals, puts unpaid terms past due,
// expires ended terms and graces (RenewDue), and grants each subscription's
// plan credits for the month that started.
type GrantArgs struct{}

// Kind names the job in River's tables.
func (GrantArgs) Kind() string { return "plans_grant_due" }

// GrantWorker works GrantArgs.
type GrantWorker struct {
	river.WorkerDefaults[GrantArgs]
	Subscriptions *Subscriptions
}

// NewGrantWorker returns the worker for subs; register it with
// river.AddWorker.
func NewGrantWorker(subs *Subscriptions) *GrantWorker { return &GrantWorker{Subscriptions: subs} }

// Work grants what is due now. A subscription that failed is retried by
// the next run (and by River's retry of this one); grants already made are
// never repeated (GrantKey).
func (w *GrantWorker) Work(ctx context.Context, _ *river.Job[GrantArgs]) error {
	_, err := w.Subscriptions.GrantDue(ctx, w.Subscriptions.now())
	return err
}

// PeriodicJobs schedules the grant job every five minutes (and once at
// start), so a month's plan credits arrive within minutes of its start.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.Every(5*time.Minute, GrantArgs{})}
}
