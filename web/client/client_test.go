package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/webhook"
	"github.com/seed75218f88/credits/web/client"
	"github.com/seed75218f88/credits/web/webtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// liveServer is the real server on a random port over the package's test
// database, with the default rate card and a live service key.
type liveServer struct {
	app  *webtest.App
	key  string
	card pricing.Card
}

func startServer(t *testing.T) *liveServer {
	t.Helper()
	ctx := context.Background()
	app := webtest.Start(t)
	_, err := app.Services.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	_, key, err := app.Services.Gateway.Keys.Create(ctx, ledger.ModeLive, "client "+t.Name())
	require.NoError(t, err)
	card, err := app.Services.Pricing.InForce(ctx, time.Now())
	require.NoError(t, err)
	return &liveServer{app: app, key: key, card: card}
}

// cost is what a call costs on the card in force.
func (s *liveServer) cost(t *testing.T, model string, in, out int64) decimal.Decimal {
	t.Helper()
	for _, m := range s.card.Models {
		if m.Model == model {
			return pricing.UsageCost(m, in, out, 0, 1)
		}
	}
	t.Fatalf("no price for %s", model)
	return decimal.Zero
}

// available is the account's available credit, read from the ledger.
func (s *liveServer) available(t *testing.T, externalID string) decimal.Decimal {
	t.Helper()
	var id int64
	require.NoError(t, s.app.Pool.QueryRow(context.Background(),
		`SELECT id FROM ledger_accounts WHERE external_id = $1 AND mode = 'live'`, externalID).Scan(&id))
	b, err := s.app.Services.Ledger.Balance(context.Background(), id)
	require.NoError(t, err)
	return b.Available
}

// stdout runs f and returns what it printed.
func stdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	saved := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	func() {
		defer func() { os.Stdout = saved }()
		f()
	}()
	require.NoError(t, w.Close())
	return string(<-done)
}

// The package's examples, run against a live server: reserve → commit and
// a usage batch charge exactly the card's price, and the ledger agrees.
func TestExamplesAgainstALiveServer(t *testing.T) {
	s := startServer(t)
	t.Setenv("CREDITS_URL", s.app.URL)
	t.Setenv("CREDITS_SERVICE_KEY", s.key)

	call1 := s.cost(t, "deepseek-chat", 812, 240)
	out := stdout(t, Example_reserveCommit)
	require.Contains(t, out, "charged "+call1.String()+" available "+decimal.NewFromInt(100).Sub(call1).String(), out)
	require.True(t, s.available(t, "user-42").Equal(decimal.NewFromInt(100).Sub(call1)))

	call2 := s.cost(t, "deepseek-chat", 1200, 300)
	out = stdout(t, Example_usageBatch)
	require.Equal(t, "accepted 1 duplicates 0\nrejected 1 unknown_model\n", out)
	require.True(t, s.available(t, "user-42").Equal(decimal.NewFromInt(100).Sub(call1).Sub(call2)), "the batch's call is charged")

	// Run again: the account, grant and call carry idempotency keys, so
	// nothing is granted or charged twice.
	out = stdout(t, Example_reserveCommit)
	require.Contains(t, out, "charged "+call1.String())
	require.True(t, s.available(t, "user-42").Equal(decimal.NewFromInt(100).Sub(call1).Sub(call2)))
}

// VerifyWebhook accepts exactly what internal/webhook signs.
func TestVerifyWebhookMatchesTheServersSignature(t *testing.T) {
	secret := "whsec_0123456789abcdefghijklmnopqrstuv"
	body := []byte(`{"id":"evt_1","type":"balance.low","created_at":"2026-12-06T12:00:00Z","data":{"available":"1.000000"}}`)
	now := time.Now()
	header := webhook.Sign(secret, now, body)
	require.NoError(t, client.VerifyWebhook(secret, header, body, 5*time.Minute))

	t.Run("TamperedBody", func(t *testing.T) {
		require.ErrorIs(t, client.VerifyWebhook(secret, header, bytes.Replace(body, []byte("1.0"), []byte("9.0"), 1), 5*time.Minute), client.ErrWebhookMismatch)
	})
	t.Run("OtherSecret", func(t *testing.T) {
		require.ErrorIs(t, client.VerifyWebhook(secret+"x", header, body, 5*time.Minute), client.ErrWebhookMismatch)
	})
	t.Run("Expired", func(t *testing.T) {
		old := webhook.Sign(secret, now.Add(-10*time.Minute), body)
		require.ErrorIs(t, client.VerifyWebhook(secret, old, body, 5*time.Minute), client.ErrWebhookExpired)
	})
	t.Run("OneOfSeveralSignatures", func(t *testing.T) {
		other := webhook.Sign("whsec_old", now, body)
		_, v1, _ := strings.Cut(other, ",")
		require.NoError(t, client.VerifyWebhook(secret, header+","+v1, body, 5*time.Minute))
	})
	t.Run("Malformed", func(t *testing.T) {
		for _, h := range []string{"", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"} {
			require.ErrorIs(t, client.VerifyWebhook(secret, h, body, 5*time.Minute), client.ErrWebhookMalformed, h)
		}
	})
}

// The TypeScript client (web/client-ts), built with tsc and tested with
// Node's test runner against a live server: reserve → commit, a usage
// batch, errors as CreditsError, and webhook verification (WebCrypto) of
// deliveries signed by internal/webhook.
func TestTypeScriptClient(t *testing.T) {
	dir := filepath.Join("..", "client-ts")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the TypeScript client's tests: apt-get install -y nodejs npm (Node 20 or later), then make node-deps")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		t.Fatalf("%s/node_modules is missing: run make node-deps (npm ci from the committed lockfile)", dir)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &pkg))
	require.Empty(t, pkg.Dependencies, "the TypeScript client has no runtime dependency")

	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, node, filepath.Join("node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json")
	build.Dir = dir
	out, err := build.CombinedOutput()
	require.NoError(t, err, "tsc:\n%s", out)

	secret := "whsec_ts_0123456789abcdefghijklmnop"
	body := `{"id":"evt_ts","type":"balance.low","created_at":"2026-12-06T12:00:00Z","data":{"account":"ts-1","available":"1.000000"}}`
	signedAt := time.Now()
	vectors, err := json.Marshal(map[string]any{
		"secret": secret, "body": body, "header": webhook.Sign(secret, signedAt, []byte(body)),
		"old":     webhook.Sign(secret, signedAt.Add(-time.Hour), []byte(body)),
		"rotated": webhook.Sign("whsec_previous", signedAt, []byte(body)),
	})
	require.NoError(t, err)
	expect, err := json.Marshal(map[string]string{
		"commit": s.cost(t, "deepseek-chat", 812, 240).String(),
		"usage":  s.cost(t, "deepseek-chat", 1200, 300).String(),
	})
	require.NoError(t, err)
	run := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "test/client.test.mjs", "test/webhook.test.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(), "CREDITS_URL="+s.app.URL, "CREDITS_SERVICE_KEY="+s.key,
		"CREDITS_WEBHOOK="+string(vectors), "CREDITS_EXPECT="+string(expect), "NO_COLOR=1")
	out, err = run.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	require.NoError(t, err, "the TypeScript client's tests")

	want := decimal.NewFromInt(50).Sub(s.cost(t, "deepseek-chat", 812, 240)).Sub(s.cost(t, "deepseek-chat", 1200, 300))
	require.True(t, s.available(t, "ts-1").Equal(want), "the ledger agrees: %s, want %s", s.available(t, "ts-1"), want)
}
