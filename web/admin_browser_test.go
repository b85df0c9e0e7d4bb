package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestBackOfficeJourneyInChromium is the back office's "done when": finance
// imports a statement with a matched, a mismatched and an unknown line; the
// matched order is credited once; the unknown line is resolved to a
// customer found and picked in its form (the payer's name finds the
// customer's verified company at once, and a typed reference code finds it
// too); a second import changes nothing. Support grants above its
// limit; the requester cannot approve it; a finance user does, and the
// customer sees the lot with its expiry. Each step is in the audit log
// with the balances before and after.
func TestBackOfficeJourneyInChromium(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	bg := context.Background()
	const pw = "staff password 1"
	mkStaff := func(prefix string, roles ...auth.Role) string {
		email := uniqEmail(prefix)
		_, err := b.auth.CreateStaff(bg, auth.StaffRequest{Email: email, Password: pw, Name: prefix, Roles: roles})
		require.NoError(t, err)
		return email
	}
	finance, support := mkStaff("finance", auth.RoleFinance), mkStaff("support", auth.RoleSupport)
	payerEmail, otherEmail := uniqEmail("payer"), uniqEmail("walkin")
	_, payer := b.register(t, payerEmail, "付款客户")
	_, other := b.register(t, otherEmail, "未知客户")

	// Real transfer orders through payments.
	paid, err := b.payments.CreateTransferOrder(bg, payer.AccountID, 120000)
	require.NoError(t, err)
	short, err := b.payments.CreateTransferOrder(bg, payer.AccountID, 50000)
	require.NoError(t, err)
	serial := fmt.Sprintf("J%d", time.Now().UnixNano())
	// The other customer is verified as the company that pays without a
	// reference code, and has a transfer order it forgot to name.
	company := "丙" + serial + "科技有限公司"
	_, err = b.verify.SubmitCompany(bg, other.AccountID, company, newCreditCode(t), "王五", pngBytes, "licence.png")
	require.NoError(t, err)
	forgotten, err := b.payments.CreateTransferOrder(bg, other.AccountID, 8800)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "statement.csv")
	require.NoError(t, os.WriteFile(file, []byte(statement(
		[4]string{serial + "-1", "甲公司", "1200.00", "充值 " + strings.ToLower(paid.ReferenceDisplay())},
		[4]string{serial + "-2", "乙公司", "499.00", "充值 " + short.ReferenceCode},
		[4]string{serial + "-3", company, "88.00", "无附言"},
	)), 0o600))

	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	signIn := func(login, password, then, wait string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/signin"),
			chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
			chromedp.SendKeys(css(`#f-login`), login),
			chromedp.SendKeys(css(`#f-password`), password),
			chromedp.Click(css(`[data-testid="signin-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="signout"]`)),
			chromedp.Navigate(b.app.URL+then),
			chromedp.WaitVisible(css(wait)),
		))
	}
	signOut := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(css(`[data-testid="signout"]`)), chromedp.WaitNotPresent(css(`[data-testid="signout"]`))))
	}
	importFile := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/admin/statements"),
			chromedp.SetUploadFiles(css(`[data-testid="statement-file"]`), []string{file}),
			chromedp.SendKeys(css(`[data-testid="statement-bank-account"]`), "110912345610201"),
			chromedp.Click(css(`[data-testid="statement-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="import-result"]`)),
		))
	}
	paidCredits := func(acc int64) string {
		bal, err := b.ledger.Balance(bg, acc)
		require.NoError(t, err)
		return bal.ByKind[ledger.LotPaid].String()
	}

	// Finance imports the statement.
	signIn(finance, pw, "/admin/statements", `[data-testid="statement-upload"]`)
	importFile()
	require.Equal(t, "3", webtest.Text(t, ctx, `[data-testid="import-inserted"]`))
	require.Equal(t, "1", webtest.Text(t, ctx, `[data-testid="import-matched"]`))
	require.Equal(t, "2", webtest.Text(t, ctx, `[data-testid="import-unmatched"]`))
	require.Equal(t, "1200000", paidCredits(payer.AccountID), "¥1,200 at ¥0.001 per credit")
	require.Equal(t, "金额与订单不符", webtest.Text(t, ctx, `[data-testid="line-`+serial+`-2"] [data-testid="line-reason"]`))
	require.Equal(t, "附言中没有识别码", webtest.Text(t, ctx, `[data-testid="line-`+serial+`-3"] [data-testid="line-reason"]`))

	// The unknown line is resolved to the other customer: opening its form
	// searches by the payer's name, which finds the verified company.
	line := `[data-testid="line-` + serial + `-3"] `
	pick := fmt.Sprintf(`%s[data-testid="payer-%d"] `, line, other.AccountID)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(line+`[data-testid="line-actions"]`)),
		chromedp.WaitVisible(css(pick+`[data-testid="payer-pick"]`)),
	))
	require.Equal(t, "认证企业名称", webtest.Text(t, ctx, pick+`[data-testid="payer-matched-by"]`))
	require.Contains(t, webtest.Text(t, ctx, pick+`[data-testid="payer-kyc"]`), company)
	require.Contains(t, webtest.Text(t, ctx, pick+`[data-testid="payer-order-`+forgotten.ReferenceDisplay()+`"]`), "¥88.00")
	// The customer reads out the reference code on the phone: typing it
	// searches again (debounced), and finance picks the customer it finds.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Clear(css(line+`[data-testid="resolve-find"]`)),
		chromedp.SendKeys(css(line+`[data-testid="resolve-find"]`), strings.ToLower(forgotten.ReferenceDisplay())),
		chromedp.WaitReady(css(line+`[data-testid="payer-candidates"] input[name="find"][value="`+strings.ToLower(forgotten.ReferenceDisplay())+`"]`)),
		chromedp.WaitVisible(css(pick+`[data-testid="payer-pick"]`)),
	))
	require.Equal(t, "识别码", webtest.Text(t, ctx, pick+`[data-testid="payer-matched-by"]`))
	webtest.Screenshot(t, ctx, "resolve-search")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(pick+`[data-testid="payer-pick"]`)),
		chromedp.SendKeys(css(line+`[data-testid="resolve-note"]`), "客户来电确认"),
		chromedp.Click(css(line+`[data-testid="resolve-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	require.Equal(t, "88000", paidCredits(other.AccountID))

	// A second import changes nothing.
	importFile()
	require.Equal(t, "0", webtest.Text(t, ctx, `[data-testid="import-inserted"]`))
	require.Equal(t, "3", webtest.Text(t, ctx, `[data-testid="import-duplicates"]`))
	require.Equal(t, "0", webtest.Text(t, ctx, `[data-testid="import-matched"]`))
	require.Equal(t, "1200000", paidCredits(payer.AccountID), "credited once")
	require.Equal(t, "88000", paidCredits(other.AccountID))
	webtest.Screenshot(t, ctx, "statements")
	signOut()

	// Support grants 2,000 credits, above its 1,000 limit.
	expiry := time.Now().In(format.Shanghai).AddDate(0, 0, 10)
	signIn(support, pw, fmt.Sprintf("/admin/customers/%d", other.AccountID), `[data-testid="grant-form"]`)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(css(`[data-testid="grant-amount"]`), "2000"),
		chromedp.SetValue(css(`[data-testid="grant-expires"]`), expiry.Format("2006-01-02")),
		chromedp.SetValue(css(`[data-testid="grant-reason"]`), "goodwill"),
		chromedp.SendKeys(css(`[data-testid="grant-note"]`), "故障补偿"),
		chromedp.Click(css(`[data-testid="grant-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), "等待财务审批")
	pending, err := b.bo.Approvals(bg, backoffice.ApprovalFilter{State: backoffice.ApprovalPending, AccountID: other.AccountID})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	approval := fmt.Sprintf(`[data-testid="approval-%d"] `, pending[0].ID)
	// The requester never sees Approve enabled.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/admin/approvals"), chromedp.WaitVisible(css(approval+`[data-testid="approve-disabled"]`))))
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="approve"]').length`))
	require.NoError(t, err)
	require.Zero(t, n)
	signOut()

	// A finance user approves; the customer sees the lot with its expiry.
	signIn(finance, pw, "/admin/approvals", approval+`[data-testid="approve"]`)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(approval+`[data-testid="approve"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	asked := webtest.Dialogs(ctx)
	require.NotEmpty(t, asked, "approving asked first")
	require.Contains(t, asked[len(asked)-1], "2,000", "the question names the amount")
	signOut()
	signIn(otherEmail, "correct horse 1", "/portal", `[data-testid="bucket-promo-amount"]`)
	require.Equal(t, "7,000", webtest.Text(t, ctx, `[data-testid="bucket-promo-amount"]`), "5,000 sign-up credit + 2,000 granted")
	require.Equal(t, expiry.Format("2006-01-02")+" 23:59", webtest.Text(t, ctx, `[data-testid="bucket-promo-expiry"]`))
	signOut()

	// Every step is in the audit log with the balances before and after.
	signIn(finance, pw, fmt.Sprintf("/admin/audit?account=%d", other.AccountID), `[data-testid="audit-table"]`)
	row := func(action string) (before, after string) {
		return webtest.Text(t, ctx, `[data-testid="audit-`+action+`"] [data-testid="audit-before"]`), webtest.Text(t, ctx, `[data-testid="audit-`+action+`"] [data-testid="audit-after"]`)
	}
	before, after := row("manual_recharge")
	require.Equal(t, []string{"5,000", "93,000"}, []string{before, after})
	before, after = row("grant_requested")
	require.Equal(t, []string{"93,000", "93,000"}, []string{before, after})
	before, after = row("approval_applied")
	require.Equal(t, []string{"93,000", "95,000"}, []string{before, after})
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/admin/audit?account=%d", b.app.URL, payer.AccountID)), chromedp.WaitVisible(css(`[data-testid="audit-line_matched"]`))))
	before, after = row("line_matched")
	require.Equal(t, []string{"5,000", "1,205,000"}, []string{before, after})
	webtest.Screenshot(t, ctx, "audit")

	// And the server refuses a requester's own approval, whatever the page shows.
	maker := b.staff(t, "maker", auth.RoleFinance)
	page := maker.Get(fmt.Sprintf("/admin/customers/%d", other.AccountID))
	key := page.Doc.Find(`input[name="idempotency_key"]`).AttrOr("value", "")
	maker.PostForm(fmt.Sprintf("/admin/customers/%d/grant", other.AccountID), url.Values{"amount": {"3000"}, "expires_at": {expiry.Format("2006-01-02")}, "reason_code": {"goodwill"}, "idempotency_key": {key}})
	pending, err = b.bo.Approvals(bg, backoffice.ApprovalFilter{State: backoffice.ApprovalPending, AccountID: other.AccountID})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	r := maker.PostForm(fmt.Sprintf("/admin/approvals/%d/approve", pending[0].ID), nil)
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Contains(t, r.TestID("error"), "不能")
}

// TestServiceKeyJourneyInChromium: an admin creates a live service key in
// the back office, sees its secret once (with the notice), the secret works
// against the API, the list never shows it again, and revoking it (after
// the confirmation) stops it at once.
func TestServiceKeyJourneyInChromium(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	bg := context.Background()
	const pw = "staff password 1"
	email := uniqEmail("keys-admin")
	_, err := b.auth.CreateStaff(bg, auth.StaffRequest{Email: email, Password: pw, Name: "Keys admin", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	name := fmt.Sprintf("浏览器网关-%d", adminSeq.Add(1))

	ctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/signin"),
		chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		chromedp.SendKeys(css(`#f-login`), email),
		chromedp.SendKeys(css(`#f-password`), pw),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		chromedp.Click(css(`[data-testid="admin-menu-admin.keys"]`)),
		chromedp.WaitVisible(css(`[data-testid="key-form"]`)),
		chromedp.SendKeys(css(`[data-testid="key-name-input"]`), name),
		chromedp.SetValue(css(`[data-testid="key-mode-input"]`), "live"),
		chromedp.Click(css(`[data-testid="key-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="key-secret"]`)),
	))
	secret := webtest.Text(t, ctx, `[data-testid="key-secret"]`)
	require.True(t, strings.HasPrefix(secret, "sk_live_"), secret)
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="key-once-notice"]`), "不会再次显示")
	webtest.Screenshot(t, ctx, "service-key-created")

	api := newAPIClient(t, b.app.URL, secret)
	require.Equal(t, http.StatusOK, api.do(http.MethodGet, "/v1/rate-card", nil).Status)

	keys, err := b.gw.Keys.List(bg)
	require.NoError(t, err)
	var id int64
	for _, k := range keys {
		if k.Name == name {
			id = k.ID
		}
	}
	require.NotZero(t, id)
	row := fmt.Sprintf(`[data-testid="key-%d"] `, id)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/admin/keys"),
		chromedp.WaitVisible(css(row+`[data-testid="key-revoke"]`)),
	))
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(css("html")))
	require.NoError(t, err)
	require.NotContains(t, html, secret[16:], "shown once")
	require.Equal(t, secret[:16]+"…", webtest.Text(t, ctx, row+`[data-testid="key-prefix"]`))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(row+`[data-testid="key-revoke"]`)),
		chromedp.WaitVisible(css(`[data-testid="key-revoke-confirm"]`)),
	))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="key-revoke-confirm-box"]`), name)
	webtest.Screenshot(t, ctx, "service-key-revoke-confirm")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="key-revoke-confirm"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	require.Contains(t, webtest.Text(t, ctx, row+`[data-testid="key-status"]`), "已吊销")
	require.Equal(t, http.StatusUnauthorized, api.do(http.MethodGet, "/v1/rate-card", nil).Status, "refused at once")
	webtest.Screenshot(t, ctx, "service-keys")
}

// TestGrantAllowanceOnAPhoneInChromium: on a 390 px phone, in Chinese and
// in English, a support user sees today's allowance on the customer's
// page, grants within it, then grants past it: the part within applies,
// the part over waits, and both the customer's page and the approvals
// queue show the split. Nothing is wider than the screen.
func TestGrantAllowanceOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t)
	bg := context.Background()
	const pw = "staff password 1"
	email := uniqEmail("phone-support")
	_, err := b.auth.CreateStaff(bg, auth.StaffRequest{Email: email, Password: pw, Name: "Phone support", Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)
	_, cust := b.register(t, uniqEmail("phone-cust"), "手机客户")
	page := fmt.Sprintf("%s/admin/customers/%d", b.app.URL, cust.AccountID)
	expiry := time.Now().In(format.Shanghai).AddDate(0, 0, 10).Format("2006-01-02")

	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fitsThePhone := func(what string) {
		t.Helper()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone", what)
	}
	grant := func(amount string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(page),
			chromedp.WaitVisible(css(`[data-testid="grant-form"]`)),
			chromedp.SendKeys(css(`[data-testid="grant-amount"]`), amount),
			chromedp.SetValue(css(`[data-testid="grant-expires"]`), expiry),
			chromedp.SetValue(css(`[data-testid="grant-reason"]`), "goodwill"),
			chromedp.Click(css(`[data-testid="grant-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
		))
	}

	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(b.app.URL+"/signin"),
		chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		chromedp.SendKeys(css(`#f-login`), email),
		chromedp.SendKeys(css(`#f-password`), pw),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		chromedp.Navigate(page),
		chromedp.WaitVisible(css(`[data-testid="grant-allowance"]`)),
	))
	require.Equal(t, "1,500", webtest.Text(t, ctx, `[data-testid="grant-remaining"]`))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="grant-allowance"]`), "今日还可直接赠送")
	fitsThePhone("the customer page")

	grant("1000")
	require.Equal(t, "500", webtest.Text(t, ctx, `[data-testid="grant-remaining"]`))
	grant("800")
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), "超出的部分等待财务审批")
	require.Equal(t, "0", webtest.Text(t, ctx, `[data-testid="grant-remaining"]`))
	pending, err := b.bo.Approvals(bg, backoffice.ApprovalFilter{State: backoffice.ApprovalPending, AccountID: cust.AccountID})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	part := fmt.Sprintf(`[data-testid="pending-%d"] `, pending[0].ID)
	require.Equal(t, "300", webtest.Text(t, ctx, part+`[data-testid="approval-amount"]`))
	require.Equal(t, "超出申请人今日额度", webtest.Text(t, ctx, part+`[data-testid="approval-over"]`))
	fitsThePhone("the customer page with a split grant")
	webtest.Screenshot(t, ctx, "grant-allowance-390-zh")

	item := fmt.Sprintf(`[data-testid="approval-%d"] `, pending[0].ID)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/admin/approvals"), chromedp.WaitVisible(css(item+`[data-testid="approval-split"]`))))
	require.Contains(t, webtest.Text(t, ctx, item+`[data-testid="approval-split"]`), "拆分自一笔赠送")
	fitsThePhone("the approvals page")
	webtest.Screenshot(t, ctx, "approvals-split-390-zh")

	// The same two pages in English.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/lang/en"),
		chromedp.Navigate(page),
		chromedp.WaitVisible(css(`[data-testid="grant-allowance"]`)),
	))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="grant-allowance"]`), "You can still grant at once today")
	require.Equal(t, "Over the requester's limit for the day", webtest.Text(t, ctx, part+`[data-testid="approval-over"]`))
	require.Equal(t, "1,500 / 1,500", webtest.Text(t, ctx, `[data-testid="grant-staff-used"]`))
	fitsThePhone("the customer page in English")
	webtest.Screenshot(t, ctx, "grant-allowance-390-en")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/admin/approvals"), chromedp.WaitVisible(css(item+`[data-testid="approval-split"]`))))
	require.Contains(t, webtest.Text(t, ctx, item+`[data-testid="approval-split"]`), "Split from a grant of")
	fitsThePhone("the approvals page in English")
	webtest.Screenshot(t, ctx, "approvals-split-390-en")
}
