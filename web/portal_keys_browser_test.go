package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/relay/upstreamsim"
	"github.com/seed75218f88/credits/web/webtest"
)

// gatewayProcess runs the OpenAI-compatible gateway as `credits gateway`
// builds it (app.Build, then NewRelay) on the test server's database, as a
// second process would: its own key cache, so a key revoked in the portal
// reaches it only through the database. Its upstream is an upstreamsim
// serving model (a model no other test of the package routes).
func gatewayProcess(t *testing.T, b *portalBundle, model string) string {
	t.Helper()
	ctx := context.Background()
	gw, err := app.Build(ctx, webtest.Config(t), b.app.Pool, nil, app.Overrides{Argon2: &webtest.FastArgon2})
	require.NoError(t, err)
	t.Cleanup(gw.Close)
	sim := httptest.NewServer(upstreamsim.New(upstreamsim.Options{APIKey: "sim-browser"}))
	t.Cleanup(sim.Close)
	_, err = gw.RelayUpstreams.Ensure(ctx, relay.UpstreamForm{Name: fmt.Sprintf("browser-%s-%d", model, time.Now().UnixNano()),
		BaseURL: sim.URL + "/v1", Secret: "sim-browser", Models: model + "=sim-chat", Weight: "1", Priority: "0",
		TimeoutMS: "10000", Enabled: true})
	require.NoError(t, err)
	r, err := gw.NewRelay(nil)
	require.NoError(t, err)
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// chat makes one non-streaming chat completion with secret and returns the
// status and the OpenAI error code (empty on success).
func chat(t *testing.T, gateway, secret, model string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello sim:tokens=40"}],"max_tokens":50}`, model)
	req, err := http.NewRequest(http.MethodPost, gateway+"/v1/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code
}

// A customer on a 390 px phone, in Chinese and in English, creates an API
// key limited to one model with a monthly budget; the secret is shown once
// (the htmx answer), the gateway — another process — bills a call made
// with it and refuses another model; the list shows its last use and no
// secret; the customer revokes it after confirming, and the gateway
// refuses it within 2 seconds.
func TestAPIKeyCreateUseRevokeInChromium(t *testing.T) {
	b := setupPortal(t)
	b.withRateCard(t)
	ctx := context.Background()
	const model = "kimi-k2"
	gateway := gatewayProcess(t, b, model)
	login := uniqEmail("apikey-browser")
	_, u := b.register(t, login, "")
	b.verified(t, u.AccountID)
	_, err := b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: u.AccountID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(100000),
		IdempotencyKey: "apikey-browser"})
	require.NoError(t, err)

	bctx := webtest.Browser(t, 120*time.Second)
	webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	for _, lang := range []struct{ code, name, once, revoked, never string }{
		{"zh-CN", "客服机器人", "只显示这一次", "密钥已吊销", "从未使用"},
		{"en", "support-bot", "shown this once", "The key is revoked", "Never"},
	} {
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/portal/keys"),
			chromedp.WaitVisible(css(`[data-testid="apikey-form"]`)),
		))
		webtest.RequireFitsWidth(t, bctx, 390, "the API keys page (%s)", lang.code)
		// First a form with an error: the message in the page's language.
		require.NoError(t, chromedp.Do(bctx,
			chromedp.SendKeys(css(`#f-budget`), "abc"),
			chromedp.Click(css(`[data-testid="apikey-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-name"]`)),
		))
		require.NotEmpty(t, webtest.Text(t, bctx, `[data-testid="error-budget"]`), "every field at once")
		require.NoError(t, chromedp.Do(bctx,
			chromedp.SendKeys(css(`#f-name`), lang.name),
			chromedp.SetValue(css(`#f-budget`), "1000"),
			chromedp.Click(css(`[data-testid="apikey-model"][value="`+model+`"]`)),
			chromedp.Click(css(`[data-testid="apikey-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="apikey-secret"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="apikey-once-notice"]`), lang.once)
		secret := webtest.Text(t, bctx, `[data-testid="apikey-secret"]`)
		require.Regexp(t, `^sk-[0-9A-Za-z]{48}$`, secret)
		webtest.RequireFitsWidth(t, bctx, 390, "the new key's secret (%s)", lang.code)
		webtest.Screenshot(t, bctx, "created-"+lang.code)
		row := `[data-testid="apikey-row"][data-state="active"]`
		require.Equal(t, lang.never, webtest.Text(t, bctx, row+` [data-testid="apikey-last-used"]`))

		before, err := b.ledger.Balance(ctx, u.AccountID)
		require.NoError(t, err)
		status, code := chat(t, gateway, secret, model)
		require.Equal(t, http.StatusOK, status, code)
		status, code = chat(t, gateway, secret, "deepseek-chat")
		require.Equal(t, http.StatusForbidden, status)
		require.Equal(t, "model_not_allowed", code)
		require.Eventually(t, func() bool {
			bal, err := b.ledger.Balance(ctx, u.AccountID)
			require.NoError(t, err)
			return bal.Reserved.IsZero() && bal.Available.LessThan(before.Available)
		}, 10*time.Second, 20*time.Millisecond, "the call is billed to the key's account")

		// Shown once: the page again lists the key, used, without its secret.
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/portal/keys"),
			chromedp.WaitVisible(css(row)),
		))
		html, err := chromedp.Run(bctx, chromedp.OuterHTML(css(`html`)))
		require.NoError(t, err)
		require.NotContains(t, html, secret)
		require.NotEqual(t, lang.never, webtest.Text(t, bctx, row+` [data-testid="apikey-last-used"]`))
		require.Equal(t, secret[:12]+"…", webtest.Text(t, bctx, row+` [data-testid="apikey-prefix"]`))

		// Revoke, confirming first; the other process refuses it within 2 s.
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Click(css(row+` [data-testid="apikey-revoke"]`)),
			chromedp.WaitVisible(css(`[data-testid="apikey-revoke-box"]`)),
		))
		webtest.RequireFitsWidth(t, bctx, 390, "the revoke confirmation (%s)", lang.code)
		require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="apikey-revoke-confirm"]`)),
			chromedp.WaitVisible(css(`[data-testid="flash-success"]`))))
		revokedAt := time.Now()
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="flash-success"]`), lang.revoked)
		for {
			status, code = chat(t, gateway, secret, model)
			if status == http.StatusUnauthorized {
				break
			}
			require.Equal(t, http.StatusOK, status, code)
			require.Less(t, time.Since(revokedAt), 2*time.Second, "the gateway still accepts the revoked key")
			time.Sleep(50 * time.Millisecond)
		}
		require.Equal(t, "invalid_api_key", code)
		require.Less(t, time.Since(revokedAt), 2*time.Second)
		require.Equal(t, 0, countNodes(t, bctx, row))
	}
}

// An admin on a 390 px phone, in Chinese and in English, adds an upstream
// (a form error first) and edits it; the secret never comes back.
func TestUpstreamAddEditInChromium(t *testing.T) {
	b := setupPortal(t)
	email := uniqEmail("upstream-browser")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: "staff password 1", Name: "上游管理员",
		Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	bctx := webtest.Browser(t, 120*time.Second)
	webtest.SignIn(t, bctx, b.app.URL, email, "staff password 1")
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	const secret = "sk-browser-upstream-secret"
	for _, lang := range []struct{ code, saved, enabled string }{{"zh-CN", "上游已保存", "已启用"}, {"en", "The upstream is saved", "Enabled"}} {
		name := fmt.Sprintf("browser-%s-%d", lang.code, time.Now().UnixNano())
		row := `[data-testid="upstream-row"][data-name="` + name + `"]`
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/admin/upstreams"),
			chromedp.WaitVisible(css(`[data-testid="upstream-form"]`)),
			chromedp.SendKeys(css(`#f-name`), name),
			chromedp.SendKeys(css(`#f-base_url`), "not a url"),
			chromedp.Click(css(`[data-testid="upstream-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-base_url"]`)),
		))
		require.NotEmpty(t, webtest.Text(t, bctx, `[data-testid="error-secret"]`), "every field at once")
		require.NotEmpty(t, webtest.Text(t, bctx, `[data-testid="error-models"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the upstreams page with errors (%s)", lang.code)
		require.NoError(t, chromedp.Do(bctx,
			chromedp.SetValue(css(`#f-base_url`), "https://api.example.com/v1"),
			chromedp.SendKeys(css(`#f-secret`), secret),
			chromedp.SendKeys(css(`#f-models`), "browser-model=browser-v3"),
			chromedp.Click(css(`[data-testid="upstream-submit"]`)),
			chromedp.WaitVisible(css(row)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="flash-success"]`), lang.saved)
		require.Equal(t, lang.enabled, webtest.Text(t, bctx, row+` [data-testid="upstream-state"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the upstreams page (%s)", lang.code)
		webtest.Screenshot(t, bctx, "upstreams-"+lang.code)

		require.NoError(t, chromedp.Do(bctx,
			chromedp.Click(css(row+` [data-testid="upstream-edit"]`)),
			chromedp.WaitVisible(css(`[data-testid="upstream-edit-form"]`)),
		))
		value, err := chromedp.Run(bctx, chromedp.Value(css(`#f-secret`)))
		require.NoError(t, err)
		require.Empty(t, value, "the secret is write-only")
		webtest.RequireFitsWidth(t, bctx, 390, "the upstream edit page (%s)", lang.code)
		require.NoError(t, chromedp.Do(bctx,
			chromedp.SetValue(css(`#f-weight`), "7"),
			chromedp.Click(css(`[data-testid="upstream-save"]`)),
			chromedp.WaitVisible(css(row)),
		))
		require.Contains(t, webtest.Text(t, bctx, row+` [data-testid="upstream-routing"]`), "7")
		html, err := chromedp.Run(bctx, chromedp.OuterHTML(css(`html`)))
		require.NoError(t, err)
		require.NotContains(t, html, secret)
		state, err := chromedp.Run(bctx, chromedp.AttributeValue(css(row+` [data-testid="upstream-circuit"]`), "data-state"))
		require.NoError(t, err)
		require.Equal(t, "closed", state.Value)

		// a gateway process reports this upstream's circuit open (as
		// relay.Upstreams does when its breaker trips): the page says so
		_, err = b.app.Pool.Exec(context.Background(), `INSERT INTO relay_breaker_states (process, upstream_id, state, since, until)
			SELECT 'gw-test:1', id, 'open', now(), now() + interval '30 seconds' FROM relay_upstreams WHERE name = $1`, name)
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(bctx, chromedp.Reload(), chromedp.WaitVisible(css(row))))
		state, err = chromedp.Run(bctx, chromedp.AttributeValue(css(row+` [data-testid="upstream-circuit"]`), "data-state"))
		require.NoError(t, err)
		require.Equal(t, "open", state.Value)
		require.Contains(t, webtest.Text(t, bctx, row+` [data-testid="upstream-circuit"]`), map[string]string{"zh-CN": "已熔断：1 个网关进程", "en": "Circuit open: 1 gateway process"}[lang.code])
		webtest.RequireFitsWidth(t, bctx, 390, "the upstreams page with an open circuit (%s)", lang.code)
	}
}
