package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// settingsForm is the form of a group as the page shows it, with changes.
func settingsForm(t *testing.T, p *webtest.Page, group string, changes map[string]string) url.Values {
	t.Helper()
	form := url.Values{}
	p.Doc.Find(`[data-testid="settings-form-` + group + `"] input`).Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		value, _ := s.Attr("value")
		if name != "" && name != "_csrf" {
			form.Set(name, value)
		}
	})
	require.NotEmpty(t, form, "the %s form", group)
	for k, v := range changes {
		form.Set(k, v)
	}
	return form
}

// Only admins reach the settings screen; the menu and the home page link
// to it; every key shows its value and that it comes from the environment.
func TestAdminSettingsIsForAdminsOnly(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	for _, role := range []auth.Role{auth.RoleSupport, auth.RoleFinance} {
		c := b.staff(t, "settings-"+string(role), role)
		require.Equal(t, http.StatusForbidden, c.Get("/admin/settings").Status, role)
		require.Equal(t, http.StatusForbidden, c.PostForm("/admin/settings/topup", url.Values{"tiers": {"1"}, "reason": {"x"}}).Status, role)
		home := c.Get("/admin")
		require.Empty(t, home.Doc.Find(`[data-testid="admin-menu-admin.settings"]`).Nodes, "%s sees no settings menu entry", role)
		require.Empty(t, home.Doc.Find(`[data-testid="home-settings-link"]`).Nodes, role)
	}
	admin := b.staff(t, "settings-admin", auth.RoleAdmin)
	home := admin.Get("/admin")
	href, _ := home.Doc.Find(`[data-testid="home-settings-link"]`).Attr("href")
	require.Equal(t, "/admin/settings", href)
	href, _ = home.Doc.Find(`[data-testid="admin-menu-admin.settings"]`).Attr("href")
	require.Equal(t, "/admin/settings", href)

	p := admin.Get("/admin/settings")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "page", p.Doc.Find(`[data-testid="admin-menu-admin.settings"]`).AttrOr("aria-current", ""))
	for _, g := range []string{"topup", "bank", "limits", "accounts"} {
		form := p.Doc.Find(`[data-testid="settings-form-` + g + `"]`)
		require.Equal(t, 1, form.Length(), g)
		require.Contains(t, form.AttrOr("data-confirm", ""), "确认修改「", g)
	}
	require.Equal(t, "30, 100, 300, 1000", p.Text(`[data-testid="setting-topup_tiers"] [data-testid="setting-value"]`))
	require.Equal(t, "1,000 / 1,500 / 50,000", p.Text(`[data-testid="setting-limits_support_grant"] [data-testid="setting-value"]`),
		"the environment's limits (setupAdmin's)")
	require.Equal(t, "环境变量默认值（从未修改）", p.Text(`[data-testid="setting-trial_cap"] [data-testid="setting-source"]`))
	require.Contains(t, p.Text(`[data-testid="settings-accounts"]`), "1 至 10,000,000 点", "the hint names the allowed range")
	require.Equal(t, "1000", p.Doc.Find(`#f-grant_limit`).AttrOr("value", ""))
	require.Equal(t, "执行（拒绝） (enforce)", p.Text(`[data-testid="setting-access_enforcement"] [data-testid="setting-value"]`),
		"the enforcement mode by its name, with the word the form takes")
}

// A form with several mistakes reports all of them at once, in the user's
// language, naming the allowed range, keeps what was typed and changes
// nothing.
func TestAdminSettingsReportsEveryErrorAtOnce(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	admin := b.staff(t, "settings-errors", auth.RoleAdmin)
	p := admin.Get("/admin/settings")
	bad := settingsForm(t, p, "limits", map[string]string{"grant_limit": "-5", "grant_staff_day": "abc", "recharge_limit": "1.001",
		"reason": ""})
	r := admin.PostForm("/admin/settings/limits", bad)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	in := func(sel string) string { return r.Text(`[data-testid="settings-limits"] ` + sel) }
	require.Equal(t, "请输入 0 至 100,000,000 之间的数。", in(`[data-testid="error-grant_limit"]`))
	require.Equal(t, "请输入数字，例如 100 或 99.5。", in(`[data-testid="error-grant_staff_day"]`))
	require.Contains(t, in(`[data-testid="error-recharge_limit"]`), "元精确到分")
	require.Equal(t, "此项为必填项。", in(`[data-testid="error-reason"]`))
	require.Equal(t, "abc", r.Doc.Find(`#f-grant_staff_day`).AttrOr("value", ""), "what was typed stays")
	require.Equal(t, "-5", r.Doc.Find(`#f-grant_limit`).AttrOr("value", ""))
	require.Empty(t, r.Doc.Find(`[data-testid="settings-topup"] .field-error`).Nodes, "other forms show no errors")
	require.Equal(t, "1,000 / 1,500 / 50,000", r.Text(`[data-testid="setting-limits_support_grant"] [data-testid="setting-value"]`), "nothing changed")

	// The bonus names a tier that is not offered; the bank account is half
	// given; in English.
	admin.Header.Set("Accept-Language", "en")
	p = admin.Get("/admin/settings")
	r = admin.PostForm("/admin/settings/topup", settingsForm(t, p, "topup", map[string]string{"tiers": "30, 100, abc", "bonus": "500:20",
		"bonus_expiry_days": "99999", "reason": "promo"}))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "Enter a number, e.g. 100 or 99.5.", r.TestID("error-tiers"))
	require.Equal(t, "Enter a number from 0 to 3,650.", r.TestID("error-bonus_expiry_days"))
	require.Equal(t, "promo", r.Doc.Find(`#f-reason-topup`).AttrOr("value", ""))
	r = admin.PostForm("/admin/settings/topup", settingsForm(t, p, "topup", map[string]string{"bonus": "500:20", "reason": "promo"}))
	require.Equal(t, "Each bonus tier must be one of the top-up tiers above.", r.TestID("error-bonus"))
	r = admin.PostForm("/admin/settings/bank", settingsForm(t, p, "bank", map[string]string{"bank_bank": "", "bank_number": "62-x",
		"reason": "new account"}))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, r.TestID("error-bank_bank"), "Give the account name, bank and number together")
	require.Equal(t, "The account number may hold only digits, spaces and dashes.", r.TestID("error-bank_number"))
	r = admin.PostForm("/admin/settings/accounts", settingsForm(t, p, "accounts", map[string]string{"reason": "nothing"}))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "These are the values in force already: nothing to save.", r.Text(`[data-testid="settings-accounts"] [data-testid="error-form"]`))
}

// Changing the top-up tiers on the settings screen changes what a customer
// is offered at once, without a restart; changing the trial cap applies to
// the next account created. Both are in the history and the audit log.
func TestAdminSettingsApplyWithoutRestart(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t, webtest.WithOwnDatabase())
	admin := b.staff(t, "settings-apply", auth.RoleAdmin)
	customer, u := b.register(t, uniqEmail("settings-cust"), "Settings Customer")
	_, err := b.verify.MarkVerifiedExternally(context.Background(), u.AccountID, "test-settings", "test")
	require.NoError(t, err)
	require.Equal(t, 4, customer.Get("/portal/topup").Doc.Find(`[data-testid="tier"]`).Length())

	p := admin.Get("/admin/settings")
	r := admin.PostForm("/admin/settings/topup", settingsForm(t, p, "topup", map[string]string{"tiers": "５０，２００、８００", "bonus": "２００：１０",
		"reason": "双十二活动"}))
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "/admin/settings", r.URL.Path)
	require.Equal(t, "已保存「充值档位与赠送」，立即生效。", r.TestID("settings-saved"))
	require.Equal(t, "50, 200, 800", r.Text(`[data-testid="setting-topup_tiers"] [data-testid="setting-value"]`))
	require.Contains(t, r.Text(`[data-testid="setting-topup_tiers"] [data-testid="setting-source"]`), "已修改：settings-apply")
	require.Contains(t, r.Text(`[data-testid="setting-topup_tiers"] [data-testid="setting-history"]`), "双十二活动")

	// A second admin's form, shown before that change, does not undo it.
	stale := admin.PostForm("/admin/settings/topup", settingsForm(t, p, "topup", map[string]string{"tiers": "30, 100", "bonus": "",
		"reason": "另一位管理员"}))
	require.Equal(t, http.StatusUnprocessableEntity, stale.Status)
	require.Contains(t, stale.Text(`[data-testid="settings-topup"] [data-testid="error-form"]`), "有人修改了这里的设置")
	require.Equal(t, "30, 100", stale.Doc.Find(`#f-tiers`).AttrOr("value", ""), "what was typed stays")
	require.Equal(t, "50, 200, 800", stale.Text(`[data-testid="setting-topup_tiers"] [data-testid="setting-value"]`))

	topup := customer.Get("/portal/topup")
	require.Equal(t, 3, topup.Doc.Find(`[data-testid="tier"]`).Length())
	for _, fen := range []string{"5000", "20000", "80000"} {
		require.Equal(t, 1, topup.Doc.Find(`[data-testid="tier-`+fen+`"]`).Length(), fen)
	}
	require.Contains(t, topup.TestID("tier-bonus"), "+20,000", "10% of ¥200 at ¥0.001 a credit")

	// The trial cap: accounts created from now on.
	before, err := b.ledger.Account(context.Background(), u.AccountID)
	require.NoError(t, err)
	r = admin.PostForm("/admin/settings/accounts", settingsForm(t, r, "accounts", map[string]string{"trial_cap": "２５０００", "reason": "更宽松的试用"}))
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "25,000", r.Text(`[data-testid="setting-trial_cap"] [data-testid="setting-value"]`))
	_, nu := b.register(t, uniqEmail("settings-new"), "New Customer")
	acc, err := b.ledger.Account(context.Background(), nu.AccountID)
	require.NoError(t, err)
	require.True(t, acc.TrialCap.Valid)
	require.Equal(t, "25000", acc.TrialCap.Decimal.String())
	again, err := b.ledger.Account(context.Background(), u.AccountID)
	require.NoError(t, err)
	require.Equal(t, before.TrialCap, again.TrialCap, "an existing account keeps its cap")

	// The approval limits and the receiving account: the back office and
	// payments use the new values at once.
	r = admin.PostForm("/admin/settings/limits", settingsForm(t, r, "limits", map[string]string{"grant_limit": "８０００",
		"recharge_limit": "2,500.50", "reason": "年底放宽"}))
	require.Equal(t, http.StatusOK, r.Status)
	bo := b.bo.Settings()
	require.Equal(t, "8000", bo.SupportGrantLimit.String())
	require.Equal(t, int64(250050), bo.ManualRechargeLimitFen)
	require.Equal(t, "1500", bo.SupportGrantStaffDayLimit.String(), "untouched fields keep their values")
	r = admin.PostForm("/admin/settings/bank", settingsForm(t, r, "bank", map[string]string{"bank_name": "新收款有限公司",
		"bank_number": "６２２２ ０２０２ ００００", "reason": "换收款账户"}))
	require.Equal(t, http.StatusOK, r.Status)
	bank := b.payments.BankAccount()
	require.Equal(t, "新收款有限公司", bank.Name)
	require.Equal(t, "6222 0202 0000", bank.Number)
	require.Equal(t, "已保存「收款银行账户」，立即生效。", r.Text(`[data-testid="settings-bank"] [data-testid="settings-saved"]`))
	require.Empty(t, r.Text(`[data-testid="settings-topup"] [data-testid="settings-saved"]`))

	// An emptied account turns bank transfer off; the home page warns and
	// links to the settings.
	r = admin.PostForm("/admin/settings/bank", settingsForm(t, r, "bank", map[string]string{"bank_name": "", "bank_bank": "", "bank_branch": "",
		"bank_number": "", "reason": "账户注销"}))
	require.Equal(t, http.StatusOK, r.Status)
	require.False(t, b.payments.Available(payments.ChannelBankTransfer))
	home := admin.Get("/admin")
	href, _ := home.Doc.Find(`[data-testid="bank-missing-settings"]`).Attr("href")
	require.Equal(t, "/admin/settings", href)

	audit := admin.Get("/admin/audit?action=setting_changed")
	require.Equal(t, http.StatusOK, audit.Status)
	require.Contains(t, audit.Doc.Find("body").Text(), "更宽松的试用")
	require.Contains(t, audit.Doc.Find("body").Text(), "修改业务设置")
}

// TestAdminSettingsOnAPhoneInChromium: on a 390 px phone, in Chinese and in
// English, an admin sees the settings with their ranges, gets every error
// of a bad form at once after confirming, and nothing scrolls sideways.
func TestAdminSettingsOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t)
	const pw = "staff password 1"
	email := uniqEmail("settings-phone")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw, Name: "Settings admin", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	fits := func(what string) {
		t.Helper()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391).slice(0, 8).map(e => e.tagName + "." + e.className + "#" + (e.dataset.testid||"") + " " + Math.round(e.getBoundingClientRect().right))`))
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone: %v", what, wide)
	}
	for _, lang := range []struct{ code, title, hint, group, rangeErr, reasonErr, lineLabel, lineErr string }{
		{"zh-CN", "业务设置", "1 至 10,000,000 点", "试用、宽限与到期提醒", "请输入 1 至 365 之间的数。", "此项为必填项。",
			"无需审批的最大授信额度（元）", "请输入 1 至 100,000,000 之间的数。"},
		{"en", "Business settings", "1 to 10,000,000 credits", "Trial, grace and expiry reminders", "Enter a number from 1 to 365.", "This field is required.",
			"Largest credit line without approval (¥)", "Enter a number from 1 to 100,000,000."},
	} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/admin/settings"),
			chromedp.WaitVisible(css(`[data-testid="settings-accounts"]`))))
		require.Contains(t, webtest.Text(t, ctx, `h1`), lang.title)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="settings-accounts"]`), lang.hint)
		fits("/admin/settings " + lang.code)
		require.Equal(t, map[string]string{"zh-CN": "执行（拒绝） (enforce)", "en": "Enforce (refuse) (enforce)"}[lang.code],
			webtest.Text(t, ctx, `[data-testid="setting-access_enforcement"] [data-testid="setting-value"]`))
		webtest.Screenshot(t, ctx, "admin-settings-390-"+lang.code)

		// A bad form: the confirmation is accepted, the server answers with
		// every error; nothing is saved (the package's database is shared).
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.confirm = (m) => { sessionStorage.setItem("asked", m); return true; }, true)`))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(css(`#f-reminder_days`), "０"),
			chromedp.SetValue(css(`#f-trial_cap`), "abc"),
			chromedp.Click(css(`[data-testid="settings-submit-accounts"]`)),
			chromedp.WaitVisible(css(`[data-testid="settings-accounts"] [data-testid="error-reminder_days"]`)),
		))
		asked, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("asked")`))
		require.NoError(t, err)
		require.Contains(t, asked, lang.group, "the confirmation names the change")
		require.Equal(t, lang.rangeErr, webtest.Text(t, ctx, `[data-testid="settings-accounts"] [data-testid="error-reminder_days"]`))
		require.Equal(t, lang.reasonErr, webtest.Text(t, ctx, `[data-testid="settings-accounts"] [data-testid="error-reason"]`))
		require.NotEmpty(t, webtest.Text(t, ctx, `[data-testid="settings-accounts"] [data-testid="error-trial_cap"]`))
		fits("/admin/settings with errors " + lang.code)
		webtest.Screenshot(t, ctx, "admin-settings-errors-390-"+lang.code)

		// limits.credit_line: shown with the approval limits in force
		// (¥100,000 by default), bounded, its error in the user's language.
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="settings-limits"]`), lang.lineLabel)
		line, err := chromedp.Run(ctx, chromedp.Value(css(`#f-credit_line_limit`)))
		require.NoError(t, err)
		require.Equal(t, "100000", line)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(css(`#f-credit_line_limit`), "0"),
			chromedp.Click(css(`[data-testid="settings-submit-limits"]`)),
			chromedp.WaitVisible(css(`[data-testid="settings-limits"] [data-testid="error-credit_line_limit"]`)),
		))
		require.Equal(t, lang.lineErr, webtest.Text(t, ctx, `[data-testid="settings-limits"] [data-testid="error-credit_line_limit"]`))
		fits("/admin/settings limits with errors " + lang.code)
		webtest.Screenshot(t, ctx, "admin-settings-credit-line-390-"+lang.code)
	}
}
