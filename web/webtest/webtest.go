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
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/platform/config"
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
}

// Config is the configuration tests run with: dev, sandbox payments, the dev
// session secret, whatever the environment says.
func Config() config.Config {
	return config.Config{
		Env:             config.Dev,
		Addr:            "127.0.0.1:0",
		BaseURL:         "http://127.0.0.1",
		SessionSecret:   config.DevSessionSecret,
		PaymentSandbox:  true,
		ShutdownTimeout: 5 * time.Second,
	}
}

// Option adjusts the server Start builds.
type Option struct {
	deps   func(*web.Deps)
	server func(*web.Server)
}

// WithDeps changes the Deps before web.New runs (a later area's fake clock or
// payment simulator).
func WithDeps(f func(*web.Deps)) Option { return Option{deps: f} }

// WithServer changes the built server before it serves its first request
// (test-only routes, extra error mappings).
func WithServer(f func(*web.Server)) Option { return Option{server: f} }

// Start builds the server with web.New, the constructor `credits serve`
// uses, on the package's test database connected as the application role
// (as `credits serve` is), serves it on 127.0.0.1 at a random port and shuts
// it down when the test ends. The server logs to the test log at warning
// level and above.
func Start(t testing.TB, opts ...Option) *App {
	t.Helper()
	pool := dbtest.AppPool(t)
	cfg := Config()
	deps := web.Deps{
		Config: cfg,
		Pool:   pool,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range opts {
		if o.deps != nil {
			o.deps(&deps)
		}
	}
	srv, err := web.New(deps)
	if err != nil {
		t.Fatalf("webtest: new server: %v", err)
	}
	for _, o := range opts {
		if o.server != nil {
			o.server(srv)
		}
	}
	ln, err := web.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("webtest: %v", err)
	}
	url := "http://" + ln.Addr().String()
	srv.Config.BaseURL = url
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webtest: server stopped with %v", err)
		}
	})
	return &App{URL: url, Server: srv, Pool: deps.Pool}
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
