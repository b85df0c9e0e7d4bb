package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

// A form with several wrong fields shows every message at once, in the
// user's language, and keeps what was typed: sign-up, the back office's
// grant, the invoice request and the verification of a company.

func TestSignUpShowsEveryFieldErrorAtOnce(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	long := strings.Repeat("名", 101)
	form := url.Values{"login": {"li@example"}, "name": {long}, "password": {"1234567"}, "password_confirm": {"7654321"}}
	for _, tc := range []struct {
		lang string
		want map[string]string
	}{
		{"zh-CN", map[string]string{"login": "邮箱", "name": "100", "password": "8", "password_confirm": "不一致", "consent": "同意"}},
		{"en", map[string]string{"login": "not a valid email address", "name": "at most 100 characters", "password": "at least 8 characters",
			"password_confirm": "differ", "consent": "accept the terms"}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			c := webtest.NewClient(t, b.app.URL)
			c.Get("/lang/" + tc.lang)
			c.Get("/signup")
			p := c.PostForm("/signup", merge(form)) // a copy: PostForm adds this client's CSRF token
			require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
			for field, want := range tc.want {
				require.Contains(t, p.TestID("error-"+field), want, field)
			}
			require.Equal(t, "li@example", p.Doc.Find(`[name="login"]`).AttrOr("value", ""), "what was typed is kept")
			require.Equal(t, long, p.Doc.Find(`[name="name"]`).AttrOr("value", ""))
		})
	}
}

func TestAdminGrantShowsEveryFieldErrorAtOnce(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	support := b.staff(t, "support", auth.RoleSupport)
	_, cust := b.register(t, uniqEmail("cust"), "Field Errors Customer")
	page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)
	key := support.Get(page).Doc.Find(`[data-testid="grant-form"] input[name="idempotency_key"]`).AttrOr("value", "")
	require.NotEmpty(t, key)
	form := url.Values{"amount": {"-5"}, "expires_at": {"yesterday"}, "reason_code": {"no_such_reason"}, "note": {"typed note"}, "idempotency_key": {key}}

	r := support.PostForm(page+"/grant", merge(form))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, r.TestID("error-amount"), "请输入")
	require.NotEmpty(t, r.TestID("error-expires_at"))
	require.NotEmpty(t, r.TestID("error-reason_code"))
	require.Equal(t, "-5", r.Doc.Find(`[data-testid="grant-amount"]`).AttrOr("value", ""), "what was typed is kept")
	require.Equal(t, "yesterday", r.Doc.Find(`[data-testid="grant-form"] [name="expires_at"]`).AttrOr("value", ""))

	support.Get("/lang/en")
	defer support.Get("/lang/zh-CN")
	r = support.PostForm(page+"/grant", merge(form))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, r.TestID("error-amount"), "positive amount")
	require.NotEmpty(t, r.TestID("error-expires_at"))
	require.Equal(t, "Choose a reason from the list.", r.TestID("error-reason_code"))

	bal, err := b.ledger.Balance(t.Context(), cust.AccountID)
	require.NoError(t, err)
	require.Equal(t, "5000", bal.Available.String(), "nothing was granted")
}

func TestInvoiceRequestShowsEveryFieldErrorAtOnce(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	c, u := b.register(t, "invoice-fields@example.com")
	b.paidTopUp(t, u.AccountID, 50000)
	taxID := newCreditCode(t)
	form := merge(url.Values{"kind": {"special"}, "title_id": {"new"}, "email": {"not an email"}},
		specialTitle("深圳市星河智能科技有限公司", taxID[:17]+"#"), url.Values{"title.phone": {"call me"}, "title.bank_name": {""}})
	for _, tc := range []struct {
		lang string
		want map[string]string
	}{
		{"zh-CN", map[string]string{"email": "格式", "items": "必填", "title.tax_id": "税号", "title.phone": "格式", "title.bank_name": "必填"}},
		{"en", map[string]string{"email": "right format", "items": "required", "title.tax_id": "taxpayer ID", "title.phone": "right format", "title.bank_name": "required"}},
	} {
		c.Get("/lang/" + tc.lang)
		c.Get("/portal/invoices")
		p := c.PostForm("/portal/invoices", merge(form))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, tc.lang)
		for field, want := range tc.want {
			require.Contains(t, p.TestID("error-"+field), want, tc.lang+" "+field)
		}
		require.NotEmpty(t, p.TestID("flash-error"))
		require.Equal(t, "not an email", val(p, "email"), "what was typed is kept")
		require.Equal(t, "call me", val(p, "title.phone"))
		require.Equal(t, "深圳市星河智能科技有限公司", val(p, "title.name"))
	}
	invs, err := b.inv.ForAccount(t.Context(), u.AccountID)
	require.NoError(t, err)
	require.Empty(t, invs)
}

func TestCompanyVerificationShowsEveryFieldErrorAtOnce(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	c, _ := b.register(t, "kyc-fields@example.com")
	code := newCreditCode(t)
	badCode := code[:17] + map[bool]string{true: "1", false: "0"}[code[17] == '0']
	rep := strings.Repeat("张", 31)
	fields := map[string]string{"consent_sensitive_pi": "yes", "company_name": "", "credit_code": badCode, "legal_rep": rep}
	for _, tc := range []struct {
		lang string
		want map[string]string
	}{
		{"zh-CN", map[string]string{"company_name": "必填", "credit_code": "校验", "legal_rep": "最多 30 个字符", "licence": "JPEG"}},
		{"en", map[string]string{"company_name": "required", "credit_code": "check character", "legal_rep": "At most 30 characters", "licence": "JPEG"}},
	} {
		c.Get("/lang/" + tc.lang)
		c.Get("/portal/verification?tab=enterprise")
		p := postMultipart(t, c, "/portal/verification/company", fields, "licence", "licence.txt", []byte("not an image"))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
		for field, want := range tc.want {
			require.Contains(t, p.TestID("error-"+field), want, tc.lang+" "+field)
		}
		require.Equal(t, rep, val(p, "legal_rep"), "what was typed is kept")
		require.Equal(t, badCode, val(p, "credit_code"), "the code typed is kept to be corrected")
		require.Equal(t, "no-store", p.Header.Get("Cache-Control"), "and kept out of caches")
	}
}

// TestSignUpFieldErrorsOnAPhoneInChromium: on a 390 px phone, in Chinese
// and in English, a sign-up with four wrong fields shows the four messages
// under their fields, keeps the login typed, and nothing is wider than the
// screen.
func TestSignUpFieldErrorsOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupPortal(t)
	ctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	for _, tc := range []struct {
		lang string
		want map[string]string
	}{
		{"zh-CN", map[string]string{"login": "邮箱", "password": "全是数字", "password_confirm": "不一致", "consent": "同意"}},
		{"en", map[string]string{"login": "not a valid email address", "password": "digits only", "password_confirm": "differ", "consent": "accept the terms"}},
	} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(b.app.URL+"/lang/"+tc.lang),
			chromedp.Navigate(b.app.URL+"/signup"),
			chromedp.WaitVisible(css(`[data-testid="signup-submit"]`)),
			chromedp.SendKeys(css(`#f-login`), "li@example"),
			chromedp.SendKeys(css(`#f-password`), "12345678"),
			chromedp.SendKeys(css(`#f-password_confirm`), "12345679"),
			chromedp.Click(css(`[data-testid="signup-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-consent"]`)),
		), tc.lang)
		for field, want := range tc.want {
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-`+field+`"]`), want, tc.lang+" "+field)
		}
		login, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#f-login").value`))
		require.NoError(t, err)
		require.Equal(t, "li@example", login, "what was typed is kept")
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "the sign-up form with its errors scrolls sideways on a phone (%s)", tc.lang)
		webtest.Screenshot(t, ctx, "signup-field-errors-390-"+tc.lang)
	}
}
