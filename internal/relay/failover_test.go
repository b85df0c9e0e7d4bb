package relay_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/replicatest"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/relay"
)

// The gateway through a primary failover (a real primary and standby,
// the primary stopped as a crash would): a call that needs a hold answers
// OpenAI's 503 with Retry-After and reaches no upstream (one already sent
// on a speculative start is stopped), keys and the model list are read
// from the standby, and a stream that ends while no primary answers is
// charged once one does.
func TestGatewayThroughAPrimaryFailover(t *testing.T) {
	cluster, primary, reader := startPair(t, "credits_relay_failover")
	ctx := context.Background()

	// Keys stay trusted for the whole test once verified: a key verified
	// before the stop is served from the cache, one never used from the
	// standby.
	b := setupOn(t, primary, reader, func(o *relay.Options) { o.KeyCacheTTL = time.Hour; o.UpstreamTTL = time.Hour })
	b.upstream(t, "failover", "deepseek-chat=sim-chat", 0)
	// A second gateway process without a standby (no DATABASE_REPLICA_URL):
	// it cannot know the primary is down before its reserve fails.
	lone, err := relay.New(relay.Deps{Gateway: b.gw, Pricing: b.pricing, Keys: b.keys, Upstreams: b.ups, Counter: b.counter},
		relay.Options{Now: b.clock.Now})
	require.NoError(t, err)
	loneSrv := httptest.NewServer(lone.Handler())
	t.Cleanup(loneSrv.Close)

	acct, secret := b.customer(t, "1000")
	_, unused := b.customer(t, "1000")
	call := func(base, key, body string) (*http.Response, string, time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		method := http.MethodPost
		path := "/v1/chat/completions"
		if body == "" {
			method, path = http.MethodGet, "/v1/models"
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err, "never a hang")
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		return resp, string(raw), time.Since(began)
	}
	small := chatBody("deepseek-chat", "warm up sim:tokens=2", false, "")
	for _, base := range []string{b.url, loneSrv.URL} { // each trusts the account: its next calls would speculate
		resp, body, _ := call(base, secret, small)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
	}
	before := b.waitSettled(t, acct.ID)
	cluster.WaitCaughtUp() // the keys and accounts are on the standby

	// A stream in flight when the primary stops.
	streamText := "a long answer sim:tokens=100 sim:delay=50ms"
	sreq, err := http.NewRequest(http.MethodPost, b.url+"/v1/chat/completions", strings.NewReader(chatBody("deepseek-chat", streamText, true, "")))
	require.NoError(t, err)
	sreq.Header.Set("Authorization", "Bearer "+secret)
	stream, err := http.DefaultClient.Do(sreq)
	require.NoError(t, err)
	defer stream.Body.Close()
	require.Equal(t, http.StatusOK, stream.StatusCode)
	first := make([]byte, 1)
	_, err = io.ReadFull(stream.Body, first)
	require.NoError(t, err)
	cluster.WaitCaughtUp()

	cluster.StopPrimary()
	noPrimary := func(resp *http.Response, body string, took time.Duration) {
		t.Helper()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
		require.Equal(t, "2", resp.Header.Get("Retry-After"))
		require.Equal(t, "true", resp.Header.Get("x-should-retry"), "the SDKs retry it")
		require.Contains(t, body, `"code":"service_unavailable"`)
		require.Contains(t, body, `"type":"api_error"`)
		require.Less(t, took, 10*time.Second)
		t.Logf("503 answered in %s", took.Round(time.Millisecond))
	}

	// The lone gateway sends the call upstream while reserving; the reserve
	// finds no primary, the upstream call is stopped and the client told to
	// retry.
	calls, speculated := b.sim.Calls(), lone.Speculated()
	resp, body, took := call(loneSrv.URL, secret, chatBody("deepseek-chat", "speculative sim:tokens=30 sim:first=3s", true, ""))
	noPrimary(resp, body, took)
	require.Less(t, took, 2*time.Second, "stopped when the reserve failed, not when the upstream answered")
	require.Equal(t, speculated+1, lone.Speculated(), "it went upstream while reserving")
	require.LessOrEqual(t, b.sim.Calls(), calls+1)

	// The stream ends while no primary answers: the client gets all of it,
	// and its hold is still there (its commit found no primary).
	rest, err := io.ReadAll(stream.Body)
	require.NoError(t, err)
	require.Contains(t, string(rest), "[DONE]")
	require.Eventually(t, reader.StandingIn, 10*time.Second, 20*time.Millisecond)
	held, err := b.ledger.Balance(reader.PinFailover(ctx, 0), acct.ID)
	require.NoError(t, err, "read from the standby")
	require.True(t, held.Reserved.IsPositive(), "the stream ended after the primary stopped")

	// The gateway with the standby knows the primary is down: no call goes
	// upstream, keys and the model list are read from the standby.
	calls, speculated = b.sim.Calls(), b.relay.Speculated()
	for _, key := range []string{secret, unused} {
		resp, body, took = call(b.url, key, chatBody("deepseek-chat", "during sim:tokens=3", true, ""))
		noPrimary(resp, body, took)
		resp, body, _ = call(b.url, key, "")
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		require.Contains(t, body, `"id":"deepseek-chat"`)
	}
	require.Equal(t, speculated, b.relay.Speculated(), "no speculative start while the primary is known down")
	require.Equal(t, calls, b.sim.Calls(), "nothing reached the upstream")
	resp, body, _ = call(b.url, "sk-"+strings.Repeat("x", 48), "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an unknown key is refused by the standby: %s", body)

	// A primary answers again: the stream's hold is charged exactly what it
	// produced, the refused calls left nothing, and calls work again.
	cluster.StartPrimary()
	reqCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, b.relay.WaitSettles(reqCtx))
	require.Zero(t, b.relay.Unsettled())
	after := b.waitSettled(t, acct.ID)
	require.True(t, before.Sub(after).Equal(b.cost(t, "deepseek-chat", promptTokens(streamText), 0, 100)),
		"the stream is charged once a primary answers: %s", before.Sub(after))
	require.Eventually(t, func() bool {
		resp, _, _ := call(b.url, secret, small)
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 200*time.Millisecond, "calls are billed again")
}

// startPair starts a real primary and standby for a failover test with the
// default rate card on it, and the primary's pool and a probing reader.
func startPair(t *testing.T, name string) (*replicatest.Cluster, *pgxpool.Pool, *db.Reader) {
	t.Helper()
	cluster := replicatest.Start(t, name)
	ctx := context.Background()
	primary, reader := cluster.Reader()
	owner, err := db.Open(ctx, cluster.PrimaryAdmin())
	require.NoError(t, err)
	_, err = pricing.New(owner).EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
	owner.Close()
	require.NoError(t, err)
	return cluster, primary, reader
}
