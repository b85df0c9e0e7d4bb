package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestModelAllowListsInChromium: on a 390 px phone, in Chinese and in
// English, support ticks the models an enterprise may call on its customer
// page, and the enterprise's owner ticks, in the portal, the models one
// of its departments may call among those. The API then refuses the
// department a model outside its list with 403 model_not_allowed. Neither
// page leaves the screen, and the audit log names the change.
func TestModelAllowListsInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAPI(t, apiOpts{})
	c := b.live
	entExt := uniq(t, "ent")
	ent := b.account(c, entExt, map[string]any{"kind": "enterprise", "verification": verified})
	b.grant(c, ent, "100000", "g")
	put := c.do(http.MethodPut, "/v1/accounts/"+uniq(t, "dept"), map[string]any{"kind": "sub", "parent": ent})
	require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
	subExt, subID := put.JSON(t)["external_id"].(string), int64(put.JSON(t)["id"].(float64))
	var entID int64
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT parent_id FROM ledger_account_view WHERE id = $1`, subID).Scan(&entID))
	const pw = "staff password 1"
	email := uniqEmail("models-support")
	_, err := b.app.Services.Auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw,
		Name: "Models support", Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)
	reserve := func(model, key string) apiResp {
		return c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": subExt, "model": model,
			"max_input_tokens": 100, "max_output_tokens": 100, "idempotency_key": key})
	}

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	customer := fmt.Sprintf("%s/admin/customers/%d", b.app.URL, entID)
	for _, lang := range []struct{ code, saved, all string }{{"zh-CN", "可用模型已保存", "全部模型"}, {"en", "Allowed models saved", "every model"}} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(customer),
			chromedp.WaitVisible(css(`[data-testid="access-models-form"]`)),
		))
		if lang.code == "zh-CN" {
			require.Equal(t, lang.all, webtest.Text(t, ctx, `[data-testid="access-models"] [data-testid="models-all"]`))
			require.NoError(t, chromedp.Do(ctx, chromedp.Click(css(`[data-testid="model-deepseek-chat"]`)),
				chromedp.Click(css(`[data-testid="model-qwen-plus"]`))))
		} else {
			require.NoError(t, chromedp.Do(ctx, chromedp.Click(css(`[data-testid="model-qwen-max"]`))))
		}
		webtest.RequireFitsWidth(t, ctx, 390, "the customer page's models (%s)", lang.code)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="access-models-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), lang.saved)
		webtest.RequireFitsWidth(t, ctx, 390, "the customer page after saving (%s)", lang.code)
		webtest.Screenshot(t, ctx, "customer-models-390-"+lang.code)
	}
	require.Equal(t, "deepseek-chat, qwen-max, qwen-plus", webtest.Text(t, ctx, `[data-testid="access-models"] [data-testid="models-list"]`))
	refused := reserve("glm-4-flash", "outside-enterprise")
	require.Equal(t, http.StatusForbidden, refused.Status, string(refused.Body))
	require.Equal(t, "model_not_allowed", refused.Code(t))

	// the owner narrows the department to deepseek-chat in the portal
	link := c.do(http.MethodPost, "/v1/accounts/"+ent+"/portal-sessions", nil)
	require.Equal(t, http.StatusCreated, link.Status, string(link.Body))
	page := fmt.Sprintf("%s/portal/accounts/%d", b.app.URL, subID)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(link.JSON(t)["url"].(string)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`))))
	for _, lang := range []struct{ code, saved string }{{"zh-CN", "可用模型已保存"}, {"en", "Allowed models saved"}} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(page),
			chromedp.WaitVisible(css(`[data-testid="sub-models-form"]`)),
		))
		require.Equal(t, 3, countNodes(t, ctx, `[data-testid="sub-models-form"] input[type="checkbox"]`), "the enterprise's models only")
		if lang.code == "zh-CN" {
			require.NoError(t, chromedp.Do(ctx, chromedp.Click(css(`[data-testid="model-deepseek-chat"]`))))
		}
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="sub-models-submit"]`)),
			chromedp.WaitVisible(css(`#sub-models [data-testid="flash-success"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `#sub-models [data-testid="flash-success"]`), lang.saved)
		checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="model-deepseek-chat"]').checked`))
		require.NoError(t, err)
		require.True(t, checked)
		webtest.RequireFitsWidth(t, ctx, 390, "the department page (%s)", lang.code)
		webtest.Screenshot(t, ctx, "sub-models-390-"+lang.code)
	}
	refused = reserve("qwen-max", "outside-department")
	require.Equal(t, http.StatusForbidden, refused.Status, string(refused.Body))
	require.Equal(t, "model_not_allowed", refused.Code(t))
	require.Equal(t, http.StatusCreated, reserve("deepseek-chat", "inside").Status)

	var staffChanges, ownerChanges int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE actor_kind = 'staff' AND account_id = $1),
		count(*) FILTER (WHERE actor_kind = 'customer' AND account_id = $2)
		FROM admin_audit_log WHERE action = 'model_list_set'`, entID, subID).Scan(&staffChanges, &ownerChanges))
	require.Equal(t, 2, staffChanges)
	require.Equal(t, 2, ownerChanges)
}
