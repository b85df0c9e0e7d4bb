package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

// served is the server `credits serve` runs, built by app.Build from the
// environment (the production wiring), on a random port.
type served struct {
	url string
	svc *app.App
}

func serveFromEnv(t *testing.T) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := web.Listen("127.0.0.1:0")
	require.NoError(t, err)
	cfg, err := config.Load()
	require.NoError(t, err)
	cfg.SetAddr(ln.Addr().String())
	pool := dbtest.Pool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := app.Build(ctx, cfg, pool, logger, app.Overrides{})
	require.NoError(t, err)
	srv, err := web.New(svc.WebDeps())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		svc.Close()
	})
	_, err = pricing.New(pool).EnsureDefault(ctx, "test", cfg.CreditPriceRMB)
	require.NoError(t, err)
	return &served{url: cfg.BaseURL, svc: svc}
}

// api calls the gateway API with a live service key.
type api struct {
	t        *testing.T
	url, key string
}

func (a api) do(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer res.Body.Close()
	var out map[string]any
	require.NoError(a.t, json.NewDecoder(res.Body).Decode(&out))
	return res.StatusCode, out
}

// balance is GET /v1/accounts/{ext}/balance: available and grace credit.
func (a api) balance(ext string) (available, grace decimal.Decimal) {
	a.t.Helper()
	status, b := a.do(http.MethodGet, "/v1/accounts/"+ext+"/balance", nil)
	require.Equal(a.t, http.StatusOK, status, b)
	return decimal.RequireFromString(b["available"].(string)), decimal.RequireFromString(b["by_kind"].(map[string]any)["grace"].(string))
}

// graceGrants counts the grace lots the ledger ever granted the account,
// from its ledger page (grant events of grace lots).
func (a api) graceGrants(ext string) int {
	a.t.Helper()
	status, p := a.do(http.MethodGet, "/v1/accounts/"+ext+"/ledger?limit=200", nil)
	require.Equal(a.t, http.StatusOK, status, p)
	require.Nil(a.t, p["next_cursor"], "one page holds the whole history")
	n := 0
	for _, e := range p["events"].([]any) {
		ev := e.(map[string]any)
		if ev["type"] == "grant" && ev["lot_kind"] == "grace" {
			require.Equal(a.t, "grace", ev["reason_code"])
			n++
		}
	}
	return n
}

// use sends one usage event of input tokens of deepseek-chat.
func (a api) use(ext, key string, tokens int) {
	a.t.Helper()
	status, r := a.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{{
		"idempotency_key": key, "account": ext, "model": "deepseek-chat", "input_tokens": tokens,
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}}})
	require.Equal(a.t, http.StatusOK, status, r)
	require.EqualValues(a.t, 1, r["accepted"], r)
}

// topUp pays a bank transfer order of fen for the account, the way finance
// completes one from a statement line: a paid lot, a completed top-up.
func (s *served) topUp(t *testing.T, accountID, fen int64, ref string) {
	t.Helper()
	ctx := context.Background()
	o, err := s.svc.Payments.CreateTransferOrder(ctx, accountID, fen)
	require.NoError(t, err)
	err = pgx.BeginFunc(ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		_, err := s.svc.Payments.CompleteTransferOrder(ctx, tx, o.ID, ref, "test")
		return err
	})
	require.NoError(t, err)
}

// TestGraceCreditThroughTheServedAPI runs the server as `credits serve`
// wires it, with GRACE_CREDITS=500 and GRACE_HOURS=72, and drives it
// through the gateway API: a paid account that reaches zero gets exactly
// one grace lot (also when 64 usage calls race past zero at once), none
// while it is active and none again before the next paid top-up; an
// account that never paid gets none; and grace credit is never offered for
// refund.
func TestGraceCreditThroughTheServedAPI(t *testing.T) {
	t.Setenv("GRACE_CREDITS", "500")
	t.Setenv("GRACE_HOURS", "72")
	s := serveFromEnv(t)
	ctx := context.Background()
	_, secret, err := s.svc.Gateway.Keys.Create(ctx, ledger.ModeLive, "grace test")
	require.NoError(t, err)
	a := api{t: t, url: s.url, key: secret}
	verified := map[string]any{"verification": map[string]any{"status": "verified", "reference": "ref-grace"}}
	status, acc := a.do(http.MethodPut, "/v1/accounts/grace-paid", verified)
	require.Equal(t, http.StatusCreated, status, acc)
	accountID := int64(acc["id"].(float64))

	// A paid top-up of ¥10 (10,000 credits); usage that leaves some: no grace.
	s.topUp(t, accountID, 1000, "stmt-1")
	a.use("grace-paid", "u1", 1000)
	avail, grace := a.balance("grace-paid")
	require.True(t, avail.IsPositive() && avail.LessThan(decimal.NewFromInt(10000)), "available %s", avail)
	require.True(t, grace.IsZero())
	require.Equal(t, 0, a.graceGrants("grace-paid"))

	// Usage past zero: the account is at zero, then gets one grace lot of
	// 500 credits lasting 72 hours.
	before := time.Now()
	a.use("grace-paid", "u2", 100_000_000)
	avail, grace = a.balance("grace-paid")
	requireCredits(t, "500", avail)
	requireCredits(t, "500", grace)
	require.Equal(t, 1, a.graceGrants("grace-paid"))
	_, b := a.do(http.MethodGet, "/v1/accounts/grace-paid/balance", nil)
	lots := b["lots"].([]any)
	require.Len(t, lots, 1)
	lot := lots[0].(map[string]any)
	require.Equal(t, "grace", lot["kind"])
	exp, err := time.Parse(time.RFC3339Nano, lot["expires_at"].(string))
	require.NoError(t, err)
	require.WithinRange(t, exp, before.Add(72*time.Hour), time.Now().Add(72*time.Hour))

	// Never refundable: the customer's refund offer has nothing, though
	// 500 credits are available (the paid lot is spent; grace is not money).
	portal := a.portalClient("grace-paid")
	p := portal.Get("/portal/orders")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 0, p.Doc.Find(`[data-testid="refund-offer"]`).Length(), "grace credit is offered for refund")
	require.NotEmpty(t, p.TestID("refund-none"))
	for _, l := range b["lots"].([]any) {
		_, err := s.svc.Ledger.Refund(ctx, ledger.RefundRequest{LotID: int64(l.(map[string]any)["id"].(float64)),
			Amount: decimal.NewFromInt(1), IdempotencyKey: "refund-grace"})
		require.ErrorIs(t, err, ledger.ErrNotRefundable)
	}

	// While the grace lot is active, spending from it adds no second one.
	a.use("grace-paid", "u3", 1000)
	avail, _ = a.balance("grace-paid")
	require.True(t, avail.IsPositive() && avail.LessThan(decimal.NewFromInt(500)), "available %s", avail)
	require.Equal(t, 1, a.graceGrants("grace-paid"))

	// Spent to zero and beyond, twice: no second grace before a paid top-up.
	a.use("grace-paid", "u4", 100_000_000)
	a.use("grace-paid", "u5", 100_000_000)
	avail, grace = a.balance("grace-paid")
	require.True(t, avail.IsZero(), "available %s", avail)
	require.True(t, grace.IsZero())
	require.Equal(t, 1, a.graceGrants("grace-paid"))

	// The next paid top-up: the refund offer is that top-up's ¥10.00 only.
	s.topUp(t, accountID, 1000, "stmt-2")
	p = portal.Get("/portal/orders")
	require.Equal(t, 1, p.Doc.Find(`[data-testid="refund-offer"]`).Length())
	require.Equal(t, "¥10.00", p.TestID("refund-max"))

	// 64 usage calls race past zero at once: exactly one more grace lot.
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() { a.use("grace-paid", fmt.Sprintf("race-%d", i), 1_000_000) })
	}
	wg.Wait()
	require.Equal(t, 2, a.graceGrants("grace-paid"))
	_, grace = a.balance("grace-paid")
	require.True(t, grace.LessThanOrEqual(decimal.NewFromInt(500)), "grace %s", grace)

	// An account that never paid reaches zero without grace.
	status, _ = a.do(http.MethodPut, "/v1/accounts/grace-promo", verified)
	require.Equal(t, http.StatusCreated, status)
	status, _ = a.do(http.MethodPost, "/v1/accounts/grace-promo/grants", map[string]any{
		"amount": "1000", "kind": "promo", "reason_code": "welcome", "idempotency_key": "g1"})
	require.Equal(t, http.StatusCreated, status)
	a.use("grace-promo", "p1", 100_000_000)
	avail, _ = a.balance("grace-promo")
	require.True(t, avail.IsZero(), "available %s", avail)
	require.Equal(t, 0, a.graceGrants("grace-promo"))

	mismatches, err := s.svc.Ledger.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, mismatches)
}

// TestGraceIsOffByDefault: the same server without the settings gives a
// paid account at zero no grace.
func TestGraceIsOffByDefault(t *testing.T) {
	s := serveFromEnv(t)
	_, secret, err := s.svc.Gateway.Keys.Create(context.Background(), ledger.ModeLive, "no grace")
	require.NoError(t, err)
	a := api{t: t, url: s.url, key: secret}
	status, acc := a.do(http.MethodPut, "/v1/accounts/no-grace", map[string]any{
		"verification": map[string]any{"status": "verified", "reference": "ref-none"}})
	require.Equal(t, http.StatusCreated, status, acc)
	s.topUp(t, int64(acc["id"].(float64)), 1000, "stmt-off")
	a.use("no-grace", "u1", 100_000_000)
	avail, grace := a.balance("no-grace")
	require.True(t, avail.IsZero(), "available %s", avail)
	require.True(t, grace.IsZero())
	require.Equal(t, 0, a.graceGrants("no-grace"))
}

// portalClient signs in to the portal as the account through a portal
// session link.
func (a api) portalClient(ext string) *webtest.Client {
	a.t.Helper()
	status, link := a.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
	require.Equal(a.t, http.StatusCreated, status, link)
	c := webtest.NewClient(a.t, a.url)
	p := c.Get(link["url"].(string)[len(a.url):])
	require.Equal(a.t, http.StatusOK, p.Status)
	return c
}

func requireCredits(t *testing.T, want string, got decimal.Decimal) {
	t.Helper()
	require.True(t, decimal.RequireFromString(want).Equal(got), "want %s credits, got %s", want, got)
}
