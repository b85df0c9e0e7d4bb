package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/replicatest"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

func TestGatewaySettingsReadRateLimits(t *testing.T) {
	t.Parallel()
	c, err := config.LoadFrom(map[string]string{"TRIAL_RPM": "5", "TRIAL_TPM": "5000", "DEFAULT_RPM": "1200"})
	require.NoError(t, err)
	require.Equal(t, ratelimit.Limit{RPM: 5, TPM: 5000}, c.Gateway.TrialLimit)
	require.Equal(t, ratelimit.Limit{RPM: 1200, TPM: ratelimit.DefaultLimit.TPM}, c.Gateway.DefaultLimit)

	_, err = config.LoadFrom(map[string]string{"TRIAL_RPM": "many"})
	require.EqualError(t, err, "TRIAL_RPM must be a positive whole number per minute")
}

// TestGatewayReadyzAndDrain: the gateway answers /readyz for load
// balancers and, with SHUTDOWN_DRAIN, fails it while it still serves,
// before it stops.
func TestGatewayReadyzAndDrain(t *testing.T) {
	t.Setenv("DATABASE_URL", dbtest.AppURL(t))
	t.Setenv("SHUTDOWN_DRAIN", "2s")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gatewayMain(ctx, nil, io.Discard, io.Discard, ln) }()
	status := func(path string) int {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	require.Eventually(t, func() bool { return status("/readyz") == http.StatusOK }, 10*time.Second, 50*time.Millisecond)
	res, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Contains(t, string(metrics), `credits_gateway_first_token_overhead_seconds_count{stage="total"} 0`,
		"the gateway's own part of the time to first token is exported")

	stopped := time.Now()
	cancel() // what SIGTERM does through signal.NotifyContext
	require.Eventually(t, func() bool { return status("/readyz") == http.StatusServiceUnavailable }, time.Second, 20*time.Millisecond)
	require.Equal(t, http.StatusOK, status("/healthz"), "still answering while draining")
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway did not stop")
	}
	require.GreaterOrEqual(t, time.Since(stopped), 2*time.Second)
	require.Zero(t, status("/healthz"), "no longer listening")
}

// TestGatewayReadyThroughAPrimaryFailover: given DATABASE_REPLICA_URL, the
// gateway stays ready while no primary answers and reads keys from the
// standby (a key unknown there is refused as such, not answered 503).
func TestGatewayReadyThroughAPrimaryFailover(t *testing.T) {
	cluster := replicatest.Start(t, "credits_gateway_failover")
	t.Setenv("DATABASE_URL", cluster.PrimaryURL())
	t.Setenv("DATABASE_REPLICA_URL", cluster.StandbyURL())
	t.Setenv("SHUTDOWN_DRAIN", "0s")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- gatewayMain(ctx, nil, io.Discard, io.Discard, ln) }()
	get := func(path string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer sk-"+strings.Repeat("0", 48))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { s, _ := get("/readyz"); return s == http.StatusOK }, 20*time.Second, 50*time.Millisecond)

	cluster.StopPrimary()
	require.Eventually(t, func() bool {
		s, body := get("/readyz")
		return s == http.StatusOK && strings.Contains(body, "no primary")
	}, 10*time.Second, 50*time.Millisecond, "ready: the standby stands in")
	status, body := get("/v1/models")
	require.Equal(t, http.StatusUnauthorized, status, "the key is looked up on the standby: %s", body)

	cluster.StartPrimary()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not stop")
	}
}
