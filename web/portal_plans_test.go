package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// demoPlansDone holds, per database, the once that published the demo
// plans there (a test on a database of its own publishes its own).
var demoPlansDone sync.Map // database name -> *sync.Once

// demoPlans publishes the four demo plans once for the test's database.
func demoPlans(t *testing.T, app *webtest.App) {
	t.Helper()
	once, _ := demoPlansDone.LoadOrStore(app.Pool.Config().ConnConfig.Database, new(sync.Once))
	var err error
	once.(*sync.Once).Do(func() { _, err = app.Services.Plans.EnsureDemo(context.Background(), "test") })
	require.NoError(t, err)
}

// planLots are the account's plan lots.
func planLots(t *testing.T, l *ledger.Ledger, account int64) []ledger.Lot {
	t.Helper()
	lots, err := l.Lots(context.Background(), account)
	require.NoError(t, err)
	var out []ledger.Lot
	for _, lot := range lots {
		if lot.Kind == ledger.LotPlan {
			out = append(out, lot)
		}
	}
	return out
}

// TestPlansPageComparesPlansInBothLanguages: the tiers with their prices,
// plan credits, rate limits and quotas in words; then, once the customer
// has a plan, its period, term and the plan credits left this month.
func TestPlansPageComparesPlansInBothLanguages(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	demoPlans(t, b.app)
	c, u := b.register(t, uniqEmail("plans-page"), "")

	p := c.Get("/portal/plans")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Text("h1"), "套餐")
	require.Equal(t, "/portal/plans", p.Doc.Find(`nav a[href="/portal/plans"]`).AttrOr("href", ""), "the menu links the page")
	require.NotEmpty(t, p.TestID("current-plan-none"))
	basic := p.Doc.Find(`[data-testid="plan-basic"]`)
	require.Contains(t, basic.Find("header").Text(), "基础版")
	require.Contains(t, basic.Find(`[data-testid="plan-monthly"]`).Text(), "¥29.00")
	require.Contains(t, basic.Find(`[data-testid="plan-yearly"]`).Text(), "¥290.00")
	require.Contains(t, basic.Find(`[data-testid="plan-credits"]`).Text(), "20,000")
	require.Contains(t, basic.Find(`[data-testid="plan-rate"]`).Text(), "每分钟 60 次请求")
	quotas := basic.Find(`[data-testid="plan-quota"]`)
	require.Equal(t, 2, quotas.Length())
	require.Equal(t, "每 5 小时 120 次调用", quotas.First().Text())
	require.Equal(t, "每周 1,000 次调用", quotas.Last().Text())
	require.Contains(t, p.Doc.Find(`[data-testid="plan-free"] [data-testid="plan-quota"]`).Text(), "每天 20 次调用")
	require.Empty(t, p.TestID("plan-in-force"), "no plan in force yet")

	// Staff comp Basic for 3 months: the page shows it with the month's
	// plan credits.
	sub, g, err := b.app.Services.Subscriptions.Comp(context.Background(), plans.CompRequest{AccountID: u.AccountID,
		PlanCode: "basic", Months: 3, Actor: "test"})
	require.NoError(t, err)
	require.NotZero(t, g.LotID)
	p = c.Get("/portal/plans")
	require.Equal(t, "基础版", p.TestID("current-plan-name"))
	require.Equal(t, "20,000 / 20,000", strings.Join(strings.Fields(p.TestID("current-plan-remaining")), " "))
	require.NotEmpty(t, p.Doc.Find(`[data-testid="plan-basic"] [data-testid="plan-current-mark"]`).Text())
	require.Contains(t, p.TestID("current-plan-period"), sub.Anchor.In(format.Shanghai).Format("2006-01-02"))
	require.Contains(t, p.Doc.Find(`[data-testid="current-plan"]`).Text(), "到期时间", "a comp ends, it does not renew")

	c.Get("/lang/en")
	p = c.Get("/portal/plans")
	require.Contains(t, p.Text("h1"), "Plans")
	require.Equal(t, "Basic", p.TestID("current-plan-name"))
	require.Contains(t, p.Doc.Find(`[data-testid="current-plan"]`).Text(), "Ends on")
	basic = p.Doc.Find(`[data-testid="plan-basic"]`)
	require.Contains(t, basic.Find(`[data-testid="plan-rate"]`).Text(), "60 requests and 100,000 tokens a minute")
	quotas = basic.Find(`[data-testid="plan-quota"]`)
	require.Equal(t, "120 calls per 5 hours", quotas.First().Text())
	require.Equal(t, "1,000 calls a week", quotas.Last().Text())
	require.Contains(t, basic.Find(`[data-testid="plan-features"]`).Text(), "20,000 plan credits a month")
}

// TestAdminCompsAPlan: an admin gives a customer Basic for 3 months from
// the customer page; the first month's plan credits arrive at once as a plan
// lot expiring at the month's end, the audit log records it, a second comp
// is refused next to the field, and support staff cannot comp.
func TestAdminCompsAPlan(t *testing.T) {
	t.Parallel()
	// Its own database: other tests publish plans into the shared catalogue.
	b := setupAdmin(t, webtest.WithOwnDatabase())
	_, err := b.app.Services.Plans.EnsureDemo(context.Background(), "test")
	require.NoError(t, err)
	_, u := b.register(t, uniqEmail("comp-customer"), "")
	admin := b.staff(t, "comp-admin", auth.RoleAdmin)
	page := "/admin/customers/" + strconv.FormatInt(u.AccountID, 10)

	p := admin.Get(page)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, 1, p.Doc.Find(`[data-testid="plan-comp-form"]`).Length())
	require.Equal(t, 4, p.Doc.Find(`[data-testid="plan-comp-plan"] option`).Length(), "the catalogue's plans")

	p = admin.PostForm(page+"/plan", url.Values{"plan": {"basic"}, "months": {"0"}, "reason": {""}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.TestID("error-months"), "1")
	require.NotEmpty(t, p.TestID("error-reason"))
	require.Empty(t, planLots(t, b.ledger, u.AccountID), "nothing granted")

	p = admin.PostForm(page+"/plan", url.Values{"plan": {"basic"}, "months": {"3"}, "reason": {"partner launch"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("flash-success"))
	require.NotEmpty(t, p.TestID("plan-comp-current"), "the customer page shows the plan in force")
	lots := planLots(t, b.ledger, u.AccountID)
	require.Len(t, lots, 1)
	require.Equal(t, "20000", lots[0].Amount.String())
	cur, err := b.app.Services.Subscriptions.Current(context.Background(), u.AccountID)
	require.NoError(t, err)
	require.Equal(t, cur.Grant.PeriodEnd, lots[0].ExpiresAt.UTC(), "the lot expires at the month's end")
	_, monthEnd := plans.PeriodAt(cur.Anchor, plans.Monthly, 0)
	require.Equal(t, monthEnd, cur.Grant.PeriodEnd)
	_, termEnd := plans.PeriodAt(cur.Anchor, plans.Monthly, 2)
	require.Equal(t, termEnd, cur.TermEnd)

	audit := admin.Get("/admin/audit?action=plan_comped&account=" + strconv.FormatInt(u.AccountID, 10))
	require.Equal(t, http.StatusOK, audit.Status)
	require.Contains(t, audit.Body, "partner launch")

	p = admin.PostForm(page+"/plan", url.Values{"plan": {"standard"}, "months": {"1"}, "reason": {"again"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "该客户已有生效中的套餐。", p.TestID("plan-comp-plan-error"))
	require.Len(t, planLots(t, b.ledger, u.AccountID), 1)

	support := b.staff(t, "comp-support", auth.RoleSupport)
	p = support.Get(page)
	require.Equal(t, 0, p.Doc.Find(`[data-testid="plan-comp-form"]`).Length())
	p = support.PostForm(page+"/plan", url.Values{"plan": {"basic"}, "months": {"1"}, "reason": {"x"}})
	require.Equal(t, http.StatusForbidden, p.Status)
}

// TestPlansPageOnAPhoneInChromium: the comparison and the current plan fit
// 390 px in both languages.
func TestPlansPageOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupPortal(t)
	demoPlans(t, b.app)
	login := uniqEmail("plans-phone")
	_, u := b.register(t, login, "")
	_, _, err := b.app.Services.Subscriptions.Comp(context.Background(), plans.CompRequest{AccountID: u.AccountID,
		PlanCode: "standard", Months: 12, Actor: "test"})
	require.NoError(t, err)
	ctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, login, "correct horse 1")
	for _, lang := range []struct{ code, title, plan string }{{"zh-CN", "套餐", "标准版"}, {"en", "Plans", "Standard"}} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/plans"),
			chromedp.WaitVisible(css(`[data-testid="plan-professional"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `h1`), lang.title)
		require.Equal(t, lang.plan, webtest.Text(t, ctx, `[data-testid="current-plan-name"]`))
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "the plans page scrolls sideways on a phone (%s)", lang.code)
		webtest.Screenshot(t, ctx, "portal-plans-390-"+lang.code)
	}
}

// TestPlanCompOnAPhoneInChromium: an admin comps a plan from the customer
// page at 390 px, in Chinese; in English a second comp shows its error next
// to the field. Nothing leaves the screen.
func TestPlanCompOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t)
	demoPlans(t, b.app)
	_, u := b.register(t, uniqEmail("comp-phone-customer"), "")
	const pw = "staff password 1"
	email := uniqEmail("comp-phone-admin")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw, Name: "Phone admin", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)

	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fitsThePhone := func(what string) {
		t.Helper()
		off, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](offViewportJS))
		require.NoError(t, err)
		require.Empty(t, off, "%s: elements leave a 390 px screen", what)
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone", what)
	}
	page := b.app.URL + "/admin/customers/" + strconv.FormatInt(u.AccountID, 10)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(b.app.URL+"/signin"),
		chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		chromedp.SendKeys(css(`#f-login`), email),
		chromedp.SendKeys(css(`#f-password`), pw),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		chromedp.Navigate(b.app.URL+"/lang/zh-CN"),
		chromedp.Navigate(page),
		chromedp.WaitVisible(css(`[data-testid="plan-comp-form"]`)),
		chromedp.SetValue(css(`[data-testid="plan-comp-plan"]`), "basic"),
		chromedp.SetValue(css(`[data-testid="plan-comp-months"]`), "2"),
		chromedp.SendKeys(css(`[data-testid="plan-comp-reason"]`), "合作伙伴试用"),
		chromedp.Click(css(`[data-testid="plan-comp-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="plan-comp-current"]`)),
	))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="plan-comp-current"]`), "基础版")
	require.Len(t, planLots(t, b.ledger, u.AccountID), 1)
	fitsThePhone("the customer page with its plan (zh-CN)")
	webtest.Screenshot(t, ctx, "admin-plan-comp-390-zh-CN")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/lang/en"),
		chromedp.Navigate(page),
		chromedp.WaitVisible(css(`[data-testid="plan-comp-form"]`)),
		chromedp.SendKeys(css(`[data-testid="plan-comp-reason"]`), "again"),
		chromedp.Click(css(`[data-testid="plan-comp-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="plan-comp-plan-error"]`)),
	))
	require.Equal(t, "This customer already has a plan in force.", webtest.Text(t, ctx, `[data-testid="plan-comp-plan-error"]`))
	fitsThePhone("the plan comp error (en)")
	webtest.Screenshot(t, ctx, "admin-plan-comp-390-en")
}
