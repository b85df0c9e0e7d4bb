package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/autotopup"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/web/webtest"
)

// phoneWalkSkip are the GET routes the phone walk does not open in a
// browser, each for its reason. Every other GET route must answer HTML and
// is walked: /admin by staff, /portal by the customer, the rest signed out.
// The gateway API (/v1, /api) answers JSON and YAML and is not walked.
var phoneWalkSkip = map[string]string{
	"/healthz":                                "a probe",
	"/readyz":                                 "a probe",
	"/metrics":                                "Prometheus metrics",
	"/static/*":                               "files",
	"/lang/:lang":                             "sets the language and redirects",
	"/password/reset/:token":                  "needs a mailed token (web/password_reset_test.go walks it)",
	"/signin/totp":                            "needs a staff member half signed in with a second factor (web/admin_staff_test.go)",
	"/portal/link/:token":                     "a one-time sign-in link: it redirects",
	"/team/accept/:token":                     "needs a mailed invitation token (web/portal_team_browser_test.go opens it at 390 px)",
	"/portal/orders/:no/receipt.pdf":          "a PDF file",
	"/portal/orders/:no/status":               "the checkout's polling answer (a partial)",
	"/portal/orders/:no/open":                 "the phone payment hand-off: it sends the browser on to WeChat Pay or Alipay at once (web/pay_phone_browser_test.go opens it at 390 px)",
	"/portal/orders/:no/qr.png":               "an image",
	"/portal/usage/rows":                      "an htmx partial of /portal/usage",
	"/portal/usage/chart.json":                "JSON for the chart",
	"/portal/usage.csv":                       "a CSV file",
	"/portal/transactions/rows":               "an htmx partial of /portal/transactions",
	"/portal/transactions.csv":                "a CSV file",
	"/portal/budgets/spend.json":              "JSON for the chart",
	"/portal/budgets/spend.csv":               "a CSV file",
	"/portal/invoices/:id/pdf":                "a PDF file",
	"/portal/bills/:id":                       "needs a bill, which needs a billing day to pass (web/portal_bills_browser_test.go opens it at 390 px)",
	"/portal/statements/:account/:month/pdf":  "a PDF file",
	"/portal/statements/:account/:month/xlsx": "an Excel workbook",
	"/admin/audit.csv":                        "a CSV file",
	"/admin/reports.csv":                      "a CSV file",
	"/admin/analytics.csv":                    "a CSV file",
	"/admin/analytics.json":                   "JSON for the charts",
	"/admin/journal.csv":                      "a CSV file",
	"/admin/margins.csv":                      "a CSV file",
	"/admin/invoices/pdf":                     "a PDF file",
	"/admin/kyc/licence":                      "the uploaded licence image",
	"/admin/totp/qr.png":                      "an image",
	"/admin/statements/lines/:id/customers":   "an htmx partial of /admin/statements",
}

// rawCodesAnyLanguage are codes no page may show in either language: the
// ledger's sources and references, reason codes, actor references. They
// are not words in any language, so a match is a leak (the page walk in
// page_walk_test.go and the customer tests scan for them too). An element
// marked data-code shows a code on purpose and is left out of the scans.
var rawCodesAnyLanguage = regexp.MustCompile(`payment_order:|payment_refund:|signup_credit|\bgrant:\d|\bbank_line:\d|manual_recharge|outage_compensation|\buser:\d+|\bstaff:\d+|\btopup(_bonus)?\b|\bredemption_(code|batch)\b|\bverification_bonus\b|\bsales_promotion\b|\bapi_transfer\b|\brefund_request\b`)

// rawCodesOwnData are channel codes, any snake_case token (a code no
// label was found for) and any reference as stored, a lower-case prefix and
// a number ("approval:12", "subscription:3": a source no label names). Only
// the phone walk, whose database holds nothing but the text it typed, scans
// for them: another test's file name or note could hold one.
var rawCodesOwnData = regexp.MustCompile(`\b(wechat|alipay|bank_transfer)\b|\b[a-z]+(_[a-z]+)+\b|\b[a-z]+(_[a-z]+)*:\d`)

// rawCodesChinese are codes that are English words: states, lot kinds,
// event types and their reasons, and actors (system, provider). A Chinese page shows none of them (the English page may use
// the word in a sentence).
var rawCodesChinese = regexp.MustCompile(`\b(completed|purchase|active|pending|paid|refunded|expired|promo|failed|cancelled|canceled|approved|rejected|revoked|issued|requested|individual|enterprise|paused|signed|terminated|succeeded|skipped|ended|scheduled|superseded|monthly|yearly|grace|feature|credits|percent|verified|system|provider)\b`)

// phoneCheck lists the elements of the page whose box leaves a 390 px
// viewport, except inside a scroll area (data-scroll="x"), the scroll
// areas that scroll without their hint (the edge shadow app.css gives
// every [data-scroll="x"], and a [data-scroll-hint] caption next to it),
// and the tables left empty without a word.
const phoneCheck = `(() => {
  const vw = window.innerWidth;
  const out = [];
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.getAttribute("data-testid")) s += "[data-testid=" + el.getAttribute("data-testid") + "]";
    if (typeof el.className === "string" && el.className.trim()) s += "." + el.className.trim().split(/\s+/).join(".");
    const text = (el.innerText || el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    const path = [];
    for (let p = el.parentElement; p && p !== document.body && path.length < 3; p = p.parentElement) {
      path.unshift(p.tagName.toLowerCase() + (p.getAttribute("data-testid") ? "[" + p.getAttribute("data-testid") + "]" : ""));
    }
    return path.join(">") + ">" + s + " \"" + text + "\"";
  };
  // Inside a scroll area, and inside an SVG drawing (clipped to its own
  // box, as the usage chart's scrolling legend), only the area or the
  // drawing itself must fit.
  // A visually hidden element (clipped to nothing, like a card table's
  // header kept for screen readers) is not seen either.
  const contained = (el) => {
    const area = el.closest('[data-scroll="x"], svg');
    if (area && area !== el) return true;
    for (let p = el; p && p !== document.body; p = p.parentElement) {
      const cs = getComputedStyle(p);
      if (cs.clip !== "auto" && cs.clip !== "" || cs.clipPath !== "none") return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (contained(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    if (r.right > vw + 0.5 || r.left < -0.5) {
      out.push("leaves the screen (" + Math.round(r.left) + ".." + Math.round(r.right) + " px): " + name(el));
      if (out.length >= 10) break;
    }
  }
  // Text overflowing its element (white-space: nowrap) is not in the
  // element's box: measure the text itself.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let n = walker.nextNode(); n && out.length < 20; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || contained(el) || el.matches('[data-scroll="x"], svg')) continue;
    range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === "hidden") continue;
    if (r.right > vw + 0.5 || r.left < -0.5) {
      out.push("text leaves the screen (" + Math.round(r.left) + ".." + Math.round(r.right) + " px): " + name(el));
    }
  }
  for (const el of document.querySelectorAll('[data-scroll="x"]')) {
    if (el.scrollWidth <= el.clientWidth + 1) continue;
    const shadow = getComputedStyle(el).backgroundImage.includes("gradient");
    const hint = el.querySelector("[data-scroll-hint]") || (el.previousElementSibling && el.previousElementSibling.matches("[data-scroll-hint]") ? el.previousElementSibling : null);
    const shown = hint && hint.getBoundingClientRect().height > 0;
    if (!shadow || !shown) out.push("scrolls sideways without its hint: " + name(el));
  }
  // An empty list says so in words: a table whose body holds no text is a
  // header over nothing.
  for (const el of document.querySelectorAll("table")) {
    if (!el.checkVisibility() || !el.tBodies.length) continue;
    if (Array.from(el.tBodies).every((b) => !b.textContent.trim())) out.push("a table with no rows and no words for it: " + name(el));
  }
  if (document.documentElement.scrollWidth > vw) out.push("the page is " + document.documentElement.scrollWidth + " px wide");
  return out;
})()`

// visibleText is the page's text as a reader sees it, without the elements
// that show a code on purpose (data-code: the reason code list where admins
// manage the codes, the audit row's stored detail).
const visibleText = `(() => {
  const marked = Array.from(document.querySelectorAll("[data-code]"));
  marked.forEach((el) => el.setAttribute("hidden", ""));
  const text = document.body.innerText;
  marked.forEach((el) => el.removeAttribute("hidden"));
  return text;
})()`

// TestPhoneWalkEveryPageFitsAndShowsNoCodes: a customer (an enterprise
// owner) with rows in every list — usage, transactions, paid and pending
// orders by WeChat Pay, Alipay and bank transfer, an invoice request and a
// saved title, a refund request, a redeemed code, a support grant and a
// resolved bank line, sub-accounts — and a staff member holding every role
// open every GET page of the portal and the back office (taken from the
// server's routes, so a new page is walked without touching this test) on
// a 390×844 phone in Chinese and in English. No element's box leaves the
// screen except inside a marked scroll area (data-scroll="x", which then
// shows its hint), no page shows templ source or a raw code (source,
// reference, reason, state) in its text, and every page is screenshotted
// into testdata-artifacts.
func TestPhoneWalkEveryPageFitsAndShowsNoCodes(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine. A database of
	// its own: the back-office lists (customers, audit, approvals) then hold
	// this test's rows only, not words other tests typed.
	b := &refundBundle{}
	b.payBundle = setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, func(_ *payBundle, a *app.App) {
		b.inv, b.bo = a.Invoicing, a.Backoffice
	})
	ctx := context.Background()
	a := b.app.Services
	_, err := a.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	// The plan catalogue (its pages, the portal's comparison), with a draft
	// waiting on one plan (the editor).
	_, err = a.Plans.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	_, err = a.Plans.OpenDraft(ctx, "basic", "test")
	require.NoError(t, err)
	// The product catalogue likewise, a draft waiting on one product.
	_, err = a.Products.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	_, err = a.Products.OpenDraft(ctx, "batch-api", "test")
	require.NoError(t, err)

	// Staff: one holding every role walks the back office; a support
	// member's grant over the limit waits for approval.
	const staffPW = "staff password 1"
	adminEmail := uniqEmail("walk-admin")
	admin, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: adminEmail, Password: staffPW, Name: "走查管理员", Roles: auth.AllRoles})
	require.NoError(t, err)
	support, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: uniqEmail("walk-support"), Password: staffPW, Name: "走查客服", Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)
	staff := webtest.NewClient(t, b.app.URL)
	staff.Get("/signin")
	require.Equal(t, http.StatusOK, staff.PostForm("/signin", url.Values{"login": {adminEmail}, "password": {staffPW}}).Status)

	// The customer: an enterprise owner, verified.
	login := uniqEmail("walk-customer")
	c, u := b.register(t, login, "走查客户")
	acc := b.enterprise(t, u.ID, "上海走查智能科技有限公司")
	_, err = b.verify.MarkVerifiedExternally(ctx, acc, "walk-"+login, "test")
	require.NoError(t, err)
	// A plan whose renewal is due (its term ends within the lead days): the
	// plan page shows the renewal order and its form.
	_, _, err = a.Subscriptions.Subscribe(ctx, plans.SubscribeRequest{AccountID: acc, PlanCode: "standard", Cycle: plans.Monthly,
		Anchor: time.Now().UTC().AddDate(0, 0, -27), Actor: "test"})
	require.NoError(t, err)
	_, err = a.Subscriptions.RenewalOffer(ctx, acc)
	require.NoError(t, err)

	// Orders: paid by WeChat Pay, Alipay and bank transfer; waiting by
	// Alipay and bank transfer.
	wx := b.payQR(t, c, acc, "10000", payments.ChannelWeChat)
	b.payQR(t, c, acc, "3000", payments.ChannelAlipay)
	transfer := b.payTransfer(t, acc, 300000)
	p := c.PostForm("/portal/topup", topUpForm("30000", "", string(payments.ChannelAlipay)))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	_, err = b.pay.CreateTransferOrder(ctx, acc, 123456)
	require.NoError(t, err)

	// Usage over two days and models, with sessions.
	for i, m := range []string{"deepseek-chat", "deepseek-reasoner", "deepseek-chat", "qwen-max-longcontext-2025-01-25"} {
		b.charge(t, acc, fmt.Sprintf("walk-%d", i), m, fmt.Sprintf("sess-walk-%d", i%2), fmt.Sprint(120*(i+1)), int64(12000*(i+1)), int64(300*(i+1)))
	}

	// A refund request, an invoice request (with a saved special title),
	// low-balance alerts, a sub-account.
	c.Get("/portal/orders")
	p = c.PostForm("/portal/orders/"+wx.OrderNo+"/refund", refundForm("10", "项目取消，申请退回未用部分"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	c.Get("/portal/invoices")
	p = c.PostForm("/portal/invoices", merge(url.Values{"kind": {"special"}, "title_id": {"new"}, "save_title": {"1"}, "email": {"finance@example.com"},
		"order": {fmt.Sprint(transfer.ID)}, "amount_" + fmt.Sprint(transfer.ID): {"1500"}}, specialTitle("上海走查智能科技有限公司", newCreditCode(t))))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("flash-success"), p.Body)
	c.Get("/portal/alerts")
	p = c.PostForm("/portal/alerts", url.Values{"percents": {"50, 10"}, "credits": {"1,000"}, "recipients": {"ops@example.com, fin@example.com"}, "mail_owner": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	c.Get("/portal/accounts")
	p = c.PostForm("/portal/accounts", url.Values{"name": {"研发部"}, "allocation": {"20,000"}, "rpm": {"60"}, "tpm": {"100000"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)

	// A webhook endpoint with one delivery that failed and one that got
	// through (the back office's webhook desk lists and opens it).
	hook, _, err := a.Webhooks.CreateEndpoint(ctx, acc, "https://hooks.walk-platform.example.com/credits/events")
	require.NoError(t, err)
	_, err = a.Pool.Exec(ctx, `
INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, attempt, status_code, error, next_attempt_at, delivered_at,
                                request_headers, response_body, duration_ms)
VALUES ($1, 'evt_walk_1', 'balance.low', '{"id": "evt_walk_1", "type": "balance.low", "created_at": "2026-12-06T02:00:00Z", "data": {"available": "120.5"}}',
        1, 503, 'webhook: endpoint answered 503: busy', now() + interval '1 minute', NULL,
        '{"Content-Type": "application/json", "Credits-Event-Id": "evt_walk_1", "Credits-Signature": "t=1796522400,v1=4f9a0c3e5b7d9f1a2c4e6a8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f"}', 'busy', 10004),
       ($1, 'evt_walk_1', 'balance.low', '{"id": "evt_walk_1", "type": "balance.low", "created_at": "2026-12-06T02:00:00Z", "data": {"available": "120.5"}}',
        2, 200, NULL, NULL, now(),
        '{"Content-Type": "application/json", "Credits-Event-Id": "evt_walk_1", "Credits-Signature": "t=1796522460,v1=0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f4f9a0c3e5b7d9f1a2c4e6a8b0d2f4a6c8e"}', 'ok', 38)`, hook.ID)
	require.NoError(t, err)

	// A one-time product bought by QR: its entitlement on the products
	// page, its order (with the refund offer) among the orders.
	p = c.PostForm("/portal/products/buy", url.Values{"product": {"deepseek-pack"}, "channel": {string(payments.ChannelWeChat)}, "mode": {"qr"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	productOrder := path.Base(p.URL.Path)
	_, err = b.sim.Confirm(ctx, string(payments.ChannelWeChat), productOrder)
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, b.order(t, productOrder).State)

	// Auto top-up: an agreement signed with Alipay (its signing notify
	// applied as the channel's would be), its settings saved, then paused,
	// so the page shows the agreement, the rule and a history.
	sg, err := a.AutoTopUp.StartSigning(ctx, acc, payments.ChannelAlipay, "走查客户", autotopup.Actor{}, b.app.URL+"/portal/auto-topup")
	require.NoError(t, err)
	require.NoError(t, a.AutoTopUp.ApplyAgreementEvent(ctx, payments.AgreementEvent{Channel: payments.ChannelAlipay,
		AgreementNo: sg.Agreement.AgreementNo, ContractID: "walk-contract", Signed: true}))
	p = c.Get("/portal/auto-topup")
	tier := p.Doc.Find(`[data-testid="autotopup-tier"] option`).First().AttrOr("value", "")
	require.NotEmpty(t, tier, p.Body)
	p = c.PostForm("/portal/auto-topup/settings", url.Values{"mode": {"credits"}, "threshold": {"1,000"}, "tier": {tier}, "monthly_cap": {"500"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	p = c.PostForm("/portal/auto-topup/pause", nil)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.Doc.Find(`[data-testid="autotopup-history-paused"]`).Nodes, p.Body)

	// Support grants: one applies, one over the limit waits; one more is
	// approved so the queue has handled rows too.
	expires := time.Now().AddDate(0, 1, 0)
	for i, amount := range []int64{500, 60000, 70000} {
		_, err = b.bo.Grant(ctx, backoffice.GrantRequest{AccountID: acc, Amount: decimal.NewFromInt(amount), ExpiresAt: expires,
			ReasonCode: "outage_compensation", Note: "接口故障补偿", Actor: backoffice.Actor{User: support}, IdempotencyKey: fmt.Sprintf("walk-grant-%d", i)})
		require.NoError(t, err)
	}
	pending, err := b.bo.Approvals(ctx, backoffice.ApprovalFilter{AccountID: acc, State: backoffice.ApprovalPending})
	require.NoError(t, err)
	require.Len(t, pending, 2)
	staff.Get("/admin/approvals")
	require.Equal(t, http.StatusOK, staff.PostForm(fmt.Sprintf("/admin/approvals/%d/approve", pending[0].ID), nil).Status)

	// A redeemed code.
	staff.Get("/admin/codes")
	p = staff.PostForm("/admin/codes", url.Values{"campaign": {"双十二活动"}, "amount": {"300"}, "count": {"2"}, "lot_days": {"30"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	codes := p.Doc.Find(`[data-testid="code"]`).Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	require.Len(t, codes, 2)
	c.Get("/portal/redeem")
	require.NotEmpty(t, c.PostForm("/portal/redeem", url.Values{"code": {codes[0]}}).TestID("redeem-done"))

	// A bank statement: one line credited to the customer by finance, one
	// waiting in the unmatched queue.
	serial := fmt.Sprintf("WALK%d", time.Now().UnixNano())
	_, err = b.bo.ImportStatement(ctx, strings.NewReader(statement(
		[4]string{serial + "1", "上海走查智能科技有限公司", "880.00", "货款"},
		[4]string{serial + "2", "北京某某信息技术有限公司", "1234.56", "服务费"},
	)), "walk.csv", "110", backoffice.Actor{User: admin})
	require.NoError(t, err)
	lines, err := b.bo.UnmatchedLines(ctx, serial+"1", 10, backoffice.Actor{User: admin})
	require.NoError(t, err)
	require.Len(t, lines, 1)
	staff.Get("/admin/statements")
	p = staff.PostForm(fmt.Sprintf("/admin/statements/lines/%d/resolve", lines[0].ID), url.Values{"account_id": {fmt.Sprint(acc)}, "note": {"客户来电确认"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)

	// A WeChat Pay bill whose rows our orders do not all match: the
	// channel page lists the differences.
	bill, err := os.Open("../internal/reconcile/testdata/wechat_all.csv")
	require.NoError(t, err)
	defer bill.Close()
	imported, err := b.bo.ImportChannelBill(ctx, bill, "weixin-20240305.csv", backoffice.Actor{User: admin})
	require.NoError(t, err)
	require.NotEmpty(t, imported.Differences)

	// Finance approves a refund request of another customer (a handled
	// row), and a company waits in the verification queue.
	other, otherAcc := b.customer(t, uniqEmail("walk-other"), true)
	otherOrder := b.payQR(t, other, otherAcc, "10000", payments.ChannelWeChat)
	other.Get("/portal/orders")
	require.Equal(t, http.StatusOK, other.PostForm("/portal/orders/"+otherOrder.OrderNo+"/refund", refundForm("20", "不再需要")).Status)
	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: otherAcc})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	staff.Get("/admin/refunds")
	require.Equal(t, http.StatusOK, staff.PostForm(fmt.Sprintf("/admin/refunds/%d/approve", reqs[0].ID), nil).Status)
	reviewed, _ := b.register(t, uniqEmail("walk-review"), "待审客户")
	reviewed.Get("/portal/verification")
	p = reviewed.PostForm("/portal/verification/person", url.Values{"name": {"钱七"}, "id_number": {undecidedPersonID(t)}, "consent_sensitive_pi": {"yes"}})
	require.Equal(t, "pending", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"), p.Body)

	// Service keys.
	staff.Get("/admin/keys")
	for _, k := range []struct{ name, mode string }{{"走查沙箱密钥", "test"}, {"production gateway", "live"}} {
		require.Equal(t, http.StatusOK, staff.PostForm("/admin/keys", url.Values{"name": {k.name}, "mode": {k.mode}}).Status)
	}
	// The gateway: an API key with a project, a model list, a monthly
	// budget and an expiry, one revoked; an upstream (its edit page).
	c.Get("/portal/keys")
	for _, name := range []string{"走查搜索机器人", "old-key"} {
		p = c.PostForm("/portal/keys", url.Values{"name": {name}, "project": {"搜索"}, "models": {"deepseek-chat", "qwen-max"},
			"budget": {"2,000"}, "budget_unit": {"credits"}, "expires_on": {time.Now().AddDate(0, 2, 0).Format("2006-01-02")}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
	}
	oldKey := p.Doc.Find(`[data-testid="apikey-row"]`).First().AttrOr("data-key", "")
	require.Equal(t, http.StatusOK, c.PostForm("/portal/keys/"+oldKey+"/revoke", nil).Status)
	staff.Get("/admin/upstreams")
	p = staff.PostForm("/admin/upstreams", url.Values{"name": {"深度求索官方"}, "base_url": {"https://api.deepseek.com/v1"}, "secret": {"sk-walk"},
		"models": {"deepseek-chat=deepseek-v3\ndeepseek-reasoner"}, "weight": {"2"}, "priority": {"0"}, "timeout_ms": {"60000"}, "enabled": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(1), IdempotencyKey: "walk-last"})
	require.NoError(t, err)

	// Codes read as names: a grant's reason code in the approvals queue and
	// the audit log, the customer who asked for an invoice in its history.
	p = staff.Get("/admin/approvals")
	require.Contains(t, p.Text(fmt.Sprintf(`[data-testid="approval-%d"]`, pending[1].ID)), "故障补偿 · ")
	p = staff.Get("/admin/audit")
	require.Contains(t, p.Text(`[data-testid="audit-reason"]`), "故障补偿: 接口故障补偿")
	detail := staff.Get("/admin/invoices").Doc.Find(`a[href^="/admin/invoices/detail?id="]`).First().AttrOr("href", "")
	require.NotEmpty(t, detail)
	require.Contains(t, staff.Get(detail).Text(`[data-testid="invoice-history"]`), "客户（用户） #", "the customer who asked, named")

	pages := phoneWalkPages(t, b.app, c, staff)
	t.Logf("walking %d pages: %v", len(pages), pages)

	bctx := webtest.Browser(t, 600*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	signIn := func(login, password string) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/signin"),
			chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
			chromedp.SendKeys(css(`#f-login`), login),
			chromedp.SendKeys(css(`#f-password`), password),
			chromedp.Click(css(`[data-testid="signin-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		))
	}
	require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)))
	var problems []string
	walk := func(who string) {
		for _, lang := range []string{"zh-CN", "en"} {
			require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang)))
			for _, pg := range pages {
				if pg.who != who {
					continue
				}
				require.NoError(t, chromedp.Do(bctx,
					chromedp.Navigate(b.app.URL+pg.path),
					chromedp.WaitReady(css(`body`)),
					chromedp.Sleep(150*time.Millisecond), // htmx's load triggers
				))
				where := lang + " " + pg.path
				bad, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](phoneCheck))
				require.NoError(t, err)
				for _, s := range bad {
					problems = append(problems, where+": "+s)
				}
				webtest.Screenshot(t, bctx, shotName(lang, pg.path))
				text, err := chromedp.Run(bctx, chromedp.Evaluate[string](visibleText))
				require.NoError(t, err)
				for _, m := range append(rawCodesAnyLanguage.FindAllString(text, 3), rawCodesOwnData.FindAllString(text, 3)...) {
					problems = append(problems, where+": shows the raw code "+m+" in «"+around(text, m)+"»")
				}
				if lang == "zh-CN" {
					for _, m := range rawCodesChinese.FindAllString(text, 3) {
						problems = append(problems, where+": shows the raw code "+m+" in «"+around(text, m)+"»")
					}
				}
				for _, leak := range templLeaks {
					if strings.Contains(text, leak) {
						problems = append(problems, where+": prints templ source "+leak)
					}
				}
			}
		}
	}
	walk("visitor")
	signIn(login, "correct horse 1")
	walk("customer")
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="signout"]`)), chromedp.WaitNotPresent(css(`[data-testid="signout"]`))))
	signIn(adminEmail, staffPW)
	walk("staff")
	require.Empty(t, problems, "pages that do not fit a 390 px phone or show raw codes:\n%s", strings.Join(problems, "\n"))
}

// phoneWalkPage is one page to open and who opens it: "visitor" (signed
// out), "customer" or "staff".
type phoneWalkPage struct {
	path string
	who  string
}

func (p phoneWalkPage) String() string { return p.path }

// phoneWalkPages lists the pages of every GET route of the portal and the
// back office not in phoneWalkSkip. A route with parameters, or one that
// needs an ?id, is opened through the links the other pages hold to it (up
// to eight of them: an order waiting and one paid, …); a route no page
// links to fails the test, since the walk would miss it. Every page must
// answer HTML without templ source, in both languages.
func phoneWalkPages(t *testing.T, app *webtest.App, customer, staff *webtest.Client) []phoneWalkPage {
	t.Helper()
	visitor := webtest.NewClient(t, app.URL)
	whoOf := func(path string) string {
		switch {
		case strings.HasPrefix(path, "/admin"):
			return "staff"
		case strings.HasPrefix(path, "/portal"):
			return "customer"
		}
		return "visitor"
	}
	clientOf := func(path string) *webtest.Client {
		return map[string]*webtest.Client{"staff": staff, "customer": customer, "visitor": visitor}[whoOf(path)]
	}
	var plain, linked []string
	seen := map[string]bool{}
	for _, rt := range app.Server.Echo.Routes() {
		if rt.Method != http.MethodGet || seen[rt.Path] {
			continue
		}
		seen[rt.Path] = true
		if strings.HasPrefix(rt.Path, "/v1/") || strings.HasPrefix(rt.Path, "/api/") {
			continue
		}
		if _, skip := phoneWalkSkip[rt.Path]; skip {
			continue
		}
		if strings.ContainsAny(rt.Path, ":*") {
			linked = append(linked, rt.Path)
		} else {
			plain = append(plain, rt.Path)
		}
	}
	sort.Strings(plain)
	sort.Strings(linked)

	// Open the plain pages; collect their links.
	hrefs := map[string]bool{}
	var pages []phoneWalkPage
	check := func(path string, p *webtest.Page) {
		t.Helper()
		require.Equal(t, http.StatusOK, p.Status, "%s: %s", path, p.Body)
		require.Contains(t, p.Header.Get("Content-Type"), "text/html", "%s is not a page: add it to phoneWalkSkip with its reason", path)
		for _, leak := range templLeaks {
			require.NotContains(t, p.Body, leak, "%s prints templ source", path)
		}
	}
	for _, path := range plain {
		c := clientOf(path)
		p := c.Get(path)
		if p.Status == http.StatusBadRequest {
			linked = append(linked, path) // needs an ?id= from a link
			continue
		}
		check(path, p)
		pages = append(pages, phoneWalkPage{path: path, who: whoOf(path)})
		p.Doc.Find("a[href]").Each(func(_ int, s *goquery.Selection) {
			h := s.AttrOr("href", "")
			if strings.HasPrefix(h, "/") && !strings.HasPrefix(h, "//") {
				hrefs[h] = true
			}
		})
	}
	all := make([]string, 0, len(hrefs))
	for h := range hrefs {
		all = append(all, h)
	}
	sort.Strings(all)

	for _, route := range linked {
		pattern := regexp.MustCompile(`^` + regexp.MustCompile(`:[a-z_]+`).ReplaceAllString(regexp.QuoteMeta(route), `[^/?#]+`) + `(\?.*)?$`)
		var found []string
		for _, h := range all {
			u, err := url.Parse(h)
			require.NoError(t, err)
			if pattern.MatchString(h) && (strings.Contains(route, ":") || u.RawQuery != "") && u.Path != route+"/" {
				found = append(found, h)
			}
			if len(found) == 8 {
				break
			}
		}
		require.NotEmpty(t, found, "no page links to %s: give the walk data for it, or skip it in phoneWalkSkip with its reason", route)
		for _, h := range found {
			c := clientOf(h)
			check(h, c.Get(h))
			pages = append(pages, phoneWalkPage{path: h, who: whoOf(h)})
		}
	}
	// The same pages in English.
	for _, c := range []*webtest.Client{visitor, customer, staff} {
		c.Get("/lang/en")
	}
	for _, pg := range pages {
		check(pg.path, clientOf(pg.path).Get(pg.path))
	}
	for _, c := range []*webtest.Client{visitor, customer, staff} {
		c.Get("/lang/zh-CN")
	}
	require.Greater(t, len(pages), 30, "the walk found too few pages")
	return pages
}

// around is the text near the first match of m, for the failure message.
func around(text, m string) string {
	i := strings.Index(text, m)
	from, to := max(0, i-30), min(len(text), i+len(m)+30)
	return strings.Join(strings.Fields(strings.ToValidUTF8(text[from:to], "")), " ")
}

// shotName is the screenshot's name for a page: the path without its
// punctuation.
func shotName(lang, path string) string {
	clean := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(strings.Trim(path, "/"), "-")
	if clean == "" {
		clean = "home"
	}
	return "390-" + lang + "-" + clean
}

// TestPhoneWalkNewCustomerSeesWordsNotEmptyTables: a customer who has just
// signed up, with nothing in any list, opens every portal page that needs
// no parameter on a 390×844 phone in Chinese and in English. Every empty
// list says so in words (no table header over an empty body), nothing
// leaves the screen and no raw code shows: the full walk above has rows
// everywhere, so it cannot see the pages a new customer sees first.
func TestPhoneWalkNewCustomerSeesWordsNotEmptyTables(t *testing.T) {
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, nil)
	login := uniqEmail("walk-new")
	b.register(t, login, "新客户")
	bctx := webtest.Browser(t, 300*time.Second)
	webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
	problems := walkEmptyPages(t, bctx, b.app, "/portal", "new-")
	require.Empty(t, problems, "pages a new customer sees:\n%s", strings.Join(problems, "\n"))
}

// TestPhoneWalkEmptyBackOfficeSaysSo: the back office of a platform on its
// first day — a database with nothing but the staff member, who holds every
// role — opened page by page on a 390×844 phone in Chinese and in English.
// Every empty list says so in words, nothing leaves the screen, no raw code
// shows, and no Chinese page shows an English state word. The full walk has
// rows everywhere, so it cannot see these pages.
func TestPhoneWalkEmptyBackOfficeSaysSo(t *testing.T) {
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, nil)
	const staffPW = "staff password 1"
	email := uniqEmail("walk-empty-admin")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: staffPW, Name: "首日管理员", Roles: auth.AllRoles})
	require.NoError(t, err)
	bctx := webtest.Browser(t, 300*time.Second)
	webtest.SignIn(t, bctx, b.app.URL, email, staffPW)
	problems := walkEmptyPages(t, bctx, b.app, "/admin", "empty-admin-")
	require.Empty(t, problems, "back-office pages on an empty database:\n%s", strings.Join(problems, "\n"))
}

// walkEmptyPages opens, in both languages, every GET page under prefix that
// needs no parameter (taken from the server's routes, less phoneWalkSkip)
// and returns what the phone check and the raw-code scans found on each.
// The database holds nothing but the signed-in user, so any snake_case word
// or stored reference on a page is a code, and an English state word on a
// Chinese page is one too.
func walkEmptyPages(t *testing.T, bctx context.Context, srv *webtest.App, prefix, shotPrefix string) []string {
	t.Helper()
	var paths []string
	for _, rt := range srv.Server.Echo.Routes() {
		_, skip := phoneWalkSkip[rt.Path]
		if rt.Method == http.MethodGet && strings.HasPrefix(rt.Path, prefix) && !strings.ContainsAny(rt.Path, ":*") && !skip {
			paths = append(paths, rt.Path)
		}
	}
	sort.Strings(paths)
	paths = slices.Compact(paths)
	require.Greater(t, len(paths), 20, "the walk found too few pages under %s", prefix)

	var problems []string
	for _, lang := range []string{"zh-CN", "en"} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/lang/"+lang)))
		for _, p := range paths {
			require.NoError(t, chromedp.Do(bctx,
				chromedp.Navigate(srv.URL+p),
				chromedp.WaitReady(chromedp.CSS(`body`)),
				chromedp.Sleep(150*time.Millisecond), // htmx's load triggers
			))
			where := lang + " " + p
			bad, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](phoneCheck))
			require.NoError(t, err)
			for _, s := range bad {
				problems = append(problems, where+": "+s)
			}
			text, err := chromedp.Run(bctx, chromedp.Evaluate[string](visibleText))
			require.NoError(t, err)
			found := append(rawCodesAnyLanguage.FindAllString(text, 3), rawCodesOwnData.FindAllString(text, 3)...)
			if lang == "zh-CN" {
				found = append(found, rawCodesChinese.FindAllString(text, 3)...)
			}
			for _, m := range found {
				problems = append(problems, where+": shows the raw code "+m+" in «"+around(text, m)+"»")
			}
			webtest.Screenshot(t, bctx, shotPrefix+shotName(lang, p))
		}
	}
	return problems
}
