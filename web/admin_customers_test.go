package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// rawCodes are codes the customer pages label; a cell that reads exactly
// one printed the code instead of its label.
var rawCodes = map[string]bool{}

func init() {
	for _, c := range []string{
		"individual", "enterprise", "sub", "live", "test", "active", "frozen",
		"unverified", "pending", "verified", "rejected",
		"paid", "promo", "plan", "grace",
		"purchase", "grant", "deduction", "reservation", "reservation_release", "reservation_expired_charge",
		"refund", "expiry", "adjustment", "transfer", "unpaid_usage", "allocation", "status",
		"wechat", "alipay", "bank_transfer", "created", "closed", "failed", "needs_review", "partially_refunded", "refunded",
		"requested", "issued", "reversed", "reissued", "special", "ordinary", "goodwill", "signup_credit",
	} {
		rawCodes[c] = true
	}
}

// requireNoRawCodes fails when a table cell, badge or fact of the page
// reads as a bare code, or its text holds a raw ledger source.
func requireNoRawCodes(t *testing.T, p *webtest.Page, what string) {
	t.Helper()
	p.Doc.Find("main td, main .badge, main dd, main option").Each(func(_ int, s *goquery.Selection) {
		text := strings.TrimSpace(s.Text())
		require.False(t, rawCodes[text], "%s shows the raw code %q", what, text)
	})
	text := p.Doc.Find("body").Text()
	require.Empty(t, rawCodesAnyLanguage.FindAllString(text, -1), "%s shows a raw code", what)
}

// customerFixture is a small back office: an individual with a paid order,
// an invoice request, usage and a support grant; an enterprise with two
// sub-accounts; a frozen customer. Every name holds tok.
type customerFixture struct {
	tok                            string
	person, ent, frozen, sub, sub2 int64
	// owned is the enterprise owner's sign-up account, left behind when
	// the owner moved to the enterprise.
	owned       int64
	personLogin string
	order       payments.Order
	invoice     int64
}

func newCustomerFixture(t *testing.T, b *adminBundle) customerFixture {
	t.Helper()
	ctx := context.Background()
	f := customerFixture{tok: strings.TrimSuffix(uniqEmail("cf"), "@example.com")}
	f.personLogin = f.tok + "-person@example.com"
	_, person := b.register(t, f.personLogin, f.tok+" 张三")
	f.person = person.AccountID
	b.charge(t, f.person, f.tok+"-c1", "deepseek-chat", "sess-"+f.tok, "120", 12000, 300)
	o, err := b.payments.CreateTransferOrder(ctx, f.person, 30000)
	require.NoError(t, err)
	tx, err := b.app.Pool.Begin(ctx)
	require.NoError(t, err)
	f.order, err = b.payments.CompleteTransferOrder(ctx, tx, o.ID, "STMT-"+o.OrderNo, "test")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	inv, err := b.app.Services.Invoicing.RequestInvoice(ctx, f.person, invoicing.Request{Kind: invoicing.KindOrdinary, Email: f.personLogin, RequestedBy: "test",
		Items: []invoicing.ItemRequest{{OrderID: f.order.ID}}, Title: &invoicing.TitleInput{Type: invoicing.TitleCompany, Name: "上海测试智能有限公司", TaxID: newCreditCode(t)}})
	require.NoError(t, err)
	f.invoice = inv.ID

	_, owner := b.register(t, f.tok+"-owner@example.com", f.tok+" 企业主")
	f.owned = owner.AccountID
	f.ent = b.enterprise(t, owner.ID, f.tok+" 示例科技")
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: f.ent, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(8000), IdempotencyKey: f.tok + "-ent"})
	require.NoError(t, err)
	sub, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: f.ent, Name: f.tok + " 研发部"})
	require.NoError(t, err)
	f.sub = sub.ID
	alloc := decimal.NewFromInt(2000)
	require.NoError(t, b.ledger.SetAllocation(ctx, sub.ID, &alloc, "test", "test"))
	sub2, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: f.ent, Name: f.tok + " 市场部"})
	require.NoError(t, err)
	f.sub2 = sub2.ID

	_, frozen := b.register(t, f.tok+"-frozen@example.com", f.tok+" 冻结")
	f.frozen = frozen.AccountID
	admin := b.staffUser(t, auth.RoleAdmin)
	require.NoError(t, b.bo.Freeze(ctx, f.frozen, "风控核查", admin))
	return f
}

// staffUser is a staff member as the back office's actor, without signing in.
func (b *adminBundle) staffUser(t *testing.T, roles ...auth.Role) backoffice.Actor {
	t.Helper()
	u, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: uniqEmail("actor"), Password: "staff password 1", Name: "Actor", Roles: roles})
	require.NoError(t, err)
	return backoffice.Actor{User: u}
}

func rowIDs(p *webtest.Page) []string {
	var out []string
	p.Doc.Find(`[data-testid="customer-results"] tbody tr`).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-testid")
		out = append(out, id)
	})
	return out
}

func TestAdminCustomerListFiltersInBothLanguages(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	f := newCustomerFixture(t, b)
	row := func(id int64) string { return fmt.Sprintf("customer-%d", id) }
	list := func(c *webtest.Client, q url.Values) *webtest.Page {
		t.Helper()
		q.Set("q", f.tok)
		p := c.Get("/admin/customers?" + q.Encode())
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		return p
	}

	for _, role := range auth.AllRoles {
		c := b.staff(t, "cust-"+string(role), role)
		p := list(c, url.Values{})
		require.Equal(t, []string{row(f.frozen), row(f.sub2), row(f.sub), row(f.ent), row(f.owned), row(f.person)}, rowIDs(p),
			"%s sees every match newest first, sub-accounts too when searching", role)
	}

	support := b.staff(t, "cust-lang", auth.RoleSupport)
	for _, lang := range []struct {
		code                                   string
		individual, enterprise, active, frozen string
		unverified, verified, sortNote         string
	}{
		{"zh-CN", "个人", "企业", "正常", "已冻结", "未认证", "已认证", "按注册时间排序"},
		{"en", "Individual", "Enterprise", "Active", "Frozen", "Not verified", "Verified", "Sorted by sign-up time"},
	} {
		t.Run(lang.code, func(t *testing.T) {
			support.Header.Set("Accept-Language", lang.code)
			p := list(support, url.Values{})
			requireNoRawCodes(t, p, "the customer list")
			require.Contains(t, p.TestID("customer-order-note"), lang.sortNote)
			person := p.Doc.Find(`[data-testid="` + row(f.person) + `"]`)
			require.Equal(t, f.personLogin, strings.TrimSpace(person.Find(`[data-testid="customer-link"]`).Text()))
			require.Equal(t, lang.individual, strings.TrimSpace(person.Find(`[data-testid="customer-row-kind"]`).Text()))
			require.Equal(t, lang.active, strings.TrimSpace(person.Find(`[data-testid="customer-row-status"]`).Text()))
			require.Equal(t, lang.verified, strings.TrimSpace(person.Find(`[data-testid="customer-row-verification"]`).Text()), "charging verified it")
			ent := p.Doc.Find(`[data-testid="` + row(f.ent) + `"]`)
			require.Equal(t, lang.enterprise, strings.TrimSpace(ent.Find(`[data-testid="customer-row-kind"]`).Text()))
			require.Equal(t, "8,000", strings.TrimSpace(ent.Find(`[data-testid="customer-row-available"]`).Text()))
			frozen := p.Doc.Find(`[data-testid="` + row(f.frozen) + `"]`)
			require.Equal(t, lang.frozen, strings.TrimSpace(frozen.Find(`[data-testid="customer-row-status"]`).Text()))
			require.Equal(t, lang.unverified, strings.TrimSpace(frozen.Find(`[data-testid="customer-row-verification"]`).Text()))
			require.Equal(t, 7, p.Doc.Find(`[data-testid="customer-results"] tbody tr:first-child td[data-label]`).Length(), "every cell is labelled for the phone layout")
		})
	}
	support.Header.Set("Accept-Language", "zh-CN")

	t.Run("Filters", func(t *testing.T) {
		for _, c := range []struct {
			q    url.Values
			want []string
		}{
			{url.Values{"kind": {"enterprise"}}, []string{row(f.ent)}},
			{url.Values{"kind": {"individual"}}, []string{row(f.frozen), row(f.owned), row(f.person)}},
			{url.Values{"status": {"frozen"}}, []string{row(f.frozen)}},
			{url.Values{"verification": {"unverified"}, "kind": {"enterprise"}}, []string{row(f.ent)}},
			{url.Values{"verification": {"unverified"}, "status": {"frozen"}}, []string{row(f.frozen)}},
			{url.Values{"verification": {"verified"}}, []string{row(f.person)}},
			{url.Values{"sort": {"balance"}, "kind": {"enterprise"}}, []string{row(f.ent)}},
			// The person bought credit; the other two hold the sign-up credit (ties: newest first).
			{url.Values{"sort": {"balance"}, "kind": {"individual"}}, []string{row(f.person), row(f.frozen), row(f.owned)}},
			{url.Values{"kind": {"sub"}}, []string{row(f.sub2), row(f.sub)}},
		} {
			p := list(support, c.q)
			require.Equal(t, c.want, rowIDs(p), "%v", c.q)
			for k, v := range c.q {
				if k == "q" {
					continue
				}
				require.Equal(t, v[0], p.Doc.Find(`select[name="`+k+`"] option[selected]`).AttrOr("value", ""), "the form keeps %s", k)
			}
		}
		p := list(support, url.Values{"has_balance": {"1"}, "status": {"frozen"}})
		require.Equal(t, []string{row(f.frozen)}, rowIDs(p), "the sign-up credit is a balance")
		require.True(t, p.Doc.Find(`[data-testid="customer-has-balance"]`).Is("[checked]"))
		p = support.Get("/admin/customers?q=nobody-" + f.tok)
		require.Empty(t, rowIDs(p))
		require.NotEmpty(t, p.TestID("customer-none"))
	})

	t.Run("SearchByEachField", func(t *testing.T) {
		for _, q := range []string{f.personLogin, strings.ToUpper(f.tok + "-person"), fmt.Sprint(f.person), f.order.OrderNo, f.tok + " 张三"} {
			p := support.Get("/admin/customers?q=" + url.QueryEscape(q))
			require.Equal(t, []string{row(f.person)}, rowIDs(p), "search %q", q)
		}
	})

	t.Run("HTMXGetsTheResultsOnly", func(t *testing.T) {
		p := support.HTMX(http.MethodGet, "/admin/customers?kind=enterprise&q="+url.QueryEscape(f.tok), nil)
		require.Equal(t, http.StatusOK, p.Status)
		require.Empty(t, p.TestID("staff-bar"))
		require.Equal(t, []string{row(f.ent)}, rowIDs(p))
	})

	t.Run("BadFilterIsABadRequest", func(t *testing.T) {
		require.Equal(t, http.StatusBadRequest, support.Get("/admin/customers?kind=robot").Status)
		require.Equal(t, http.StatusBadRequest, support.Get("/admin/customers?after=garbage").Status)
	})

	t.Run("CustomersCannotSeeIt", func(t *testing.T) {
		cust, _ := b.register(t, uniqEmail("nosy"), "Nosy")
		p := cust.Get("/admin/customers")
		require.NotEqual(t, http.StatusOK, p.Status)
		require.Empty(t, p.TestID("customer-results"))
	})
}

func TestAdminCustomerPageShowsEveryListLabelled(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	f := newCustomerFixture(t, b)
	support := b.staff(t, "cpage-support", auth.RoleSupport)
	finance := b.staff(t, "cpage-finance", auth.RoleFinance)
	admin := b.staff(t, "cpage-admin", auth.RoleAdmin)
	page := func(c *webtest.Client, id int64) *webtest.Page {
		t.Helper()
		p := c.Get(fmt.Sprintf("/admin/customers/%d", id))
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		return p
	}

	for _, lang := range []struct {
		code                                string
		transfer, paid, requested, verified string
		purchase, deduction, grant, kind    string
		noLimit                             string
	}{
		{"zh-CN", "对公转账", "已支付", "待开票", "已认证", "充值", "扣费", "赠送", "个人", "不限"},
		{"en", "Bank transfer", "Paid", "", "Verified", "", "", "", "Individual", "No limit"},
	} {
		t.Run(lang.code, func(t *testing.T) {
			for _, c := range []*webtest.Client{support, finance, admin} {
				c.Header.Set("Accept-Language", lang.code)
			}
			p := page(support, f.person)
			requireNoRawCodes(t, p, "the customer page")
			require.Equal(t, lang.kind, p.TestID("customer-kind"))
			require.Contains(t, p.TestID("customer-verification"), lang.verified)
			require.NotEmpty(t, p.TestID("customer-verification-link"), "support reviews verifications")
			order := p.Doc.Find(`[data-testid="order-` + f.order.OrderNo + `"]`)
			require.Equal(t, 1, order.Length())
			require.Equal(t, "¥300.00", strings.TrimSpace(order.Find(`[data-testid="order-amount"]`).Text()))
			require.Equal(t, lang.transfer, strings.TrimSpace(order.Find(`[data-testid="order-channel"]`).Text()))
			require.Equal(t, lang.paid, strings.TrimSpace(order.Find(`[data-testid="order-state"]`).Text()))
			inv := p.Doc.Find(fmt.Sprintf(`[data-testid="invoice-%d"]`, f.invoice))
			require.Equal(t, 1, inv.Length())
			if lang.requested != "" {
				require.Equal(t, lang.requested, strings.TrimSpace(inv.Find(`[data-testid="invoice-state"]`).Text()))
			}
			require.Empty(t, inv.Find(`[data-testid="invoice-link"]`).Nodes, "support does not open invoices")
			types := p.Doc.Find(`[data-testid="event-type"]`).Map(func(_ int, s *goquery.Selection) string { return strings.TrimSpace(s.Text()) })
			require.NotEmpty(t, types)
			if lang.code == "zh-CN" {
				require.Subset(t, types, []string{lang.purchase, lang.deduction, lang.grant})
			}
			require.Empty(t, p.TestID("customer-subs"), "an individual has no sub-accounts")

			require.Empty(t, p.TestID("customer-audit-link"), "support does not read the audit log")
			fp := page(finance, f.person)
			require.Equal(t, fmt.Sprintf("/admin/audit?account=%d", f.person), fp.Doc.Find(`[data-testid="customer-audit-link"]`).AttrOr("href", ""))
			require.NotEmpty(t, fp.Doc.Find(fmt.Sprintf(`[data-testid="invoice-%d"] [data-testid="invoice-link"]`, f.invoice)).Nodes, "finance opens the invoice")
			require.Empty(t, fp.TestID("customer-verification-link"), "finance does not review verifications")

			ep := page(admin, f.ent)
			requireNoRawCodes(t, ep, "the enterprise page")
			sub := ep.Doc.Find(fmt.Sprintf(`[data-testid="sub-%d"]`, f.sub))
			require.Equal(t, "2,000", strings.TrimSpace(sub.Find(`[data-testid="sub-allocation"]`).Text()))
			require.Equal(t, "2,000", strings.TrimSpace(sub.Find(`[data-testid="sub-available"]`).Text()))
			other := ep.Doc.Find(fmt.Sprintf(`[data-testid="sub-%d"]`, f.sub2))
			require.Equal(t, lang.noLimit, strings.TrimSpace(other.Find(`[data-testid="sub-allocation"]`).Text()))
			require.Equal(t, "8,000", strings.TrimSpace(other.Find(`[data-testid="sub-available"]`).Text()))
			require.NotEmpty(t, ep.TestID("orders-none"))

			sp := page(support, f.sub)
			requireNoRawCodes(t, sp, "the sub-account page")
			require.Equal(t, fmt.Sprintf("#%d", f.ent), sp.TestID("customer-parent"))
		})
	}
}

// 50 customers a page: the next page continues after the last one shown,
// keeps the filters, and offers the way back to the first page.
func TestAdminCustomerListPages(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	ctx := context.Background()
	tok := strings.TrimSuffix(uniqEmail("pages"), "@example.com")
	var made []int64
	for i := 0; i < 53; i++ {
		acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: fmt.Sprintf("%s %02d", tok, i)})
		require.NoError(t, err)
		made = append(made, acc.ID)
	}
	support := b.staff(t, "pages-support", auth.RoleSupport)
	p := support.Get("/admin/customers?kind=enterprise&q=" + url.QueryEscape(tok))
	require.Equal(t, http.StatusOK, p.Status)
	first := rowIDs(p)
	require.Len(t, first, 50)
	require.Equal(t, fmt.Sprintf("customer-%d", made[52]), first[0], "newest first")
	require.Empty(t, p.TestID("customer-first"))
	next, ok := p.Doc.Find(`[data-testid="customer-next"]`).Attr("href")
	require.True(t, ok)
	u, err := url.Parse(next)
	require.NoError(t, err)
	require.Equal(t, "enterprise", u.Query().Get("kind"), "the next page keeps the filters")
	require.Equal(t, tok, u.Query().Get("q"))

	p = support.Get(next)
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, []string{fmt.Sprintf("customer-%d", made[2]), fmt.Sprintf("customer-%d", made[1]), fmt.Sprintf("customer-%d", made[0])}, rowIDs(p))
	require.Empty(t, p.TestID("customer-next"), "the last page")
	back, ok := p.Doc.Find(`[data-testid="customer-first"]`).Attr("href")
	require.True(t, ok)
	require.Equal(t, first, rowIDs(support.Get(back)))
}

// Sandbox (test-mode) accounts of the gateway are listed apart, and their
// page says so.
func TestAdminCustomerListSeparatesTestMode(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	ext := strings.TrimSuffix(uniqEmail("sandbox"), "@example.com")
	acc, err := b.ledger.CreateAccount(context.Background(), ledger.AccountSpec{Kind: ledger.AccountIndividual, Mode: ledger.ModeTest, ExternalID: ext, Name: "沙箱客户"})
	require.NoError(t, err)
	admin := b.staff(t, "sandbox-admin", auth.RoleAdmin)
	require.Empty(t, rowIDs(admin.Get("/admin/customers?q="+url.QueryEscape(ext))), "live is the default")
	p := admin.Get("/admin/customers?mode=test&q=" + url.QueryEscape(ext))
	require.Equal(t, []string{fmt.Sprintf("customer-%d", acc.ID)}, rowIDs(p))
	require.Equal(t, "test", p.Doc.Find(`select[name="mode"] option[selected]`).AttrOr("value", ""))
	page := admin.Get(fmt.Sprintf("/admin/customers/%d", acc.ID))
	require.Equal(t, http.StatusOK, page.Status)
	require.Equal(t, "测试", page.TestID("customer-mode"))
	require.Equal(t, ext, page.TestID("customer-external-id"))
	requireNoRawCodes(t, page, "a test-mode customer's page")
}
