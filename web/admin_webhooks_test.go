package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/webhook"
	"github.com/seed75218f88/credits/web/webtest"
)

// hookReceiver is a platform's webhook endpoint on a real HTTP server: it
// verifies every request's signature with the endpoint's secret.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []hookRequest
}

type hookRequest struct {
	eventID, signature string
	body               []byte
	verifyErr          error
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		sig := req.Header.Get(webhook.SignatureHeader)
		err := webhook.Verify(r.secret, sig, body, 5*time.Minute)
		r.got = append(r.got, hookRequest{eventID: req.Header.Get("Credits-Event-Id"), signature: sig, body: body, verifyErr: err})
		r.mu.Unlock()
		_, _ = w.Write([]byte("received"))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) requests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookRequest(nil), r.got...)
}

func (r *hookReceiver) wait(t *testing.T, n int) []hookRequest {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.requests()) >= n }, 20*time.Second, 20*time.Millisecond,
		"the endpoint got %d requests, want %d", len(r.requests()), n)
	return r.requests()
}

// webhookFixture registers an endpoint of accountID at a new receiver and
// sends it one event, delivered.
func (b *adminBundle) webhookFixture(t *testing.T, accountID int64) (*hookReceiver, webhook.Endpoint, string) {
	t.Helper()
	ctx := context.Background()
	r := newHookReceiver(t)
	ep, secret, err := b.app.Services.Webhooks.CreateEndpoint(ctx, accountID, r.srv.URL+"/hooks")
	require.NoError(t, err)
	r.secret = secret
	eventID := b.sendEvent(t, accountID, "balance.low")
	r.wait(t, 1)
	return r, ep, eventID
}

func (b *adminBundle) sendEvent(t *testing.T, accountID int64, kind string) string {
	t.Helper()
	ev := webhook.Event{AccountID: accountID, Type: kind, Payload: map[string]string{"available": "12.5"}}
	require.NoError(t, pgx.BeginFunc(context.Background(), b.app.Services.Pool, func(tx pgx.Tx) error {
		return b.app.Services.Webhooks.EnqueueEventTx(context.Background(), tx, &ev)
	}))
	return ev.ID
}

// Support sees an endpoint's deliveries with request and response, replays
// one (the receiver gets the same event id and body with a fresh, valid
// signature), disables the endpoint (it then receives nothing, and replay
// is refused) and re-enables it; every action is in the audit log, named
// in both languages. Finance does not reach the desk.
func TestAdminWebhookDeskReplaysDisablesAndAudits(t *testing.T) {
	b := setupAdmin(t, webtest.WithOwnDatabase(), webtest.WithJobs())
	_, u := b.register(t, uniqEmail("hooks-customer"), "Hook Customer")
	r, ep, eventID := b.webhookFixture(t, u.AccountID)
	support := b.staff(t, "hooks-support", auth.RoleSupport)
	finance := b.staff(t, "hooks-finance", auth.RoleFinance)
	admin := b.staff(t, "hooks-admin", auth.RoleAdmin)

	require.Equal(t, http.StatusForbidden, finance.Get("/admin/webhooks").Status)

	p := support.Get(fmt.Sprintf("/admin/webhooks?account=%d", u.AccountID))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	row := p.Doc.Find(fmt.Sprintf(`[data-testid="webhook-%d"]`, ep.ID))
	require.Equal(t, 1, row.Length(), p.Body)
	require.Contains(t, row.Find(`[data-testid="webhook-success-rate"]`).Text(), "100%")
	require.Equal(t, "0", strings.TrimSpace(row.Find(`[data-testid="webhook-consecutive"]`).Text()))
	require.Equal(t, http.StatusUnprocessableEntity, support.Get("/admin/webhooks?account=abc").Status)

	page := fmt.Sprintf("/admin/webhooks/%d", ep.ID)
	p = support.Get(page)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, eventID, p.TestID("webhook-event-id"))
	headers := p.TestID("webhook-request-headers")
	require.Contains(t, headers, "Credits-Event-Id: "+eventID)
	require.Contains(t, headers, "Credits-Signature: "+r.requests()[0].signature, "the headers sent are shown")
	require.Contains(t, p.TestID("webhook-request-body"), `"available": "12.5"`)
	require.Equal(t, "received", p.TestID("webhook-response-body"))
	require.Contains(t, p.TestID("webhook-attempt-result"), "200")

	// Replay: same event id and body, a fresh valid signature.
	time.Sleep(1100 * time.Millisecond)
	replay, ok := p.Doc.Find(`[data-testid="webhook-replay-form"]`).Attr("action")
	require.True(t, ok)
	p = support.PostForm(replay, url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("flash-success"), "第 1 次重放")
	got := r.wait(t, 2)
	require.NoError(t, got[1].verifyErr)
	require.Equal(t, eventID, got[1].eventID)
	require.Equal(t, string(got[0].body), string(got[1].body))
	require.NotEqual(t, got[0].signature, got[1].signature)

	// Disabled: nothing reaches it, a replay is refused.
	p = support.PostForm(page+"/disable", url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("webhook-state"), "已停用")
	b.sendEvent(t, u.AccountID, "balance.low")
	p = support.PostForm(replay, url.Values{})
	require.Equal(t, http.StatusConflict, p.Status, p.Body)
	require.Contains(t, p.Body, "该端点已停用")
	time.Sleep(500 * time.Millisecond)
	require.Len(t, r.requests(), 2, "a disabled endpoint receives nothing")

	p = support.PostForm(page+"/enable", url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("webhook-state"), "启用中")
	b.sendEvent(t, u.AccountID, "lot.expiring")
	require.NoError(t, r.wait(t, 3)[2].verifyErr)

	// The audit log names the three actions in both languages.
	for lang, want := range map[string][]string{
		"zh-CN": {"Webhook：重放事件", "Webhook：停用端点", "Webhook：重新启用端点"},
		"en":    {"Webhook: event replayed", "Webhook: endpoint disabled", "Webhook: endpoint re-enabled"},
	} {
		admin.Header.Set("Accept-Language", lang)
		admin.Get("/lang/" + lang)
		p = admin.Get(fmt.Sprintf("/admin/audit?account=%d", u.AccountID))
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		for _, w := range want {
			require.Contains(t, p.Text("table"), w, lang)
		}
		p = admin.Get("/admin/audit?action=webhook_replayed")
		require.Contains(t, p.Text(`select[name="action"] option[selected]`), want[0], "the filter names it (%s)", lang)
	}
}

// TestAdminWebhookDeskInChromium: on a 390 px phone, in Chinese and then in
// English, support finds a platform's endpoint, reads a delivery's request
// and response, replays it and disables and re-enables the endpoint; every
// page fits the screen.
func TestAdminWebhookDeskInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t, webtest.WithOwnDatabase(), webtest.WithJobs())
	_, u := b.register(t, uniqEmail("hooks-chromium"), "Hook Chromium")
	r, ep, _ := b.webhookFixture(t, u.AccountID)
	const pw = "staff password 1"
	email := uniqEmail("hooks-chromium-support")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw, Name: "客服", Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	want := map[string]map[string]string{
		"zh-CN": {"title": "Webhook 端点", "replayed": "已安排第", "disabled": "已停用", "enabled": "启用中", "request": "请求与响应"},
		"en":    {"title": "Webhook endpoints", "replayed": "is queued", "disabled": "Disabled by staff", "enabled": "Active", "request": "Request and response"},
	}
	for i, lang := range []string{"zh-CN", "en"} {
		w := want[lang]
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang),
			chromedp.Navigate(b.app.URL+"/admin"),
			chromedp.Click(css(`[data-testid="admin-menu-admin.webhooks"]`)),
			chromedp.WaitVisible(css(`[data-testid="webhooks-table"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, "h1"), w["title"])
		webtest.RequireFitsWidth(t, ctx, 390, "the endpoint list (%s)", lang)
		webtest.Screenshot(t, ctx, "webhooks-390-"+lang)

		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(fmt.Sprintf(`[data-testid="webhook-%d"] [data-testid="webhook-open"]`, ep.ID))),
			chromedp.WaitVisible(css(`[data-testid="webhook-summary"]`)),
			chromedp.Click(css(`[data-testid="webhook-attempt-details"] summary`)),
			chromedp.WaitVisible(css(`[data-testid="webhook-request-headers"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="webhook-attempt-details"] summary`), w["request"])
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="webhook-request-headers"]`), "Credits-Signature: t=")
		webtest.RequireFitsWidth(t, ctx, 390, "the endpoint page with a delivery open (%s)", lang)
		webtest.Screenshot(t, ctx, "webhook-390-"+lang)

		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="webhook-replay"]`)),
			chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), w["replayed"])
		require.NoError(t, r.wait(t, 2+i)[1+i].verifyErr, "the replay reached the platform, validly signed")

		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="webhook-disable"]`)),
			chromedp.WaitVisible(css(`[data-testid="webhook-enable"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="webhook-summary"] [data-testid="webhook-state"]`), w["disabled"])
		webtest.RequireFitsWidth(t, ctx, 390, "the disabled endpoint (%s)", lang)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="webhook-enable"]`)),
			chromedp.WaitVisible(css(`[data-testid="webhook-disable"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="webhook-summary"] [data-testid="webhook-state"]`), w["enabled"])
	}
}
