package payments

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// SyncArgs is the periodic job that settles open orders with SyncPending:
// payments whose notify never came are credited, expired orders closed at
// the channel and here.
type SyncArgs struct{}

// Kind names the job in River's tables.
func (SyncArgs) Kind() string { return "payments_sync_pending" }

// SyncBatch is how many orders one SyncPending call claims; the worker
// repeats it while batches come back full (at most syncRounds times).
const SyncBatch = 100

const syncRounds = 10

// SyncWorker works SyncArgs.
type SyncWorker struct {
	river.WorkerDefaults[SyncArgs]
	Service *Service
}

// NewSyncWorker returns the worker for svc; register it with river.AddWorker.
func NewSyncWorker(svc *Service) *SyncWorker { return &SyncWorker{Service: svc} }

// Work runs SyncPending until a batch is not full. Orders it could not
// settle are logged by the service and retried by the next run, so only a
// run that could not claim any order fails (and River retries it).
func (w *SyncWorker) Work(ctx context.Context, _ *river.Job[SyncArgs]) error {
	// Refunds a crash or a failed call left pending go to their channel;
	// their failures are logged and retried next run.
	_, _ = w.Service.SendPendingRefunds(ctx, SyncBatch)
	for range syncRounds {
		rep, err := w.Service.SyncPending(ctx, SyncBatch)
		if err != nil && rep.Checked == 0 {
			return err
		}
		if rep.Checked < SyncBatch {
			return nil
		}
	}
	return nil
}

// PeriodicJobs schedules the sync job every minute (and once at start).
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.Every(time.Minute, SyncArgs{})}
}
