// Package jobs runs background work on River, a job queue kept in our own
// PostgreSQL database: a job inserted with InsertTx inside a use case's
// transaction exists exactly when that transaction commits, so no alert or
// mail is lost when the ledger write succeeds nor sent when it rolls back.
//
// River's tables come from goose migrations 000150-000157 (generated from
// rivermigrate for the pinned River version, see river_schema_test.go), so
// `credits migrate` and every test database carry them; Migrate is a
// safety net that applies whatever River version a future upgrade adds.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// Queue names. Each kind of work has its own queue so a slow webhook
// receiver never delays a receipt mail or an expiry sweep.
const (
	QueueDefault = river.QueueDefault
	QueueMail    = "mail"
	QueueWebhook = "webhook"
)

// Client is the River client type used across the project.
type Client = river.Client[pgx.Tx]

// Inserter is what domain code needs to enqueue work inside its own
// transaction; *Client satisfies it.
type Inserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Options tune a Client; the zero value is right for production.
type Options struct {
	// Logger receives River's own logs (default slog.Default()).
	Logger *slog.Logger

	// Queues maps queue name to its maximum concurrent workers. Nil gives
	// DefaultQueues. An insert-only client (a CLI command) sets InsertOnly.
	Queues map[string]int

	// InsertOnly builds a client that enqueues but never works jobs.
	InsertOnly bool

	// Periodic jobs to schedule (run by the elected leader only), e.g.
	// Every(time.Minute, ledger.ExpirySweepArgs{}).
	Periodic []*river.PeriodicJob

	// FetchPollInterval is how often queues poll besides LISTEN/NOTIFY
	// (default 1s). Tests lower it so short retries run promptly.
	FetchPollInterval time.Duration

	// ID names this client in River's tables (default: generated).
	ID string

	// TestOnly skips River's jittered start-up delays; for tests only.
	TestOnly bool
}

// DefaultQueues sizes the queues for a two-core server.
var DefaultQueues = map[string]int{
	QueueDefault: 10,
	QueueMail:    4,
	QueueWebhook: 10,
}

// New builds a River client over pool. Register every worker in workers
// before calling it. Start it with client.Start(ctx) in `serve` and stop it
// with client.Stop(ctx) on shutdown; CLI commands that only enqueue use
// Options.InsertOnly and never start it.
func New(pool *pgxpool.Pool, workers *river.Workers, opts Options) (*Client, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = riverLogger(logger)
	cfg := &river.Config{
		ID:                opts.ID,
		Logger:            logger,
		Workers:           workers,
		PeriodicJobs:      opts.Periodic,
		FetchPollInterval: opts.FetchPollInterval,
		TestOnly:          opts.TestOnly,
		// Jobs give up after MaxAttempts; webhook and mail jobs set their own.
		MaxAttempts: 10,
		// A job that runs longer than this is cancelled and retried.
		JobTimeout: 2 * time.Minute,
		// Finished jobs stay a week for inspection; delivery history for
		// webhooks lives in webhook_deliveries, independent of this.
		CompletedJobRetentionPeriod: 7 * 24 * time.Hour,
		DiscardedJobRetentionPeriod: 30 * 24 * time.Hour,
		// No nightly REINDEX of River's indexes: it needs the table's owner,
		// and the server connects as the application role (the owner can
		// reindex river_job by hand should its indexes bloat).
		ReindexerIndexNames: []string{},
	}
	if opts.FetchPollInterval > 0 && opts.FetchPollInterval < river.FetchCooldownDefault {
		cfg.FetchCooldown = opts.FetchPollInterval
	}
	if !opts.InsertOnly {
		queues := opts.Queues
		if queues == nil {
			queues = DefaultQueues
		}
		cfg.Queues = make(map[string]river.QueueConfig, len(queues))
		for name, n := range queues {
			cfg.Queues[name] = river.QueueConfig{MaxWorkers: n}
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: new client: %w", err)
	}
	return client, nil
}

// Migrate applies River's pending migrations. The goose migrations already
// contain River's schema for the pinned version, so on a database migrated
// by db.Migrate it does nothing; it exists so that a River upgrade never
// starts against an older queue schema. Call it right after db.Migrate.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := migrator(pool)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate river: %w", err)
	}
	return nil
}

// ErrRiverNotMigrated says River's tables are behind the River library.
var ErrRiverNotMigrated = errors.New("the job queue's tables are not up to date: run `credits migrate`")

// RequireMigrated fails with ErrRiverNotMigrated when River reports
// pending migrations.
func RequireMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := migrator(pool)
	if err != nil {
		return err
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: validate river schema: %w", err)
	}
	if !res.OK {
		return fmt.Errorf("%w (%v)", ErrRiverNotMigrated, res.Messages)
	}
	return nil
}

func migrator(pool *pgxpool.Pool) (*rivermigrate.Migrator[pgx.Tx], error) {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: river migrator: %w", err)
	}
	return m, nil
}

// Every returns a periodic job inserting args every interval, first when the
// client starts. Insertions are unique per interval, so a leader change
// never runs a sweep twice in one period. args must be a struct value
// whose fields do not change between runs (a sweep reads "now" itself).
func Every(interval time.Duration, args river.JobArgs) *river.PeriodicJob {
	return river.NewPeriodicJob(
		river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) {
			return args, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: interval}}
		},
		&river.PeriodicJobOpts{RunOnStart: true, ID: args.Kind()},
	)
}

// DailyAt returns a periodic job inserting args once a day at hour:minute in
// loc (for reminders sent at a civil hour, e.g. 09:00 Asia/Shanghai).
func DailyAt(hour, minute int, loc *time.Location, args river.JobArgs) *river.PeriodicJob {
	return river.NewPeriodicJob(
		dailySchedule{hour: hour, minute: minute, loc: loc},
		func() (river.JobArgs, *river.InsertOpts) {
			return args, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 12 * time.Hour}}
		},
		&river.PeriodicJobOpts{ID: args.Kind()},
	)
}

type dailySchedule struct {
	hour, minute int
	loc          *time.Location
}

// Next is the first hour:minute in loc strictly after t.
func (s dailySchedule) Next(t time.Time) time.Time {
	t = t.In(s.loc)
	next := time.Date(t.Year(), t.Month(), t.Day(), s.hour, s.minute, 0, 0, s.loc)
	if !next.After(t) {
		next = time.Date(t.Year(), t.Month(), t.Day()+1, s.hour, s.minute, 0, 0, s.loc)
	}
	return next
}

// riverLogger passes on River's warnings and errors only: at info level it
// reports each producer's job counts every few seconds, which buries the
// server's own request log.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(atLeast{Handler: l.Handler(), level: slog.LevelWarn})
}

// atLeast is a handler that drops records below level.
type atLeast struct {
	slog.Handler
	level slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLeast{Handler: h.Handler.WithAttrs(attrs), level: h.level}
}

func (h atLeast) WithGroup(name string) slog.Handler {
	return atLeast{Handler: h.Handler.WithGroup(name), level: h.level}
}
