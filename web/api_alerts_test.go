package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/jobs/jobstest"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/platform/mail/mailtest"
	"github.com/seed75218f88/credits/internal/webhook"
)

// receiver is a platform's webhook endpoint that checks every signature.
type receiver struct {
	mu     sync.Mutex
	secret string
	events []map[string]any
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := webhook.Verify(rc.secret, r.Header.Get(webhook.SignatureHeader), body, 5*time.Minute); err != nil {
		rc.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	_ = json.Unmarshal(body, &ev)
	rc.events = append(rc.events, ev)
}

func (rc *receiver) ofType(typ string) []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, e := range rc.events {
		if e["type"] == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestAlertsAreDeliveredOnceByMailAndWebhook(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	ctx := context.Background()
	smtp := mailtest.NewServer(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, mail.NewSendWorker(smtp.Sender(t)))
	river.AddWorker(workers, webhook.NewDeliverer(b.pool, webhook.DelivererOptions{AllowPrivateNetworks: true}))
	client := jobstest.Start(t, b.pool, workers)
	hooks := webhook.NewService(b.pool, client, webhook.Options{})
	alerts, err := gateway.NewAlerts(b.pool, client, hooks, gateway.AlertOptions{GapTimeout: time.Second, Now: b.clock.Now})
	require.NoError(t, err)

	c := b.live
	ext := b.account(c, uniq(t, "a"), map[string]any{"verification": map[string]any{"status": "verified", "reference": "r"}})
	acct, err := b.ledger.AccountByExternalID(ctx, ledger.ModeLive, ext)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO users (kind, account_id, email, locale) VALUES ('customer', $1, 'owner@example.com', 'en')`, acct.ID)
	require.NoError(t, err)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	_, rc.secret, err = hooks.CreateEndpoint(ctx, acct.ID, srv.URL)
	require.NoError(t, err)

	// scan runs the outbox until it has consumed everything committed.
	scan := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, err := alerts.ScanEvents(ctx)
			require.NoError(t, err)
			var cursor, max int64
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT last_event_id FROM gateway_alert_cursor`).Scan(&cursor))
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM ledger_events`).Scan(&max))
			if n == 0 && cursor >= max || time.Now().After(deadline) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitHooks := func(typ string, n int) []map[string]any {
		t.Helper()
		require.Eventually(t, func() bool { return len(rc.ofType(typ)) >= n }, 10*time.Second, 20*time.Millisecond)
		return rc.ofType(typ)
	}

	b.grant(c, ext, "100", "g1")
	scan()

	// Spend 85 of 100: below 20 %.
	r := b.reserve(c, ext, "call-1", 0, 11000) // holds 88
	id := r.JSON(t)["id"].(string)
	r = c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"output_tokens": 10625})
	require.Equal(t, "85", strings.TrimRight(strings.TrimRight(r.JSON(t)["charged"].(string), "0"), "."))
	scan()
	msgs := smtp.WaitTo(t, "owner@example.com", 1)
	require.Equal(t, []string{"owner@example.com"}, msgs[0].To)
	require.Contains(t, msgs[0].Subject, "20%")
	low := waitHooks("balance.low", 1)
	data := low[0]["data"].(map[string]any)
	require.EqualValues(t, 20, data["threshold_percent"])
	require.Equal(t, ext, data["account"])

	// Another scan, and more spending above 5 %: nothing new.
	scan()
	time.Sleep(300 * time.Millisecond)
	require.Len(t, smtp.MessagesTo("owner@example.com"), 1, "once per crossing")
	require.Len(t, rc.ofType("balance.low"), 1)

	// Down to 4 (below 5 %).
	r = c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{{"idempotency_key": "u1",
		"account": ext, "model": "deepseek-chat", "output_tokens": 1375, "occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}}})
	require.EqualValues(t, 1, r.JSON(t)["accepted"], string(r.Body))
	scan()
	msgs = smtp.WaitTo(t, "owner@example.com", 2)
	require.Contains(t, msgs[1].Subject, "5%")
	low = waitHooks("balance.low", 2)
	require.EqualValues(t, 5, low[1]["data"].(map[string]any)["threshold_percent"])

	// A lot expiring in 3 days: one reminder, however often the job runs.
	expires := time.Now().Add(72 * time.Hour).UTC()
	r = c.do(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{"amount": "50", "kind": "plan",
		"reason_code": "plan", "idempotency_key": "g2", "expires_at": expires.Format(time.RFC3339)})
	require.Equal(t, http.StatusCreated, r.Status)
	n, err := alerts.RemindExpiring(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1)
	n, err = alerts.RemindExpiring(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	msgs = smtp.WaitTo(t, "owner@example.com", 3)
	require.Contains(t, msgs[2].Subject, "expire")
	exp := waitHooks("lot.expiring", 1)
	require.Equal(t, "plan", exp[0]["data"].(map[string]any)["kind"])
	scan()
	time.Sleep(300 * time.Millisecond)
	require.Len(t, smtp.MessagesTo("owner@example.com"), 3)
	require.Len(t, rc.ofType("balance.low"), 2)
	require.Len(t, rc.ofType("lot.expiring"), 1)
	require.Zero(t, rc.bad, "every delivery carried a valid signature")

	var attempts int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&attempts))
	require.GreaterOrEqual(t, attempts, 3, "every attempt is logged")
}
