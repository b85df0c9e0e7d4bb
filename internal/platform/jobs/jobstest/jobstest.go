// Package jobstest starts a River client for a test, polling fast so jobs
// and short retries run within milliseconds, and stops it when the test
// ends. To assert that a use case enqueued a job without running it, use
// River's own rivertest.RequireInsertedTx instead.
package jobstest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// Start builds and starts a client working workers over pool. Jobs of every
// kind in the package's test database are worked by it, so tests in one
// package that start clients should not run in parallel with each other.
func Start(t testing.TB, pool *pgxpool.Pool, workers *river.Workers, periodic ...*river.PeriodicJob) *jobs.Client {
	t.Helper()
	client, err := jobs.New(pool, workers, jobs.Options{
		TestOnly:          true,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		FetchPollInterval: 20 * time.Millisecond,
		Periodic:          periodic,
	})
	if err != nil {
		t.Fatalf("jobstest: %v", err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatalf("jobstest: start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("jobstest: stop: %v", err)
		}
	})
	return client
}
