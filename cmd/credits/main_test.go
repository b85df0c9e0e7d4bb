package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// TestMain doubles as the credits binary: with CREDITS_TEST_MAIN=1 the test
// binary runs main() with CREDITS_TEST_ARGS, so tests can check exit codes
// and what a user sees on stderr.
func TestMain(m *testing.M) {
	if os.Getenv("CREDITS_TEST_MAIN") == "1" {
		os.Args = append([]string{"credits"}, strings.Fields(os.Getenv("CREDITS_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	dbtest.Main(m)
}

// runCredits runs `credits args…` as a process and returns its exit code and
// stderr.
func runCredits(t *testing.T, env []string, args string) (int, string) {
	t.Helper()
	code, _, stderr := runCreditsOutput(t, env, args)
	return code, stderr
}

// runCreditsOutput is runCredits that also returns what the command printed
// on stdout.
func runCreditsOutput(t *testing.T, env []string, args string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "CREDITS_TEST_MAIN=1", "CREDITS_TEST_ARGS="+args)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, out.String(), errOut.String()
}

func oneLine(t *testing.T, s string) string {
	t.Helper()
	s = strings.TrimRight(s, "\n")
	require.NotContains(t, s, "\n", "the error is one line")
	return s
}

func TestBadConfigurationEndsWithOneClearLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	for _, tc := range []struct {
		name, args, want string
		env              []string
	}{
		{"UnparsableDatabaseURL", "serve", "DATABASE_URL is not a valid PostgreSQL URL",
			[]string{"DATABASE_URL=postgres://user:secret@db:notaport/credits"}},
		{"UnreachableDatabase", "serve", "cannot reach PostgreSQL at 127.0.0.1:1/credits",
			[]string{"DATABASE_URL=postgres://postgres@127.0.0.1:1/credits?sslmode=disable&connect_timeout=2"}},
		{"PortInUse", "serve --addr " + busy.Addr().String(), "the address is already in use",
			[]string{"DATABASE_URL=" + dbtest.AppURL(t)}},
		{"BadAddress", "serve --addr nonsense", "cannot listen on nonsense",
			[]string{"DATABASE_URL=" + dbtest.AppURL(t)}},
		{"ProductionWithDevSecret", "serve", "APP_ENV=production needs SESSION_SECRET",
			[]string{"APP_ENV=production"}},
		{"BadGraceCredits", "serve --addr 127.0.0.1:0", "GRACE_CREDITS must be a number of credits",
			[]string{"DATABASE_URL=" + dbtest.AppURL(t), "GRACE_CREDITS=lots", "GRACE_HOURS=72"}},
		{"GraceCreditsWithoutHours", "serve --addr 127.0.0.1:0", "GRACE_HOURS must be a whole number of hours above 0 when GRACE_CREDITS is set",
			[]string{"DATABASE_URL=" + dbtest.AppURL(t), "GRACE_CREDITS=5000"}},
		{"BadTrustedProxies", "serve", `TRUSTED_PROXIES: "proxy.internal" is not a network`,
			[]string{"TRUSTED_PROXIES=10.0.0.0/8,proxy.internal"}},
		{"UnknownCommand", "bogus", `unknown command "bogus"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runCredits(t, tc.env, tc.args)
			require.NotZero(t, code)
			if tc.name == "UnknownCommand" {
				require.Contains(t, stderr, tc.want)
				return
			}
			line := oneLine(t, stderr)
			require.Contains(t, line, tc.want)
			require.NotContains(t, line, "secret")
		})
	}
}

func TestServeRefusesAnUnmigratedDatabase(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.Pool(t)
	_, err := admin.Exec(ctx, "CREATE DATABASE credits_cmd_unmigrated_probe")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS credits_cmd_unmigrated_probe WITH (FORCE)")
	})
	// as the application role, which may not create goose's table
	url := db.WithUser(db.WithDatabase(dbtest.URL(t), "credits_cmd_unmigrated_probe"), db.AppRole)
	code, stderr := runCredits(t, []string{"DATABASE_URL=" + url}, "serve --addr 127.0.0.1:0")
	require.Equal(t, 1, code)
	require.Contains(t, oneLine(t, stderr), "run `credits migrate`")
}

// TestServeInProductionRefusesTheOwnerRole: a server connected as a role
// that could drop the append-only triggers (a superuser or the tables'
// owner) does not start in production.
func TestServeInProductionRefusesTheOwnerRole(t *testing.T) {
	prod := []string{"APP_ENV=production", "SESSION_SECRET=" + strings.Repeat("s", 40), "VERIFY_ENDPOINT=https://verify.example.com",
		"VERIFY_APP_KEY=k", "VERIFY_APP_SECRET=s"}
	for name, url := range map[string]string{
		"Superuser": dbtest.URL(t),
		"Owner":     db.WithUser(dbtest.URL(t), db.OwnerRole),
	} {
		t.Run(name, func(t *testing.T) {
			code, stderr := runCredits(t, append(prod, "DATABASE_URL="+url), "serve --addr 127.0.0.1:0")
			require.Equal(t, 1, code)
			require.Contains(t, oneLine(t, stderr), "connect as the application role (credits_app)")
		})
	}
}

// TestMigrateConnectsAsTheOwner: with only DATABASE_URL (the application
// role) set, `credits migrate` connects as the owner role on the same server
// and re-applies the grants; MIGRATE_DATABASE_URL names another owner URL,
// and the application role cannot migrate.
func TestMigrateConnectsAsTheOwner(t *testing.T) {
	app := "DATABASE_URL=" + dbtest.AppURL(t)
	code, stderr := runCredits(t, []string{app}, "migrate")
	require.Equal(t, 0, code, stderr)

	code, stderr = runCredits(t, []string{app, "MIGRATE_DATABASE_URL=" + db.WithUser(dbtest.URL(t), db.OwnerRole)}, "migrate")
	require.Equal(t, 0, code, stderr)

	code, stderr = runCredits(t, []string{app, "MIGRATE_DATABASE_URL=" + dbtest.AppURL(t)}, "migrate")
	require.Equal(t, 1, code)
	require.Contains(t, oneLine(t, stderr), "grants to credits_app")
}

func TestServeAnswersThenStopsGracefully(t *testing.T) {
	t.Setenv("DATABASE_URL", dbtest.AppURL(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, logs bytes.Buffer
	go func() { done <- serve(ctx, []string{"--addr", addr}, &out, &logs) }()

	var res *http.Response
	require.Eventually(t, func() bool {
		res, err = http.Get("http://" + addr + "/healthz")
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	require.Contains(t, out.String(), "serving on http://"+addr)
	require.Contains(t, logs.String(), "server stopped")
}

// TestServeDrainsBeforeStopping: with SHUTDOWN_DRAIN, a stopping serve
// fails /readyz (so a load balancer takes it out) while it still answers
// every other request, and only then stops.
func TestServeDrainsBeforeStopping(t *testing.T) {
	t.Setenv("DATABASE_URL", dbtest.AppURL(t))
	t.Setenv("SHUTDOWN_DRAIN", "2s")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, logs bytes.Buffer
	go func() { done <- serve(ctx, []string{"--addr", addr}, &out, &logs) }()
	status := func(path string) int {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	require.Eventually(t, func() bool { return status("/readyz") == http.StatusOK }, 10*time.Second, 50*time.Millisecond)

	stopped := time.Now()
	cancel() // what SIGTERM does through signal.NotifyContext
	require.Eventually(t, func() bool { return status("/readyz") == http.StatusServiceUnavailable }, time.Second, 20*time.Millisecond)
	require.Equal(t, http.StatusOK, status("/healthz"), "still answering while draining")
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	require.GreaterOrEqual(t, time.Since(stopped), 2*time.Second)
	require.Zero(t, status("/healthz"), "no longer listening")
	require.Contains(t, logs.String(), "draining before shutdown")
}

func TestSeedPrintsWhatEachStepMade(t *testing.T) {
	pool := dbtest.AppPool(t) // `credits seed` connects as the application role
	var out bytes.Buffer
	steps := append(append([]seedStep(nil), seedSteps...), seedStep{"demo", func(context.Context, *app.App) (seedResult, error) {
		return seedResult{Lines: []string{"1 customer"}, SignIns: []string{"customer  demo@example.com / demo"}}, nil
	}})
	require.NoError(t, seed(context.Background(), devConfig(t), pool, steps, &out))
	require.Contains(t, out.String(), "seed platform: database ready")
	require.Contains(t, out.String(), "seed demo: 1 customer")
	require.Contains(t, out.String(), "demo sign-ins:\n")
	require.Contains(t, out.String(), "\n  customer  demo@example.com / demo\n")
	// The gateway's URL and the demo customer's API key, which the store
	// accepts, are among the sign-ins.
	require.Contains(t, out.String(), "\n  gateway     http://127.0.0.1:8081/v1 ")
	require.Contains(t, out.String(), "\n  API key     "+demoRelayKey+" (demo@example.com)\n")
	a, err := app.Build(context.Background(), devConfig(t), pool, nil, app.Overrides{})
	require.NoError(t, err)
	defer a.Close()
	k, err := a.RelayKeys.Authenticate(context.Background(), demoRelayKey)
	require.NoError(t, err)
	u, err := a.Auth.UserByLogin(context.Background(), demoCustomerLogin)
	require.NoError(t, err)
	require.Equal(t, u.AccountID, k.AccountID)
}
