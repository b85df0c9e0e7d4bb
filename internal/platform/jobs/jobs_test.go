package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

type pingArgs struct {
	Label string `json:"label"`
}

func (pingArgs) Kind() string { return "jobs_test_ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	mu   sync.Mutex
	runs map[string]int
	done chan string
}

func (w *pingWorker) Work(ctx context.Context, job *river.Job[pingArgs]) error {
	w.mu.Lock()
	w.runs[job.Args.Label]++
	w.mu.Unlock()
	select {
	case w.done <- job.Args.Label:
	default:
	}
	return nil
}

func (w *pingWorker) count(label string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.runs[label]
}

type sweepArgs struct{}

func (sweepArgs) Kind() string { return "jobs_test_sweep" }

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	ran chan struct{}
}

func (w *sweepWorker) Work(ctx context.Context, job *river.Job[sweepArgs]) error {
	select {
	case w.ran <- struct{}{}:
	default:
	}
	return nil
}

type testBundle struct {
	client *Client
	ping   *pingWorker
	sweep  *sweepWorker
}

func setup(t *testing.T, periodic ...*river.PeriodicJob) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	b := &testBundle{
		ping:  &pingWorker{runs: map[string]int{}, done: make(chan string, 100)},
		sweep: &sweepWorker{ran: make(chan struct{}, 100)},
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, b.ping)
	river.AddWorker(workers, b.sweep)
	client, err := New(pool, workers, Options{
		TestOnly:          true,
		FetchPollInterval: 50 * time.Millisecond,
		Periodic:          periodic,
	})
	require.NoError(t, err)
	b.client = client
	return b
}

func start(t *testing.T, c *Client) {
	t.Helper()
	require.NoError(t, c.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
}

func TestInsertTx(t *testing.T) {
	t.Run("RolledBackNeverRunsCommittedRunsOnce", func(t *testing.T) {
		b := setup(t)
		ctx := t.Context()
		pool := dbtest.Pool(t)

		run := strconv.FormatInt(time.Now().UnixNano(), 36)
		rolledBack, committed := "rolled-back-"+run, "committed-"+run

		// A use case that fails after enqueueing: the job must vanish with it.
		errFail := errors.New("ledger write failed")
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := b.client.InsertTx(ctx, tx, pingArgs{Label: rolledBack}, nil)
			require.NoError(t, err)
			return errFail
		})
		require.ErrorIs(t, err, errFail)

		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := b.client.InsertTx(ctx, tx, pingArgs{Label: committed}, nil)
			return err
		})
		require.NoError(t, err)

		start(t, b.client)
		deadline := time.After(10 * time.Second)
		for label := ""; label != committed; {
			select {
			case label = <-b.ping.done:
			case <-deadline:
				t.Fatal("the committed job never ran")
			}
		}
		// Give the queue time to (wrongly) run anything else.
		time.Sleep(500 * time.Millisecond)
		require.Equal(t, 1, b.ping.count(committed))
		require.Equal(t, 0, b.ping.count(rolledBack))

		var n int
		require.NoError(t, pool.QueryRow(ctx,
			`SELECT count(*) FROM river_job WHERE kind = 'jobs_test_ping' AND args->>'label' = $1`, rolledBack).Scan(&n))
		require.Zero(t, n)
	})
}

func TestEvery(t *testing.T) {
	t.Run("RunsOnStart", func(t *testing.T) {
		// A short period: a sweep from an earlier run in this database must
		// not make this one look like a duplicate.
		b := setup(t, Every(time.Second, sweepArgs{}))
		start(t, b.client)
		select {
		case <-b.sweep.ran:
		case <-time.After(15 * time.Second):
			t.Fatal("the periodic sweep did not run when the client started")
		}
	})
}

func TestNewInsertOnly(t *testing.T) {
	pool := dbtest.Pool(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, &pingWorker{})
	client, err := New(pool, workers, Options{InsertOnly: true})
	require.NoError(t, err)
	res, err := client.Insert(t.Context(), pingArgs{Label: "insert-only"}, nil)
	require.NoError(t, err)
	require.Equal(t, "available", string(res.Job.State))
	_, err = client.JobDelete(t.Context(), res.Job.ID)
	require.NoError(t, err)
}

func TestDailyAt(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	s := dailySchedule{hour: 9, minute: 0, loc: shanghai}
	for _, tc := range []struct{ now, want string }{
		{"2026-11-21T00:30:00Z", "2026-11-21T09:00:00+08:00"}, // 08:30 in Shanghai: later today
		{"2026-11-21T01:00:00Z", "2026-11-22T09:00:00+08:00"}, // exactly 09:00: tomorrow
		{"2026-12-31T20:00:00Z", "2027-01-01T09:00:00+08:00"}, // already Jan 1 04:00 in Shanghai
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		want, _ := time.Parse(time.RFC3339, tc.want)
		require.True(t, want.Equal(s.Next(now)), "after %s: got %s, want %s", tc.now, s.Next(now), tc.want)
	}
}

// TestRiverLogsOnlyWarnings: River's periodic info lines are dropped, its
// warnings and errors reach the server's log with their attributes.
func TestRiverLogsOnlyWarnings(t *testing.T) {
	var buf bytes.Buffer
	l := riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Info("producer: Producer job counts", "queue", "default")
	l.Debug("noise")
	l.With("component", "river").WithGroup("job").Warn("job failed", "attempt", 3)
	l.Error("elector: gave up")
	out := buf.String()
	require.NotContains(t, out, "Producer job counts")
	require.NotContains(t, out, "noise")
	require.Contains(t, out, `level=WARN msg="job failed" component=river job.attempt=3`)
	require.Contains(t, out, `level=ERROR msg="elector: gave up"`)
}

type onceArgs struct{}

func (onceArgs) Kind() string { return "jobs_test_once" }

// onceWorker counts runs across every client it is registered with.
type onceWorker struct {
	river.WorkerDefaults[onceArgs]
	runs *atomic.Int64
}

func (w *onceWorker) Work(context.Context, *river.Job[onceArgs]) error {
	w.runs.Add(1)
	return nil
}

// TestPeriodicJobOnceAcrossTwoClients: two River clients — two processes,
// each its own pool — on one database both schedule the same daily job
// (Every). Only the elected leader inserts periodic jobs, so it runs once;
// when the leader stops, the other takes over and, starting its own
// schedule (RunOnStart), is refused by the job's uniqueness for the
// period: the job still ran once.
func TestPeriodicJobOnceAcrossTwoClients(t *testing.T) {
	ctx := context.Background()
	admin, url := dbtest.Own(t)
	var runs atomic.Int64
	clients := map[string]*Client{}
	for _, id := range []string{"instance-one", "instance-two"} {
		pool, err := pgxpool.New(ctx, url)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		workers := river.NewWorkers()
		river.AddWorker(workers, &onceWorker{runs: &runs})
		c, err := New(pool, workers, Options{ID: id, TestOnly: true, FetchPollInterval: 50 * time.Millisecond,
			Logger:   slog.New(slog.DiscardHandler),
			Periodic: []*river.PeriodicJob{Every(24*time.Hour, onceArgs{})}})
		require.NoError(t, err)
		require.NoError(t, c.Start(ctx))
		clients[id] = c
	}
	stopped := map[string]bool{}
	t.Cleanup(func() {
		for id, c := range clients {
			if !stopped[id] {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_ = c.Stop(sctx)
				cancel()
			}
		}
	})
	leader := func() string {
		var id string
		err := admin.QueryRow(ctx, `SELECT leader_id FROM river_leader`).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ""
		}
		require.NoError(t, err)
		return id
	}
	jobsOfKind := func() int {
		var n int
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'jobs_test_once'`).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return runs.Load() == 1 }, 15*time.Second, 20*time.Millisecond)

	first := leader()
	require.Contains(t, clients, first)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, clients[first].Stop(sctx))
	stopped[first] = true
	require.Eventually(t, func() bool { l := leader(); return l != "" && l != first }, 20*time.Second, 20*time.Millisecond,
		"the other client takes the lead")
	// The new leader's schedule starts at once (RunOnStart); give its
	// insert and a fetch time to happen.
	time.Sleep(time.Second)
	require.Equal(t, int64(1), runs.Load())
	require.Equal(t, 1, jobsOfKind())
}
