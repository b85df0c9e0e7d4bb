package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"golang.org/x/image/font/sfnt"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing/pdf"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/verification"
	"github.com/seed75218f88/credits/web/webtest"
)

// portalSession makes a gateway account of kind and returns the path of a
// one-time portal sign-in link for it, and the ledger account.
func (b *kycBundle) portalSession(t *testing.T, ext, kind string) (string, ledger.Account) {
	t.Helper()
	body := map[string]any{}
	if kind != "" {
		body["kind"] = kind
	}
	r := b.sandbox.do(http.MethodPut, "/v1/accounts/"+ext, body)
	require.Contains(t, []int{200, 201}, r.Status, string(r.Body))
	r = b.sandbox.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	u, err := url.Parse(r.JSON(t)["url"].(string))
	require.NoError(t, err)
	acct, err := b.ledger.AccountByExternalID(context.Background(), ledger.ModeTest, ext)
	require.NoError(t, err)
	return u.Path, acct
}

// TestVerificationLiftsTheTrialCapInChromium: an unverified account spends
// its granted credit up to the trial cap and is refused with
// verification_required; its customer verifies in the portal with a sandbox
// identity; the cap lifts and the verification bonus arrives, once.
func TestVerificationLiftsTheTrialCapInChromium(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	ctx := context.Background()
	ext := "trial-" + strings.ToLower(t.Name())
	link, acct := b.portalSession(t, ext, "")
	r := b.sandbox.do(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{
		"amount": "100", "kind": "promo", "reason_code": "signup", "idempotency_key": "g1"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	reserve := func(key string, tokens int) apiResp {
		return b.sandbox.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat",
			"max_input_tokens": tokens, "max_output_tokens": 0, "idempotency_key": key}) // 5,000 tokens = 10 credits
	}
	for _, key := range []string{"r1", "r2"} { // 20 credits: at the trial cap
		r := reserve(key, 5000)
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	}
	r = reserve("over", 500)
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "verification_required", r.Code(t))

	// The customer opens the portal link and verifies with a sandbox identity.
	person := identity.SandboxPeople[2] // 王五, verified by the sandbox
	bctx := webtest.Browser(t, 60*time.Second)
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(b.app.URL+link),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav-portal.verification"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="nav-portal.verification"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="person-form"]`)),
	))
	require.Equal(t, "未认证", webtest.Text(t, bctx, `[data-testid="verification-state-label"]`))
	// A typo in the check digit first: the message says so, in Chinese.
	bad := person.Number[:17] + map[bool]string{true: "1", false: "0"}[person.Number[17] == '0']
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS(`#f-name`), person.Name),
		chromedp.SendKeys(chromedp.CSS(`#f-id_number`), bad),
		chromedp.Click(chromedp.CSS(`[data-testid="consent-sensitive-pi-box"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="person-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-id_number"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="error-id_number"]`), "校验")
	typed, err := chromedp.Run(bctx, chromedp.Value(chromedp.CSS(`#f-id_number`)))
	require.NoError(t, err)
	require.Equal(t, bad, typed, "the number typed is kept to be corrected")
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SetValue(chromedp.CSS(`#f-id_number`), person.Number),
		chromedp.Click(chromedp.CSS(`[data-testid="person-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="verification-bonus"]`)),
	))
	require.Equal(t, "已认证", webtest.Text(t, bctx, `[data-testid="verification-state-label"]`))
	require.Equal(t, identity.MaskID(person.Number), webtest.Text(t, bctx, `[data-testid="verification-number"]`))
	html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS(`html`)))
	require.NoError(t, err)
	require.NotContains(t, html, person.Number)
	webtest.Screenshot(t, bctx, "verification-verified")

	// The cap is lifted: the same call now passes.
	require.Eventually(t, func() bool { return reserve("after", 500).Status == http.StatusCreated }, 5*time.Second, 20*time.Millisecond)

	// The bonus arrived once: a second verification is refused and adds nothing.
	_, err = b.verif.SubmitPerson(ctx, acct.ID, person.Name, person.Number)
	require.ErrorIs(t, err, verification.ErrAlreadyVerified)
	bal, err := b.ledger.Balance(ctx, acct.ID)
	require.NoError(t, err)
	require.True(t, bal.ByKind[ledger.LotPromo].Add(bal.Reserved).Equal(decimal.NewFromInt(100).Add(verificationBonus)), "promo %s reserved %s", bal.ByKind[ledger.LotPromo], bal.Reserved)
	promoLots := 0
	for _, l := range bal.Lots {
		if l.Kind == ledger.LotPromo {
			promoLots++
		}
	}
	require.Equal(t, 2, promoLots, "the grant and one verification bonus")
	require.NoError(t, chromedp.Do(bctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="verification-bonus"]`))))
}

// TestEnterpriseSpecialInvoiceInChromium: an enterprise verifies with its
// business licence, requests a 专票 for two paid top-ups, finance issues it
// with our generated copy, and the customer receives the email (captured by
// a local SMTP server, sent by the River mail job) whose PDF text contains
// the company name and the amount, drawn with a font that has the glyphs.
func TestEnterpriseSpecialInvoiceInChromium(t *testing.T) {
	b := setupKYC(t, kycOpts{mail: true})
	ctx := context.Background()
	link, acct := b.portalSession(t, "ent-"+strings.ToLower(t.Name()), "enterprise")
	company := identity.SandboxCompanies[1] // 上海测试智能有限公司, verified by the sandbox
	licence := filepath.Join(t.TempDir(), "licence.png")
	require.NoError(t, os.WriteFile(licence, pngBytes, 0o600))
	bctx := webtest.Browser(t, 40*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// Verify the enterprise (the enterprise form is shown first).
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(b.app.URL+link),
		chromedp.Navigate(b.app.URL+"/portal/verification"),
		chromedp.WaitVisible(css(`[data-testid="company-form"]`)),
		chromedp.SendKeys(css(`#f-company_name`), company.Name),
		chromedp.SendKeys(css(`#f-credit_code`), company.Number),
		chromedp.SendKeys(css(`#f-legal_rep`), company.LegalRep),
		chromedp.SetUploadFiles(css(`#f-licence`), []string{licence}),
		chromedp.Click(css(`[data-testid="consent-sensitive-pi-box"]`)),
		chromedp.Click(css(`[data-testid="company-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="verification-state"][data-state="verified"]`)),
	))
	require.Equal(t, company.Name, webtest.Text(t, bctx, `[data-testid="verification-name"]`))

	// Two paid top-ups (bank transfers), ¥500 and ¥300.
	o1 := b.paidTopUp(t, acct.ID, 50000)
	o2 := b.paidTopUp(t, acct.ID, 30000)

	// Request a 专票 for both.
	inbox := "caiwu@shtest.example.com"
	field := func(name string) chromedp.CSS { return css(`[name="title.` + name + `"]`) }
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(css(`[data-testid="nav-portal.invoices"]`)),
		chromedp.WaitVisible(css(`[data-testid="invoice-form"]`)),
		chromedp.Click(css(`[data-testid="kind-special"]`)),
		chromedp.Click(css(`[data-testid="order-`+o1.OrderNo+`"]`)),
		chromedp.Click(css(`[data-testid="order-`+o2.OrderNo+`"]`)),
		chromedp.SendKeys(field("name"), company.Name),
		chromedp.SendKeys(field("tax_id"), company.Number),
		chromedp.SendKeys(field("address"), "上海市浦东新区张江高科技园区碧波路 690 号"),
		chromedp.SendKeys(field("phone"), "021-50801234"),
		chromedp.SendKeys(field("bank_name"), "中国银行上海张江支行"),
		chromedp.SendKeys(field("bank_account"), "456351234567890"),
		chromedp.Click(css(`[name="save_title"]`)),
		chromedp.SendKeys(css(`#f-email`), inbox),
		chromedp.Click(css(`[data-testid="invoice-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="invoice-row"]`), "¥800.00")
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="invoice-row"] [data-testid="invoice-state"]`), "待开票")
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="refund-note"]`), "红字冲销")

	// Finance signs in and issues it with our generated copy.
	_, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: "finance-e2e@example.com", Password: "staff password 1", Name: "王会计", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(css(`[data-testid="signout"]`)),
		chromedp.WaitNotPresent(css(`[data-testid="account-bar"]`)),
		chromedp.Navigate(b.app.URL+"/admin/invoices"),
		chromedp.WaitVisible(css(`[data-testid="signin-form"]`)),
		chromedp.SendKeys(css(`#f-login`), "finance-e2e@example.com"),
		chromedp.SendKeys(css(`#f-password`), "staff password 1"),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="staff-bar"]`)),
		chromedp.Navigate(b.app.URL+"/admin/invoices"),
		chromedp.WaitVisible(css(`[data-testid="invoice-queue"]`)),
		chromedp.Click(css(`[data-testid="invoice-open"]`)),
		chromedp.WaitVisible(css(`[data-testid="invoice-issue-form"]`)),
		chromedp.SendKeys(css(`#f-number`), "25312000000041234567"),
		chromedp.Click(css(`[data-testid="issue-source-generate"]`)),
		chromedp.Click(css(`[data-testid="invoice-issue"]`)),
		chromedp.WaitVisible(css(`[data-testid="invoice-detail"][data-state="issued"]`)),
	))
	require.Equal(t, "25312000000041234567", webtest.Text(t, bctx, `[data-testid="invoice-detail-number"]`))

	// The customer's email arrives with the PDF.
	msgs := b.smtp.WaitTo(t, inbox, 1)
	require.Equal(t, []string{inbox}, msgs[0].To)
	require.Contains(t, msgs[0].Subject, "25312000000041234567")
	require.Contains(t, msgs[0].Text, company.Name)
	require.Len(t, msgs[0].Attachments, 1)
	att := msgs[0].Attachments[0]
	require.Equal(t, "application/pdf", att.ContentType)
	got := pdfToText(t, att.Data)
	require.Contains(t, got, company.Name)
	require.Contains(t, got, "800.00")
	require.Contains(t, got, "25312000000041234567")

	// The text is drawn with the embedded WenQuanYi Micro Hei ("wqy"), which has a glyph
	// for every rune of the company name and the amount.
	in := filepath.Join(t.TempDir(), "mail.pdf")
	require.NoError(t, os.WriteFile(in, att.Data, 0o600))
	fonts, err := exec.Command("pdffonts", in).CombinedOutput()
	require.NoError(t, err, string(fonts))
	require.Regexp(t, `(?m)^wqy\s+CID TrueType\s+Identity-H\s+yes`, string(fonts), "WenQuanYi Micro Hei, embedded")
	f, err := sfnt.Parse(pdf.FontTTF())
	require.NoError(t, err)
	var buf sfnt.Buffer
	for _, r := range company.Name + "¥800.00" {
		gi, err := f.GlyphIndex(&buf, r)
		require.NoError(t, err)
		require.NotZero(t, gi, "no glyph for %q", r)
	}
}
