package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/natstest"
)

// setupStreamAPI is setupAPI with NATS_URL set: the server queues usage in
// a stream of the test's own (deleted afterwards) and its consumer runs.
func setupStreamAPI(t *testing.T) *apiBundle {
	t.Helper()
	url, prefix := natstest.URL(t), natstest.Prefix()
	b := setupAPI(t, apiOpts{config: func(c *config.Config) {
		c.NATS = config.NATS{URL: url, Prefix: prefix}
	}})
	us := b.app.Services.UsageStream
	require.NotNil(t, us)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = us.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = us.Delete(context.Background())
	})
	return b
}

// With NATS_URL, POST /v1/usage/events answers 202 with each event's id and
// state (the document's 202), the consumer charges the queued events once,
// and a resent batch is all duplicates.
func TestAPIUsageThroughJetStream(t *testing.T) {
	b := setupStreamAPI(t)
	c := b.live
	ext := b.account(c, uniq(t, "a"), map[string]any{"verification": map[string]any{"status": "verified", "reference": "r"}})
	b.grant(c, ext, "100", "g")
	now := time.Now().Add(time.Second).UTC()
	ev := func(key string, at time.Time) map[string]any {
		return map[string]any{"idempotency_key": key, "account": ext, "model": "deepseek-chat", "input_tokens": 1000,
			"output_tokens": 1000, "occurred_at": at.Format(time.RFC3339Nano)}
	}
	batch := []map[string]any{ev("q1", now), ev("q2", now.Add(-8*24*time.Hour)), ev("q3", now)}
	r := c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": batch})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	got := r.JSON(t)
	require.EqualValues(t, 2, got["queued"], "%v", got)
	rj := got["rejected"].([]any)
	require.Len(t, rj, 1)
	require.Equal(t, "event_too_old", rj[0].(map[string]any)["code"])
	require.NotEmpty(t, rj[0].(map[string]any)["message"])
	states := []string{}
	for _, e := range got["events"].([]any) {
		states = append(states, e.(map[string]any)["state"].(string))
		require.Len(t, e.(map[string]any)["id"], 32)
	}
	require.Equal(t, []string{"queued", "rejected", "queued"}, states)

	charged := decimal.RequireFromString("80") // two events of 10 credits
	require.Eventually(t, func() bool {
		return dec(t, b.balance(c, ext)["available"]).Equal(charged)
	}, 20*time.Second, 50*time.Millisecond, "the queued events were not charged")

	r = c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": batch})
	require.Equal(t, http.StatusAccepted, r.Status)
	require.EqualValues(t, 2, r.JSON(t)["duplicates"])
	require.EqualValues(t, 0, r.JSON(t)["queued"])
	time.Sleep(200 * time.Millisecond)
	require.True(t, dec(t, b.balance(c, ext)["available"]).Equal(charged))
}
