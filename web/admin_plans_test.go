package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestAdminPlanCatalogue: an admin starts a draft from the version in
// force, sees every field's problem at once, saves, and publishes the next
// version (audited); other roles cannot reach the catalogue.
func TestAdminPlanCatalogue(t *testing.T) {
	t.Parallel()
	// A database of its own: the catalogue is global, and other tests
	// count its plans.
	b := setupAdmin(t, webtest.WithOwnDatabase())
	ctx := context.Background()
	code := "cat" + strings.ReplaceAll(uniqEmail("p")[2:8], "-", "")
	cat := b.app.Services.Plans
	d, err := cat.CreateDraft(ctx, plans.Spec{Code: code, NameZH: "基础版", NameEN: "Basic", Tier: 1, MonthlyPriceFen: 2900, YearlyPriceFen: 29000,
		MonthlyCredits: decimal.NewFromInt(20000), Items: []plans.Item{{Models: []string{"deepseek-chat"},
			Quotas: []plans.Quota{{Unit: plans.Requests, Window: plans.Rolling(5), Limit: 120}}}}}, "test")
	require.NoError(t, err)
	_, err = cat.Publish(ctx, d.ID, "test")
	require.NoError(t, err)

	support := b.staff(t, "plans-support", auth.RoleSupport)
	require.Equal(t, http.StatusForbidden, support.Get("/admin/plans").Status)

	admin := b.staff(t, "plans-admin", auth.RoleAdmin)
	p := admin.Get("/admin/plans")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.TestID("plan-"+code), "基础版")
	require.Contains(t, p.TestID("plan-"+code), "¥29.00")

	p = admin.PostForm("/admin/plans/"+code+"/draft", url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	form := p.Doc.Find(`[data-testid="plan-draft-form"]`)
	require.Equal(t, 1, form.Length(), "the draft editor, copied from v1")
	require.Contains(t, p.Doc.Find(`[data-testid="plan-items"]`).Text(), "deepseek-chat: 120 requests/5h")
	rev := form.Find(`input[name="revision"]`).AttrOr("value", "")
	draftPath := form.AttrOr("action", "")

	bad := url.Values{"revision": {rev}, "name_zh": {"基础版"}, "name_en": {"Basic"}, "tier": {"x"}, "monthly": {"abc"}, "yearly": {"290"},
		"credits": {"20000"}, "rpm": {"0"}, "tpm": {"0"}, "items": {"deepseek-chat 120 requests"}}
	p = admin.PostForm(draftPath, bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.TestID("error-tier"))
	require.NotEmpty(t, p.TestID("error-monthly"))
	require.Contains(t, p.TestID("error-items"), "line 1")
	require.Equal(t, "deepseek-chat 120 requests", p.Doc.Find(`[data-testid="plan-items"]`).Text(), "what was typed is kept")

	good := url.Values{"revision": {rev}, "name_zh": {"基础版"}, "name_en": {"Basic"}, "tier": {"1"}, "monthly": {"３９"}, "yearly": {"390"},
		"credits": {"30000"}, "rpm": {"60"}, "tpm": {"0"}, "items": {"deepseek-chat: 150 requests/5h, 1000 requests/week"},
		"features": {"编程套餐 | Coding plan"}}
	p = admin.PostForm(draftPath, good)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	publish := p.Doc.Find(`form[action$="/publish"]`)
	require.NotEmpty(t, publish.AttrOr("data-confirm", ""), "publishing asks first")
	p = admin.PostForm(publish.AttrOr("action", ""), url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("flash-success"))
	v2 := p.TestID("plan-version-2")
	require.Contains(t, v2, "¥39.00")
	require.Contains(t, v2, "1000 requests/week")
	latest, err := cat.Latest(ctx, code)
	require.NoError(t, err)
	require.Equal(t, 2, latest.Version)
	require.Equal(t, int64(3900), latest.MonthlyPriceFen)

	audit := admin.Get("/admin/audit?action=plan_published")
	require.Contains(t, audit.Doc.Find(`[data-testid="audit-table"] tbody`).Text(), code)

	admin.Get("/lang/en")
	require.Contains(t, admin.Get("/admin/plans/"+code).Body, "Published versions")
}

// TestAdminPlanCatalogueOnAPhoneInChromium: the catalogue and a plan's
// editor fit a 390 px phone in both languages.
func TestAdminPlanCatalogueOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t, webtest.WithOwnDatabase())
	ctx := context.Background()
	cat := b.app.Services.Plans
	d, err := cat.CreateDraft(ctx, plans.Spec{Code: "phoneplan", NameZH: "专业版", NameEN: "Professional", Tier: 3, MonthlyPriceFen: 29900,
		YearlyPriceFen: 299000, MonthlyCredits: decimal.NewFromInt(300000), Items: []plans.Item{{Group: "deepseek", Models: []string{"deepseek-chat", "deepseek-reasoner"},
			Quotas: []plans.Quota{{Unit: plans.Requests, Window: plans.Rolling(5), Limit: 600}, {Unit: plans.Tokens, Window: plans.PerPeriod, Limit: 50000000}}}}}, "test")
	require.NoError(t, err)
	_, err = cat.Publish(ctx, d.ID, "test")
	require.NoError(t, err)
	_, err = cat.OpenDraft(ctx, "phoneplan", "test")
	require.NoError(t, err)
	const pw = "staff password 1"
	email := uniqEmail("plans-phone")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: pw, Name: "Plans admin", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	bctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, email, pw)
	for _, lang := range []string{"zh-CN", "en"} {
		for _, page := range []struct{ path, ready string }{{"/admin/plans", `[data-testid="plans-table"]`}, {"/admin/plans/phoneplan", `[data-testid="plan-draft-form"]`}} {
			require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang), chromedp.Navigate(b.app.URL+page.path), chromedp.WaitVisible(css(page.ready))))
			webtest.RequireFitsWidth(t, bctx, 390, "%s (%s)", page.path, lang)
			webtest.Screenshot(t, bctx, "admin"+strings.ReplaceAll(page.path, "/", "-")+"-390-"+lang)
		}
		// The new-plan form, sent with a bad code and no price: both
		// errors, in the page's language, and the page still fits.
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/admin/plans"),
			chromedp.WaitVisible(css(`[data-testid="plan-new-form"]`)),
			chromedp.SendKeys(css(`[data-testid="plan-new-form"] input[name="code"]`), "Bad Code"),
			chromedp.Click(css(`[data-testid="plan-create"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-code"]`))))
		codeErr, err := chromedp.Run(bctx, chromedp.Text(css(`[data-testid="error-code"]`)))
		require.NoError(t, err)
		require.Contains(t, codeErr, map[string]string{"zh-CN": "小写字母", "en": "lower-case"}[lang])
		monthlyErrs, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="error-monthly"]').length`))
		require.NoError(t, err)
		require.Equal(t, 1, monthlyErrs, "every field's problem at once")
		webtest.RequireFitsWidth(t, bctx, 390, "/admin/plans with the new plan's errors (%s)", lang)
		webtest.Screenshot(t, bctx, "admin-plans-new-errors-390-"+lang)
	}
}

// TestAdminCreatesANewPlan: on a platform with no plans an admin creates
// one from the back office: every field's problem at once with what was
// typed kept, a taken code refused, then a draft with its own page that
// publishes as v1 (audited) and is sold from the catalogue.
func TestAdminCreatesANewPlan(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t, webtest.WithOwnDatabase())
	ctx := context.Background()
	admin := b.staff(t, "new-plan-admin", auth.RoleAdmin)
	p := admin.Get("/admin/plans")
	require.Equal(t, http.StatusOK, p.Status)
	require.NotEmpty(t, p.TestID("plans-none"), "an empty catalogue says so")
	require.Equal(t, 1, p.Doc.Find(`[data-testid="plan-new-form"]`).Length())

	bad := url.Values{"code": {"Pro Plan"}, "name_zh": {"专业版"}, "name_en": {"Pro"}, "tier": {"-1"}, "monthly": {"abc"}, "yearly": {"990"},
		"credits": {"-5"}, "rpm": {"60"}, "tpm": {"0"}, "items": {"deepseek-chat 120 requests"}}
	p = admin.PostForm("/admin/plans", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	for _, field := range []string{"code", "tier", "monthly", "credits", "items"} {
		require.NotEmpty(t, p.TestID("error-"+field), "every field's problem at once: %s", field)
	}
	require.Equal(t, "Pro Plan", p.Doc.Find(`input[name="code"]`).AttrOr("value", ""), "what was typed is kept")
	require.Equal(t, "deepseek-chat 120 requests", p.Doc.Find(`[data-testid="plan-items"]`).Text())

	good := url.Values{"code": {"Pro Plan"}, "name_zh": {"专业版"}, "name_en": {"Pro"}, "tier": {"2"}, "monthly": {"99"}, "yearly": {"990"},
		"credits": {"100,000"}, "rpm": {"60"}, "tpm": {"0"}, "items": {"deepseek-chat: 300 requests/5h"}, "features": {"优先支持 | Priority support"}}
	p = admin.PostForm("/admin/plans", good)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, "a code with a space and capitals")
	require.Contains(t, p.TestID("error-code"), "小写字母")

	good.Set("code", "pro")
	p = admin.PostForm("/admin/plans", good)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "/admin/plans/pro", p.URL.Path)
	require.Contains(t, p.Body, "新套餐草稿")
	require.NotEmpty(t, p.TestID("plan-versions-none"))
	list := admin.Get("/admin/plans")
	require.Contains(t, list.TestID("plan-draft-pro"), "专业版")
	require.Empty(t, list.TestID("plans-none"))

	p = admin.PostForm("/admin/plans", good)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.TestID("error-code"), "已被使用", "a draft holds its code")

	p = admin.Get("/admin/plans/pro")
	publish := p.Doc.Find(`form[action$="/publish"]`)
	p = admin.PostForm(publish.AttrOr("action", ""), url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("plan-version-1"), "¥99.00")
	latest, err := b.app.Services.Plans.Latest(ctx, "pro")
	require.NoError(t, err)
	require.Equal(t, 1, latest.Version)
	require.Equal(t, int64(9900), latest.MonthlyPriceFen)
	require.True(t, latest.MonthlyCredits.Equal(decimal.NewFromInt(100000)), latest.MonthlyCredits.String())
	require.Contains(t, admin.Get("/admin/plans").TestID("plan-pro"), "专业版")
	require.Contains(t, admin.Get("/admin/audit?action=plan_published").Doc.Find(`[data-testid="audit-table"] tbody`).Text(), "pro")

	admin.Get("/lang/en")
	p = admin.PostForm("/admin/plans", good)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.TestID("error-code"), "taken", "the error in the reader's language")
}
