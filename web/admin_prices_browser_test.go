package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestCustomerPricesInChromium: on a 390 px phone, in Chinese and in
// English, an admin sets an enterprise's own prices on its customer page.
// A bad form names every bad field at once in the page's language; a 10 %
// discount is in force at once; custom prices half the public card's wait
// for another admin, whom the requester cannot replace; once a second
// admin approves them, the enterprise's department is charged at them
// through the API and the charge names the card.
func TestCustomerPricesInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAPI(t, apiOpts{})
	c, bg := b.live, context.Background()
	ent := b.account(c, uniq(t, "ent"), map[string]any{"kind": "enterprise", "verification": verified})
	b.grant(c, ent, "100000", "g")
	put := c.do(http.MethodPut, "/v1/accounts/"+uniq(t, "dept"), map[string]any{"kind": "sub", "parent": ent})
	require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
	deptExt := put.JSON(t)["external_id"].(string)
	var entID int64
	require.NoError(t, b.pool.QueryRow(bg, `SELECT parent_id FROM ledger_account_view WHERE id = $1`,
		int64(put.JSON(t)["id"].(float64))).Scan(&entID))
	const pw = "staff password 1"
	maker, checker := uniqEmail("prices-maker"), uniqEmail("prices-checker")
	for _, e := range []string{maker, checker} {
		_, err := b.app.Services.Auth.CreateStaff(bg, auth.StaffRequest{Email: e, Password: pw, Name: "Prices admin",
			Roles: []auth.Role{auth.RoleAdmin}})
		require.NoError(t, err)
	}

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	set := func(sel, v string) chromedp.Action[chromedp.Void] { return chromedp.SetValue(css(sel), v) }
	signOut := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(css(`[data-testid="signout"]`)), chromedp.WaitNotPresent(css(`[data-testid="signout"]`))))
	}
	webtest.SignIn(t, ctx, b.app.URL, maker, pw)
	customer := fmt.Sprintf("%s/admin/customers/%d", b.app.URL, entID)
	for _, lang := range []struct{ code, discountErr, reasonErr, done, pending, current string }{
		{"zh-CN", "折扣须大于 0 且小于 100", "请填写原因", "客户价格已设置并生效", "需另一位管理员审批", "公开价目减 10%"},
		{"en", "above 0 and below 100", "A reason is required", "set and in force", "wait for another admin's approval", "10% off the public card"},
	} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(customer),
			chromedp.WaitVisible(css(`[data-testid="prices-form"]`)),
		))
		if lang.code == "zh-CN" {
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="prices-current"]`), "公开价目表")
			// Every bad field at once, in the page's language.
			require.NoError(t, chromedp.Do(ctx, set(`[data-testid="prices-kind"]`, "discount")), "kind")
			require.NoError(t, chromedp.Do(ctx, set(`#f-prices-discount`, "120")), "discount")
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Click(css(`[data-testid="prices-submit"]`)),
				chromedp.WaitVisible(css(`[data-testid="error-prices-discount"]`)),
			))
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-prices-discount"]`), lang.discountErr)
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-prices-reason"]`), lang.reasonErr)
			webtest.RequireFitsWidth(t, ctx, 390, "the prices form's errors (%s)", lang.code)
			webtest.Screenshot(t, ctx, "customer-prices-errors-390-"+lang.code)
			require.NoError(t, chromedp.Do(ctx,
				set(`#f-prices-discount`, "10"),
				set(`#f-prices-reason`, "2027 合同"),
				chromedp.Click(css(`[data-testid="prices-submit"]`)),
				chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
			))
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), lang.done)
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="prices-current"]`), lang.current)
		} else {
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="prices-current"]`), lang.current)
			require.NoError(t, chromedp.Do(ctx,
				set(`[data-testid="prices-kind"]`, "custom"),
				set(`#f-prices`, "deepseek-chat 1 4 0.25\nnot-a-model 1 1 1"),
				chromedp.Click(css(`[data-testid="prices-submit"]`)),
				chromedp.WaitVisible(css(`[data-testid="error-prices-prices"]`)),
			))
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-prices-prices"]`), "not-a-model")
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-prices-reason"]`), lang.reasonErr)
			require.NoError(t, chromedp.Do(ctx,
				set(`#f-prices`, "deepseek-chat 1 4 0.25"),
				set(`#f-prices-reason`, "volume deal"),
				chromedp.Click(css(`[data-testid="prices-submit"]`)),
				chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
			))
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), lang.pending)
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="prices-current"]`), lang.current, "nothing changed yet")
		}
		webtest.RequireFitsWidth(t, ctx, 390, "the customer page's prices (%s)", lang.code)
		webtest.Screenshot(t, ctx, "customer-prices-390-"+lang.code)
	}

	pending, err := b.app.Services.Backoffice.Approvals(bg, backoffice.ApprovalFilter{State: backoffice.ApprovalPending, AccountID: entID})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, backoffice.ApproveRateCard, pending[0].Action)
	require.True(t, decimal.NewFromInt(50).Equal(pending[0].Amount), "custom input 1 is 50 %% below the public 2: %s", pending[0].Amount)
	approval := fmt.Sprintf(`[data-testid="approval-%d"] `, pending[0].ID)
	// The requester never sees Approve enabled.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/admin/approvals"),
		chromedp.WaitVisible(css(approval+`[data-testid="approve-disabled"]`))))
	require.Contains(t, webtest.Text(t, ctx, approval+`[data-testid="approval-amount"]`), "50%")
	webtest.RequireFitsWidth(t, ctx, 390, "the approvals page with a prices request")
	signOut()

	webtest.SignIn(t, ctx, b.app.URL, checker, pw)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/admin/approvals"),
		chromedp.WaitVisible(css(approval+`[data-testid="approve"]`)),
		chromedp.Click(css(approval+`[data-testid="approve"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
		chromedp.Navigate(customer),
		chromedp.WaitVisible(css(`[data-testid="prices-versions"]`)),
	))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="prices-current"]`), "deepseek-chat 1 4 0.25")
	require.Equal(t, 2, countNodes(t, ctx, `[data-testid="prices-version"]`))
	webtest.RequireFitsWidth(t, ctx, 390, "the customer page with its versions")

	// The department inherits the enterprise's card: 1,000 input tokens
	// hold 1 credit (the public card: 2), and the charge names the card.
	r := c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": deptExt, "model": "deepseek-chat",
		"max_input_tokens": 1000, "max_output_tokens": 0, "idempotency_key": "after-approval"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	require.True(t, dec(t, r.JSON(t)["reserved"]).Equal(decimal.NewFromInt(1)), "%s", r.Body)
	r = c.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/commit", map[string]any{"input_tokens": 1000})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var cardID, approvalID int64
	require.NoError(t, b.pool.QueryRow(bg, `SELECT id, approval_id FROM account_rate_cards WHERE account_id = $1 ORDER BY version DESC LIMIT 1`,
		entID).Scan(&cardID, &approvalID))
	require.Equal(t, pending[0].ID, approvalID)
	var recorded int64
	require.NoError(t, b.pool.QueryRow(bg, `SELECT count(*) FROM ledger_events e JOIN ledger_accounts a ON a.id = e.account_id
		WHERE a.external_id = $1 AND e.type = 'deduction' AND (e.detail->>'account_card_id')::bigint = $2`, deptExt, cardID).Scan(&recorded))
	require.Positive(t, recorded)
	var audited int
	require.NoError(t, b.pool.QueryRow(bg, `SELECT count(*) FROM admin_audit_log WHERE account_id = $1
		AND action IN ('rate_card_set', 'rate_card_requested')`, entID).Scan(&audited))
	require.Equal(t, 3, audited, "set, requested, set on approval")
}
