// Package webtest runs the real web server for tests: Start serves it on a
// random port against the test package's own database (dbtest), Client
// drives it over HTTP with a cookie jar, CSRF tokens and goquery, and Browser
// drives it with Debian's headless Chromium through chromedp.
//
// A test package using it declares
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
package webtest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/web"
)

// App is one running server.
type App struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:40123.
	URL    string
	Server *web.Server
	// Pool is the server's own: the application role (dbtest.AppPool), so a
	// test's setup meets the same grants and append-only tables the server
	// does. dbtest.Pool(t) is the superuser, for what the role may not do.
	Pool *pgxpool.Pool
	// Services are the domain services the server runs, built by app.Build
	// exactly as `credits serve` builds them.
	Services *app.App
	// DatabaseURL is the URL of the database of the server's own
	// (WithOwnDatabase; db.WithUser names a role), for what a test does as
	// another role (the owner's jobs: partitions, the archive). Empty on
	// the package's shared database.
	DatabaseURL string

	stop func()
}

// Stop stops the server as a `credits serve` process shutting down does,
// before the test ends (an instance lost while others go on).
func (a *App) Stop() { a.stop() }

// Config is the configuration tests run with: development defaults as
// config reads them from an empty environment (whatever this machine's
// environment says), no payment sandbox (tests give their channels as an
// override), the private files in a temporary folder.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.LoadFrom(map[string]string{"PAYMENT_SANDBOX": "false"})
	if err != nil {
		t.Fatalf("webtest: config: %v", err)
	}
	cfg.Addr = "127.0.0.1:0"
	// More than 5 s: net/http's Shutdown closes a connection that never sent
	// a request (one a client's transport dialled for a burst, then kept
	// idle) only once it is 5 s old, so a 5 s timeout could run out first.
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.Database.DataDir = t.TempDir()
	return cfg
}

// FastArgon2 hashes passwords cheaply: tests sign many users up.
var FastArgon2 = auth.Argon2Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Option adjusts the server Start builds.
type Option struct {
	config    func(*config.Config)
	overrides func(*app.Overrides)
	server    func(*web.Server)
	logger    *slog.Logger
	ownDB     bool
	jobs      bool
	pool      *pgxpool.Pool
}

// WithConfig changes the configuration before the application is built
// (a test's limits, sign-up credit, receiving bank account).
func WithConfig(f func(*config.Config)) Option { return Option{config: f} }

// WithOverrides sets the test-only overrides app.Build accepts (a clock,
// payment channels, where mail goes).
func WithOverrides(f func(*app.Overrides)) Option { return Option{overrides: f} }

// WithLogger sends the server's logs to l instead of the test log.
func WithLogger(l *slog.Logger) Option { return Option{logger: l} }

// WithOwnDatabase runs the server on a database of its own instead of the
// package's shared one (for tests that work background jobs, which would
// otherwise pick up other tests' jobs).
func WithOwnDatabase() Option { return Option{ownDB: true} }

// WithPool runs the server on pool: a second instance of the application
// beside another on the same database (WithPool(first.Pool)), as several
// `credits serve` processes run behind a load balancer.
func WithPool(pool *pgxpool.Pool) Option { return Option{pool: pool} }

// WithJobs works the application's background jobs while the test runs,
// polling fast; use it with WithOwnDatabase.
func WithJobs() Option { return Option{jobs: true} }

// WithServer changes the built server before it serves its first request
// (test-only routes, extra error mappings).
func WithServer(f func(*web.Server)) Option { return Option{server: f} }

// Start builds the application with app.Build and the server with web.New,
// as `credits serve` does, on the package's test database connected as the
// application role, serves it on 127.0.0.1 at a random port and shuts it
// down when the test ends. The server logs to the test log at warning
// level and above.
func Start(t testing.TB, opts ...Option) *App {
	t.Helper()
	ctx := context.Background()
	cfg := Config(t)
	// Staff sign in without a second factor unless a test turns it back on
	// (WithOverrides: SkipTwoFactor = false): most tests are not about it.
	over := app.Overrides{Argon2: &FastArgon2, SkipTwoFactor: true}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var ownDB, workJobs bool
	for _, o := range opts {
		if o.config != nil {
			o.config(&cfg)
		}
		if o.overrides != nil {
			o.overrides(&over)
		}
		if o.logger != nil {
			logger = o.logger
		}
		ownDB = ownDB || o.ownDB
		workJobs = workJobs || o.jobs
	}
	pool := dbtest.AppPool(t)
	for _, o := range opts {
		if o.pool != nil {
			pool = o.pool
		}
	}
	var ownURL string
	if ownDB {
		_, own := dbtest.Own(t)
		ownURL = own
		var err error
		if pool, err = db.Open(ctx, db.WithUser(own, db.AppRole)); err != nil {
			t.Fatalf("webtest: own database: %v", err)
		}
		t.Cleanup(pool.Close)
	}
	over.FastJobs = over.FastJobs || workJobs
	ln, err := web.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("webtest: %v", err)
	}
	cfg.SetAddr(ln.Addr().String())
	services, err := app.Build(ctx, cfg, pool, logger, over)
	if err != nil {
		_ = ln.Close()
		t.Fatalf("webtest: build: %v", err)
	}
	t.Cleanup(services.Close)
	srv, err := web.New(services.WebDeps())
	if err != nil {
		t.Fatalf("webtest: new server: %v", err)
	}
	for _, o := range opts {
		if o.server != nil {
			o.server(srv)
		}
	}
	if workJobs {
		stop, err := services.Start(ctx)
		if err != nil {
			t.Fatalf("webtest: %v", err)
		}
		t.Cleanup(stop)
	}
	url := cfg.BaseURL
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webtest: server stopped with %v", err)
		}
	})
	t.Cleanup(stop)
	return &App{URL: url, Server: srv, Pool: pool, Services: services, DatabaseURL: ownURL, stop: stop}
}

// testWriter sends server logs to t.Log, so they show with a failing test.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// ArtifactDir is where screenshots go (testdata-artifacts/ at the project
// root, ignored by git), created on demand.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		dir = projectRoot() + "/testdata-artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("webtest: %v", err)
	}
	return dir
}
