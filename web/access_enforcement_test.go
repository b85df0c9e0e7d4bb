package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestEnforcementSwitchInChromium: on a 390 px phone an admin puts an
// account in shadow mode on its customer page (in Chinese); the API then
// lets through a call its balance would have refused (nothing held, 201),
// and its commit records the shortfall as unpaid; the page (in English)
// shows the mode in force, one shadow refusal and what it would have been
// refused for; /metrics counts it; the admin turns the account to off;
// both changes are audited.
func TestEnforcementSwitchInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := uniq(t, "shadow")
	put := c.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"verification": verified})
	require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
	id := int64(put.JSON(t)["id"].(float64))
	b.grant(c, ext, "0.5", "g")
	const pw = "staff password 1"
	email := uniqEmail("enforce-admin")
	_, err := b.app.Services.Auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw,
		Name: "Enforcement admin", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	reserve := func(key string) apiResp {
		return c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat",
			"max_input_tokens": 100000, "max_output_tokens": 100000, "idempotency_key": key})
	}
	refused := reserve("before")
	require.Equal(t, http.StatusPaymentRequired, refused.Status, string(refused.Body))

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	page := fmt.Sprintf("%s/admin/customers/%d", b.app.URL, id)
	setMode := func(lang, mode, saved string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang), chromedp.Navigate(page),
			chromedp.WaitVisible(css(`[data-testid="enforcement-form"]`))))
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(css(`[data-testid="enforcement-mode"]`), mode),
			chromedp.Click(css(`[data-testid="enforcement-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), saved)
		webtest.RequireFitsWidth(t, ctx, 390, "the customer page's enforcement (%s)", lang)
		webtest.Screenshot(t, ctx, "customer-enforcement-390-"+lang)
	}
	setMode("zh-CN", "shadow", "执行模式已保存")
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="enforcement-effective"]`), "影子模式")

	b.gw.Forget(id) // the API process is this one: dropped already; explicit for clarity
	through := reserve("shadowed")
	require.Equal(t, http.StatusCreated, through.Status, string(through.Body))
	require.Equal(t, "0", through.JSON(t)["reserved"], "a call credit would refuse holds nothing")
	commit := c.do(http.MethodPost, "/v1/reservations/"+through.JSON(t)["id"].(string)+"/commit",
		map[string]any{"input_tokens": 100000, "output_tokens": 1000})
	require.Equal(t, http.StatusOK, commit.Status, string(commit.Body))
	cj := commit.JSON(t)
	require.Equal(t, "0.5", cj["charged"])
	require.NotEqual(t, "0", cj["unpaid"], "the shortfall is unpaid usage")
	require.Equal(t, "0", cj["available"], "never below zero")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/en"), chromedp.Navigate(page),
		chromedp.WaitVisible(css(`[data-testid="shadow-refusals"]`))))
	require.Equal(t, "Calls shadow mode let through: 1", webtest.Text(t, ctx, `[data-testid="shadow-count"]`))
	require.Equal(t, "insufficient credits", webtest.Text(t, ctx, `[data-testid="shadow-code"]`))
	webtest.RequireFitsWidth(t, ctx, 390, "the customer page's shadow refusals (en)")
	m := webtest.NewClient(t, b.app.URL).Get("/metrics")
	require.Contains(t, m.Body, `credits_shadow_refusals_total{code="insufficient_credits"}`)
	require.False(t, strings.Contains(m.Body, `credits_shadow_refusals_total{code="insufficient_credits"} 0`+"\n"), "counted")

	setMode("en", "off", "Enforcement mode saved")
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="enforcement-effective"]`), "Off")
	var audited int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM admin_audit_log
		WHERE action = 'enforcement_set' AND account_id = $1`, id).Scan(&audited))
	require.Equal(t, 2, audited)
}
