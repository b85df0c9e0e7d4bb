package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

// resolveBundle is a server with an unmatched statement line from a
// verified company that forgot its reference code, the company's customer
// (with a transfer order awaiting payment) and a gateway account known by
// its external id.
type resolveBundle struct {
	*adminBundle
	finance  *webtest.Client
	lineID   int64
	company  string // the payer on the line: the customer's verified company
	customer auth.User
	order    payments.Order // the customer's open transfer order
	external ledger.Account // a gateway account with an external id
}

func setupResolve(t *testing.T) *resolveBundle {
	t.Helper()
	ctx := context.Background()
	b := &resolveBundle{adminBundle: setupAdmin(t)}
	b.finance = b.staff(t, "resolver", auth.RoleFinance)

	b.company = "丙" + strings.TrimSuffix(uniqEmail("co"), "@example.com") + "科技有限公司"
	_, b.customer = b.register(t, uniqEmail("payer"), "王小明")
	_, err := b.verify.SubmitCompany(ctx, b.customer.AccountID, b.company, newCreditCode(t), "王五", pngBytes, "licence.png")
	require.NoError(t, err)
	b.order, err = b.payments.CreateTransferOrder(ctx, b.customer.AccountID, 88000)
	require.NoError(t, err)
	b.external, err = b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual,
		ExternalID: "tenant-" + strings.TrimSuffix(uniqEmail("ext"), "@example.com"), Name: "API 客户"})
	require.NoError(t, err)

	importer, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: uniqEmail("importer"), Password: "staff password 1", Name: "I", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	serial := uniqEmail("R")
	_, err = b.bo.ImportStatement(ctx, strings.NewReader(statement([4]string{serial, b.company, "880.00", "货款"})), "r.csv", "110", backoffice.Actor{User: importer})
	require.NoError(t, err)
	q, err := b.bo.UnmatchedLines(ctx, serial, 10, backoffice.Actor{User: importer})
	require.NoError(t, err)
	require.Len(t, q, 1)
	b.lineID = q[0].ID
	return b
}

func (b *resolveBundle) customersURL(find string) string {
	return fmt.Sprintf("/admin/statements/lines/%d/customers?find=%s", b.lineID, url.QueryEscape(find))
}

func (b *resolveBundle) resolveURL() string {
	return fmt.Sprintf("/admin/statements/lines/%d/resolve", b.lineID)
}

// candidate selects inside the candidate for accountID.
func candidate(accountID int64) string {
	return fmt.Sprintf(`[data-testid="payer-%d"] `, accountID)
}

func TestAdminResolveFormSearchesCustomers(t *testing.T) {
	t.Parallel()
	b := setupResolve(t)

	t.Run("TheFormStartsFromThePayerName", func(t *testing.T) {
		p := b.finance.Get("/admin/statements?q=" + url.QueryEscape(b.company))
		require.Equal(t, http.StatusOK, p.Status)
		find := p.Doc.Find(`[data-testid="resolve-find"]`)
		require.Equal(t, 1, find.Length())
		require.Equal(t, b.company, find.AttrOr("value", ""))
		require.Equal(t, "input changed delay:300ms", find.AttrOr("hx-trigger", ""))
		require.Equal(t, fmt.Sprintf("line-%d-find", b.lineID), find.AttrOr("form", ""), "the search box submits its own GET form")
		lazy := p.Doc.Find(`[data-testid="payer-candidates"]`)
		require.Equal(t, b.customersURL(b.company), lazy.AttrOr("hx-get", ""), "opening the form lists the payer's likely customers")
		require.Contains(t, lazy.AttrOr("hx-trigger", ""), "toggle once")
		require.Equal(t, "this", lazy.AttrOr("hx-target", ""), "not the resolve form's target, which it would inherit")
		require.Empty(t, p.Doc.Find(`[data-testid="resolve-account"]`).Nodes, "no account id to type any more")
	})

	// Crediting the line and returning it to its payer move money on one
	// click: each asks first, naming the amount (and the payer), in the
	// reader's language (issue 16, defect 7).
	t.Run("MoneyActionsAskFirstNamingTheAmount", func(t *testing.T) {
		p := b.finance.Get("/admin/statements?q=" + url.QueryEscape(b.company))
		resolve := p.Doc.Find(`[data-testid="resolve-form"]`).AttrOr("data-confirm", "")
		require.Contains(t, resolve, "¥880.00")
		require.Contains(t, resolve, "入账")
		refund := p.Doc.Find(`[data-testid="refund-form"]`).AttrOr("data-confirm", "")
		require.Contains(t, refund, "¥880.00")
		require.Contains(t, refund, b.company, "the payer the money goes back to")
		b.finance.Get("/lang/en")
		defer b.finance.Get("/lang/zh-CN")
		p = b.finance.Get("/admin/statements?q=" + url.QueryEscape(b.company))
		require.Contains(t, p.Doc.Find(`[data-testid="resolve-form"]`).AttrOr("data-confirm", ""), "Credit this ¥880.00 line")
		require.Contains(t, p.Doc.Find(`[data-testid="refund-form"]`).AttrOr("data-confirm", ""), "Return this ¥880.00 to the payer")
		// Sent again on its own after an error (htmx), the form still asks.
		r := b.finance.HTMX(http.MethodPost, b.resolveURL(), url.Values{"find": {b.company}, "note": {"x"}})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Equal(t, "Credit this line to the chosen customer?", r.Doc.Find(`[data-testid="resolve-form"]`).AttrOr("data-confirm", ""))
	})

	t.Run("FindsTheVerifiedCompanyByPayerName", func(t *testing.T) {
		p := b.finance.HTMX(http.MethodGet, b.customersURL(b.company), nil)
		require.Equal(t, http.StatusOK, p.Status)
		require.Empty(t, p.TestID("staff-bar"), "htmx gets the candidates only")
		c := candidate(b.customer.AccountID)
		require.Equal(t, "王小明", p.Text(c+`[data-testid="payer-name"]`))
		require.Equal(t, b.customer.Email, p.Text(c+`[data-testid="payer-login"]`))
		require.Equal(t, "认证企业名称", p.Text(c+`[data-testid="payer-matched-by"]`))
		kyc := p.Text(c + `[data-testid="payer-kyc"]`)
		require.Contains(t, kyc, "已认证")
		require.Contains(t, kyc, "企业")
		require.Contains(t, kyc, b.company)
		require.Regexp(t, `91\*{12}\w{4}`, kyc, "the credit code is masked")
		order := p.Text(c + `[data-testid="payer-order-` + b.order.ReferenceDisplay() + `"]`)
		require.Contains(t, order, "¥880.00")
		require.Contains(t, order, b.order.OrderNo)
		require.Equal(t, fmt.Sprint(b.customer.AccountID), p.Doc.Find(c+`[data-testid="payer-pick"]`).AttrOr("value", ""))
		require.Equal(t, b.company, p.Doc.Find(`input[type="hidden"][name="find"]`).AttrOr("value", ""), "the list says what it was searched for")
	})

	t.Run("FindsByExternalID", func(t *testing.T) {
		p := b.finance.HTMX(http.MethodGet, b.customersURL(*b.external.ExternalID), nil)
		require.Equal(t, http.StatusOK, p.Status)
		c := candidate(b.external.ID)
		require.Equal(t, "API 客户", p.Text(c+`[data-testid="payer-name"]`))
		require.Contains(t, p.Text(c+`[data-testid="payer-external-id"]`), *b.external.ExternalID)
		require.Equal(t, "未认证", p.Text(c+`[data-testid="payer-kyc"]`))
		require.NotEmpty(t, p.Doc.Find(c+`[data-testid="payer-no-orders"]`).Nodes)
	})

	t.Run("FindsByReferenceCodeHoweverTyped", func(t *testing.T) {
		for _, typed := range []string{b.order.ReferenceCode, strings.ToLower(b.order.ReferenceDisplay())} {
			p := b.finance.HTMX(http.MethodGet, b.customersURL(typed), nil)
			require.Equal(t, http.StatusOK, p.Status)
			c := candidate(b.customer.AccountID)
			require.Equal(t, "识别码", p.Text(c+`[data-testid="payer-matched-by"]`), typed)
			require.Len(t, p.Doc.Find(`[data-testid="payer-pick"]`).Nodes, 1, typed)
		}
	})

	t.Run("NothingFound", func(t *testing.T) {
		p := b.finance.HTMX(http.MethodGet, b.customersURL("no such payer anywhere"), nil)
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, "没有匹配的客户，请换个关键词。", p.TestID("payer-none"))
		require.Empty(t, p.Doc.Find(`[data-testid="payer-pick"]`).Nodes)
	})

	t.Run("InEnglish", func(t *testing.T) {
		b.finance.Get("/lang/en")
		defer b.finance.Get("/lang/zh-CN")
		p := b.finance.HTMX(http.MethodGet, b.customersURL(b.company), nil)
		c := candidate(b.customer.AccountID)
		require.Equal(t, "Verified company name", p.Text(c+`[data-testid="payer-matched-by"]`))
		require.Contains(t, p.Text(c+`[data-testid="payer-kyc"]`), "Verified")
	})

	t.Run("WithoutJavaScriptItIsAPlainSearchPage", func(t *testing.T) {
		p := b.finance.Get(b.customersURL(*b.external.ExternalID))
		require.Equal(t, http.StatusOK, p.Status)
		require.NotEmpty(t, p.TestID("staff-bar"), "the whole page")
		open := p.Doc.Find(`details[open]`)
		require.Equal(t, 1, open.Length(), "the searched line's form is open")
		require.Equal(t, *b.external.ExternalID, open.Find(`[data-testid="resolve-find"]`).AttrOr("value", ""))
		require.Equal(t, 1, open.Find(fmt.Sprintf(`[data-testid="payer-%d"]`, b.external.ID)).Length())
	})

	t.Run("FinanceOnly", func(t *testing.T) {
		var route *web.AdminRoute
		for _, rt := range b.app.Server.AdminRoutes() {
			if rt.Name == "admin.line.customers" {
				route = &rt
			}
		}
		require.NotNil(t, route, "registered through adminRoute, so TestEveryAdminRouteChecksItsRoles walks it")
		require.Equal(t, http.MethodGet, route.Method)
		require.Equal(t, []auth.Role{auth.RoleFinance}, route.Roles)
		for _, role := range []auth.Role{auth.RoleSupport, auth.RoleAdmin} {
			c := b.staff(t, "not-finance", role)
			require.Equal(t, http.StatusForbidden, c.HTMX(http.MethodGet, b.customersURL(b.company), nil).Status, role)
		}
	})
}

func TestAdminResolveLineWithPickedCustomer(t *testing.T) {
	t.Parallel()
	b := setupResolve(t)
	ctx := context.Background()
	form := func(account, note string) url.Values {
		v := url.Values{"find": {b.company}, "note": {note}}
		if account != "" {
			v.Set("account_id", account)
		}
		return v
	}
	picked := fmt.Sprint(b.customer.AccountID)
	paidCredits := func() string {
		bal, err := b.ledger.Balance(ctx, b.customer.AccountID)
		require.NoError(t, err)
		return bal.ByKind[ledger.LotPaid].String()
	}
	b.finance.Get("/admin/statements")

	t.Run("NothingPicked", func(t *testing.T) {
		r := b.finance.PostForm(b.resolveURL(), form("", "付款人来电确认"))
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Equal(t, "请先查找并选择要入账的客户。", r.TestID("resolve-error-account"))
		open := r.Doc.Find(`details[open]`)
		require.Equal(t, 1, open.Length(), "the line's form is shown again, open")
		require.Equal(t, b.company, open.Find(`[data-testid="resolve-find"]`).AttrOr("value", ""), "the search is kept")
		require.Equal(t, "付款人来电确认", open.Find(`[data-testid="resolve-note"]`).AttrOr("value", ""), "the note is kept")
		require.Equal(t, 1, open.Find(fmt.Sprintf(`[data-testid="payer-%d"]`, b.customer.AccountID)).Length(), "with its results")
	})

	t.Run("NothingPickedInEnglishOverHTMX", func(t *testing.T) {
		b.finance.Get("/lang/en")
		defer b.finance.Get("/lang/zh-CN")
		r := b.finance.HTMX(http.MethodPost, b.resolveURL(), form("", "caller confirmed"))
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Equal(t, "Search for the customer and pick the one to credit first.", r.TestID("resolve-error-account"))
		require.Empty(t, r.TestID("staff-bar"), "htmx gets the form only")
		require.Equal(t, fmt.Sprintf("line-%d-resolve", b.lineID), r.Doc.Find(`section`).First().AttrOr("id", ""))
	})

	t.Run("NoteRequired", func(t *testing.T) {
		r := b.finance.PostForm(b.resolveURL(), form(picked, " "))
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Equal(t, "请填写原因。", r.TestID("resolve-error-note"))
		pick := r.Doc.Find(fmt.Sprintf(`[data-testid="payer-%d"] [data-testid="payer-pick"]`, b.customer.AccountID))
		_, checked := pick.Attr("checked")
		require.True(t, checked, "the pick is kept")
	})

	t.Run("UnknownAccount", func(t *testing.T) {
		r := b.finance.PostForm(b.resolveURL(), form("999999999", "typed by hand"))
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Equal(t, "找不到该账户。", r.TestID("resolve-error-account"))
	})

	t.Run("FrozenAccount", func(t *testing.T) {
		support := b.staff(t, "freezer", auth.RoleSupport)
		page := fmt.Sprintf("/admin/customers/%d", b.customer.AccountID)
		support.Get(page)
		require.Equal(t, http.StatusOK, support.PostForm(page+"/freeze", url.Values{"reason": {"chargeback"}}).Status)
		r := b.finance.PostForm(b.resolveURL(), form(picked, "付款人来电确认"))
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Contains(t, r.TestID("resolve-error-account"), "已冻结")
		require.Equal(t, "已冻结", r.Text(fmt.Sprintf(`[data-testid="payer-%d"] [data-testid="payer-frozen"]`, b.customer.AccountID)), "the list shows why")
		require.Equal(t, "0", paidCredits())

		b.finance.Get("/lang/en")
		r = b.finance.PostForm(b.resolveURL(), form(picked, "caller confirmed"))
		b.finance.Get("/lang/zh-CN")
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Contains(t, r.TestID("resolve-error-account"), "frozen")

		support.Get(page)
		require.Equal(t, http.StatusOK, support.PostForm(page+"/unfreeze", url.Values{"reason": {"cleared"}}).Status)
	})

	t.Run("PickedCustomerIsCreditedOnce", func(t *testing.T) {
		b.finance.Get("/admin/statements")
		r := b.finance.PostForm(b.resolveURL(), form(picked, "付款人来电确认"))
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		require.Contains(t, r.TestID("flash-success"), "该笔流水已入账到账户。")
		require.Equal(t, "880000", paidCredits(), "¥880 at ¥0.001 per credit")
		rows, _, err := b.bo.AuditLog(ctx, backoffice.AuditFilter{AccountID: b.customer.AccountID, Action: backoffice.ActionManualRecharge}, 0, 10)
		require.NoError(t, err)
		require.Len(t, rows, 1, "audited as a manual recharge")
		require.Equal(t, "付款人来电确认", rows[0].Reason)

		again := b.finance.PostForm(b.resolveURL(), form(picked, "twice"))
		require.Equal(t, http.StatusConflict, again.Status)
		require.Equal(t, "880000", paidCredits())
	})
}
