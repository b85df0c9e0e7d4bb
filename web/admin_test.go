package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/verification"
	"github.com/seed75218f88/credits/web/webtest"
)

// adminBundle is a running server with the back office wired to real
// payments (bank transfer orders), real-name verification (the sandbox
// provider) and the gateway API's key store, and low support-grant limits
// (1,000 credits a grant, 1,500 a staff member a day).
type adminBundle struct {
	*portalBundle
	payments *payments.Service
	verify   *verification.Service
	gw       *gateway.Service
	bo       *backoffice.Service
}

func setupAdmin(t testing.TB, opts ...webtest.Option) *adminBundle {
	t.Helper()
	b := &adminBundle{portalBundle: &portalBundle{}}
	b.app = webtest.Start(t, append([]webtest.Option{webtest.WithConfig(func(c *config.Config) {
		c.Payments.BankAccount = testBank
		c.Backoffice.SupportGrantLimit = decimal.NewFromInt(1000)
		c.Backoffice.SupportGrantStaffDayLimit = decimal.NewFromInt(1500)
		c.Signup = signup.Settings{Credit: decimal.NewFromInt(5000), ExpiryDays: 30}
	})}, opts...)...)
	a := b.app.Services
	b.ledger, b.auth, b.payments, b.verify, b.gw, b.bo = a.Ledger, a.Auth, a.Payments, a.Verification, a.Gateway, a.Backoffice
	_, err := a.Pricing.EnsureDefault(context.Background(), "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	return b
}

// staff signs a new staff user in and follows redirects like a browser.
func (b *adminBundle) staff(t *testing.T, prefix string, roles ...auth.Role) *webtest.Client {
	t.Helper()
	c := b.staffClient(t, uniqEmail(prefix), roles...)
	c.FollowRedirects = true
	return c
}

var adminSeq atomic.Int64

// uniqEmail is an address no other test uses.
func uniqEmail(prefix string) string {
	return fmt.Sprintf("%s-%d-%d@example.com", prefix, time.Now().UnixNano()%1e6, adminSeq.Add(1))
}

func TestAdminGrantAppliesOrWaitsAndShowsFieldErrors(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	support := b.staff(t, "support", auth.RoleSupport)
	_, cust := b.register(t, uniqEmail("cust"), "Grant Customer")
	page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)

	p := support.Get(page)
	require.Equal(t, http.StatusOK, p.Status)
	key, _ := p.Doc.Find(`[data-testid="grant-form"] input[name="idempotency_key"]`).Attr("value")
	require.NotEmpty(t, key)
	expires := time.Now().AddDate(0, 1, 0).In(format.Shanghai).Format("2006-01-02")

	t.Run("BadInputIsShownNextToItsFieldInChinese", func(t *testing.T) {
		r := support.PostForm(page+"/grant", url.Values{"amount": {"abc"}, "expires_at": {"yesterday"}, "reason_code": {"goodwill"}, "idempotency_key": {key}})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Contains(t, r.TestID("error-amount"), "请输入")
		require.NotEmpty(t, r.TestID("error-expires_at"))
		require.Equal(t, "abc", r.Doc.Find(`[data-testid="grant-amount"]`).AttrOr("value", ""), "what was typed is kept")
	})
	t.Run("BadInputInEnglish", func(t *testing.T) {
		support.Get("/lang/en")
		defer support.Get("/lang/zh-CN")
		r := support.PostForm(page+"/grant", url.Values{"amount": {"10"}, "expires_at": {expires}, "reason_code": {"no_such_reason"}, "idempotency_key": {key}})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Equal(t, "Choose a reason from the list.", r.TestID("error-reason_code"))
	})
	t.Run("AnExponentIsNotAnAmount", func(t *testing.T) {
		// "5e2" is not how a person writes 500 credits: refused on the
		// field (before, it granted 500).
		p := support.Get(page)
		k, _ := p.Doc.Find(`[data-testid="grant-form"] input[name="idempotency_key"]`).Attr("value")
		r := support.PostForm(page+"/grant", url.Values{"amount": {"5e2"}, "expires_at": {expires}, "reason_code": {"goodwill"}, "idempotency_key": {k}})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.NotEmpty(t, r.TestID("error-amount"))
		bal, err := b.ledger.Balance(context.Background(), cust.AccountID)
		require.NoError(t, err)
		require.Equal(t, "5000", bal.Available.String(), "nothing granted")
	})
	t.Run("UnderTheLimitAppliesOnce", func(t *testing.T) {
		form := url.Values{"amount": {"500"}, "expires_at": {expires}, "reason_code": {"goodwill"}, "note": {"sorry"}, "idempotency_key": {key}}
		r := support.PostForm(page+"/grant", form)
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		require.NotEmpty(t, r.TestID("flash-success"))
		support.PostForm(page+"/grant", form) // a double submit
		bal, err := b.ledger.Balance(context.Background(), cust.AccountID)
		require.NoError(t, err)
		require.Equal(t, "5500", bal.Available.String(), "5000 sign-up credit + one grant of 500")
	})
	t.Run("AboveTheLimitWaits", func(t *testing.T) {
		p := support.Get(page)
		key2, _ := p.Doc.Find(`[data-testid="grant-form"] input[name="idempotency_key"]`).Attr("value")
		require.NotEqual(t, key, key2, "a new key per rendering")
		r := support.PostForm(page+"/grant", url.Values{"amount": {"2000"}, "expires_at": {expires}, "reason_code": {"goodwill"}, "idempotency_key": {key2}})
		require.Equal(t, http.StatusOK, r.Status)
		require.Contains(t, r.TestID("flash-success"), "审批")
	})
}

// The grant form shows the staff member's allowance for today; a grant
// over it is split, and the customer's page shows the part that waits.
func TestAdminGrantShowsTodaysAllowanceAndSplits(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	support := b.staff(t, "support", auth.RoleSupport)
	_, cust := b.register(t, uniqEmail("cust"), "Allowance Customer")
	page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)
	expires := time.Now().AddDate(0, 1, 0).In(format.Shanghai).Format("2006-01-02")
	grant := func(amount string) *webtest.Page {
		t.Helper()
		key, _ := support.Get(page).Doc.Find(`[data-testid="grant-form"] input[name="idempotency_key"]`).Attr("value")
		r := support.PostForm(page+"/grant", url.Values{"amount": {amount}, "expires_at": {expires}, "reason_code": {"goodwill"}, "idempotency_key": {key}})
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		return r
	}

	p := support.Get(page)
	require.Equal(t, "1,500", p.TestID("grant-remaining"))
	require.Equal(t, "1,000", p.TestID("grant-limit"))
	require.Equal(t, "0 / 1,500", p.TestID("grant-staff-used"))
	require.Equal(t, "0 / 50,000", p.TestID("grant-account-used"))

	r := grant("1000")
	require.Contains(t, r.TestID("flash-success"), "点数已赠送。")
	require.Equal(t, "500", r.TestID("grant-remaining"))
	require.Equal(t, "1,000 / 1,500", r.TestID("grant-staff-used"))

	r = grant("800")
	require.Contains(t, r.TestID("flash-success"), "今日额度内的部分已赠送，超出的部分等待财务审批。")
	require.Equal(t, "0", r.TestID("grant-remaining"))
	require.Equal(t, "1,500 / 1,500", r.TestID("grant-staff-used"))
	pending, err := b.bo.Approvals(context.Background(), backoffice.ApprovalFilter{AccountID: cust.AccountID, State: backoffice.ApprovalPending})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	part := fmt.Sprintf(`[data-testid="pending-%d"] `, pending[0].ID)
	require.Equal(t, "300", r.Text(part+`[data-testid="approval-amount"]`))
	require.Equal(t, "超出申请人今日额度", r.Text(part+`[data-testid="approval-over"]`))
	require.Equal(t, "拆分自一笔赠送，共 800 · 其中已立即生效 500", strings.Join(strings.Fields(r.Text(part+`[data-testid="approval-split"]`)), " "))
	bal, err := b.ledger.Balance(context.Background(), cust.AccountID)
	require.NoError(t, err)
	require.Equal(t, "6500", bal.Available.String(), "5000 sign-up credit + 1,000 + the 500 within the day")

	// The approvals queue shows the part as a split too, in English.
	support.Get("/lang/en")
	q := support.Get("/admin/approvals")
	item := fmt.Sprintf(`[data-testid="approval-%d"] `, pending[0].ID)
	require.Equal(t, "Over the requester's limit for the day", q.Text(item+`[data-testid="approval-over"]`))
	require.Equal(t, "Split from a grant of 800 · applied at once 500", strings.Join(strings.Fields(q.Text(item+`[data-testid="approval-split"]`)), " "))
}

func TestAdminFreezeNeedsAReason(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	support := b.staff(t, "support", auth.RoleSupport)
	_, cust := b.register(t, uniqEmail("cust"), "Freeze Customer")
	page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)
	freeze := support.Get(page).Doc.Find(`[data-testid="freeze-form"]`).AttrOr("data-confirm", "")
	require.Contains(t, freeze, fmt.Sprintf("冻结客户 #%d", cust.AccountID), "freezing asks first, naming the customer (issue 16, defect 7)")
	r := support.PostForm(page+"/freeze", url.Values{"reason": {"  "}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "请填写原因。", r.TestID("error-reason"))
	r = support.PostForm(page+"/freeze", url.Values{"reason": {"fraud check"}})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "已冻结", r.TestID("customer-status"))
	require.Empty(t, r.Doc.Find(`[data-testid="freeze-form"]`).AttrOr("data-confirm", ""), "unfreezing gives access back without asking")
	r = support.PostForm(page+"/unfreeze", url.Values{"reason": {"cleared"}})
	require.Equal(t, "正常", r.TestID("customer-status"))
}

func TestAdminCustomerLookup(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	support := b.staff(t, "support", auth.RoleSupport)
	email := uniqEmail("lookup")
	_, cust := b.register(t, email, "Lookup Customer")
	o, err := b.payments.CreateTransferOrder(context.Background(), cust.AccountID, 50000)
	require.NoError(t, err)
	for _, q := range []string{email, fmt.Sprint(cust.AccountID), o.OrderNo} {
		p := support.Get("/admin/customers?q=" + url.QueryEscape(q))
		require.Equal(t, http.StatusOK, p.Status)
		require.NotEmpty(t, p.TestID(fmt.Sprintf("customer-%d", cust.AccountID)), "lookup by %s", q)
	}
	p := support.HTMX(http.MethodGet, "/admin/customers?q=nobody-here", nil)
	require.Equal(t, http.StatusOK, p.Status)
	require.NotEmpty(t, p.TestID("customer-none"))
	require.Empty(t, p.TestID("staff-bar"), "htmx gets the results only")
}

// statement builds a bank statement CSV (CCB layout) from rows of serial,
// payer, amount, memo (all credits).
func statement(rows ...[4]string) string {
	var sb strings.Builder
	sb.WriteString("交易流水号,交易时间,对方账户名称,对方账号,交易金额,借贷标志,用途\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%s,2025/03/01 09:00:00,%s,6222000011112222,%s,贷,%s\n", r[0], r[1], r[2], r[3])
	}
	return sb.String()
}
