package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/web/webtest"
)

// transferPortal is an enterprise owner signed in to the portal, with
// sub-accounts of 300 and 100 credits of allocation and one without a limit.
type transferPortal struct {
	*portalBundle
	c                  *webtest.Client
	owner              auth.User
	ent                int64
	a, b, unlimited    int64
	aID, bID, unlimID  string
	otherEnt, otherSub int64
}

func setupTransferPortal(t *testing.T, login string) *transferPortal {
	t.Helper()
	ctx := context.Background()
	p := &transferPortal{portalBundle: setupPortal(t)}
	p.c, p.owner = p.register(t, login, "Corp")
	p.ent = p.enterprise(t, p.owner.ID, "Corp")
	_, err := p.ledger.Credit(ctx, ledger.CreditRequest{AccountID: p.ent, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(50000), IdempotencyKey: "paid"})
	require.NoError(t, err)
	sub := func(ent int64, name, alloc string) int64 {
		spec := ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent, Name: name}
		if alloc != "" {
			a := decimal.RequireFromString(alloc)
			spec.Allocation = &a
		}
		acc, err := p.ledger.CreateAccount(ctx, spec)
		require.NoError(t, err)
		return acc.ID
	}
	p.a, p.b, p.unlimited = sub(p.ent, "研发部", "300"), sub(p.ent, "Sales", "100"), sub(p.ent, "Ops", "")
	p.aID, p.bID, p.unlimID = strconv.FormatInt(p.a, 10), strconv.FormatInt(p.b, 10), strconv.FormatInt(p.unlimited, 10)
	other, err := p.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "Other"})
	require.NoError(t, err)
	p.otherEnt, p.otherSub = other.ID, sub(other.ID, "Other dept", "500")
	return p
}

func (p *transferPortal) allocation(t *testing.T, id int64) string {
	t.Helper()
	acc, err := p.ledger.Account(context.Background(), id)
	require.NoError(t, err)
	require.True(t, acc.Allocation.Valid)
	return acc.Allocation.Decimal.String()
}

// form is what the page's transfer form would post, with its key.
func (p *transferPortal) form(t *testing.T, from, to, amount string) url.Values {
	t.Helper()
	page := p.c.Get("/portal/accounts")
	require.Equal(t, http.StatusOK, page.Status)
	key, ok := page.Doc.Find(`[data-testid="transfer-form"] input[name="idempotency_key"]`).Attr("value")
	require.True(t, ok)
	return url.Values{"from": {from}, "to": {to}, "amount": {amount}, "idempotency_key": {key}}
}

func (p *transferPortal) audit(t *testing.T, ent int64) []backoffice.AuditRow {
	t.Helper()
	bo := backoffice.New(p.app.Pool, p.ledger, p.auth, backoffice.Options{})
	rows, _, err := bo.AuditLog(context.Background(), backoffice.AuditFilter{AccountID: ent, Action: backoffice.ActionAllocationTransfer}, 0, 100)
	require.NoError(t, err)
	return rows
}

func TestEnterpriseOwnerMovesAllocationBetweenSubAccounts(t *testing.T) {
	t.Parallel()
	p := setupTransferPortal(t, "transfer-owner@example.com")

	// The form offers the two sub-accounts with a limit, not the unlimited one.
	page := p.c.Get("/portal/accounts")
	require.Equal(t, http.StatusOK, page.Status)
	var offered []string
	page.Doc.Find(`[data-testid="transfer-from"] option`).Each(func(_ int, o *goquery.Selection) {
		if v, _ := o.Attr("value"); v != "" {
			offered = append(offered, v)
		}
	})
	require.Equal(t, []string{p.aID, p.bID}, offered)
	require.Contains(t, page.Text(`[data-testid="transfer-from"]`), "研发部 #"+p.aID+" · 300")

	// htmx, everything wrong: every field's message at once, in Chinese,
	// 422, and only the form comes back.
	r := p.c.HTMX(http.MethodPost, "/portal/accounts/transfers", url.Values{"idempotency_key": {"k0"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.NotContains(t, r.Body, "<html", "htmx gets the form alone")
	require.Equal(t, "请选择划出额度的子账户。", r.TestID("error-from"))
	require.Equal(t, "请选择划入额度的子账户。", r.TestID("error-to"))
	require.Equal(t, "请填写要划转的额度（点）。", r.TestID("error-amount"))

	// In English, with the same account twice and a bad amount.
	p.c.Header.Set("Accept-Language", "en")
	r = p.c.HTMX(http.MethodPost, "/portal/accounts/transfers", url.Values{"from": {p.aID}, "to": {p.aID}, "amount": {"1.0000001"}, "idempotency_key": {"k1"}})
	p.c.Header.Del("Accept-Language")
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Empty(t, r.TestID("error-from"))
	require.Equal(t, "Choose two different accounts: allocation moves from one to another.", r.TestID("error-to"))
	require.Equal(t, "Enter a positive number of credits: at most 6 decimal places, at most 1,000,000,000,000.", r.TestID("error-amount"))
	// The choices survive the round trip.
	sel, _ := r.Doc.Find(`[data-testid="transfer-from"] option[selected]`).Attr("value")
	require.Equal(t, p.aID, sel)

	// More than the source has: the most it can give.
	r = p.c.HTMX(http.MethodPost, "/portal/accounts/transfers", p.form(t, p.bID, p.aID, "100.5"))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "Sales 最多可划出 100 点。", r.TestID("error-amount"))

	// The unlimited sub-account and another enterprise's are refused as
	// choices; nothing of the other enterprise is shown.
	for _, bad := range []url.Values{
		p.form(t, p.unlimID, p.aID, "10"),
		p.form(t, strconv.FormatInt(p.otherSub, 10), p.aID, "10"),
		p.form(t, p.aID, strconv.FormatInt(p.otherSub, 10), "10"),
		p.form(t, p.aID, strconv.FormatInt(p.ent, 10), "10"),
	} {
		r = p.c.HTMX(http.MethodPost, "/portal/accounts/transfers", bad)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, bad.Encode())
		require.NotEmpty(t, r.TestID("error-from")+r.TestID("error-to"), bad.Encode())
		require.NotContains(t, r.Body, "Other dept")
	}
	require.Equal(t, "300", p.allocation(t, p.a))
	require.Equal(t, "500", p.allocation(t, p.otherSub))
	require.Empty(t, p.audit(t, p.ent))

	// A good transfer: HX-Redirect to the page, which shows the new figures.
	good := p.form(t, p.aID, p.bID, "120.5")
	r = p.c.HTMX(http.MethodPost, "/portal/accounts/transfers", good)
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.Equal(t, "/portal/accounts?transferred=1", r.Header.Get("HX-Redirect"))
	require.Equal(t, "179.5", p.allocation(t, p.a))
	require.Equal(t, "220.5", p.allocation(t, p.b))
	page = p.c.Get(r.Header.Get("HX-Redirect"))
	require.Equal(t, "额度已划转，表中为划转后的额度。", strings.TrimSpace(strings.TrimSuffix(page.TestID("flash-success"), "×")))
	require.Contains(t, page.Doc.Find(`[data-testid="sub-account-row"]:contains("研发部")`).Text(), "179.5")
	require.Contains(t, page.Doc.Find(`[data-testid="sub-account-row"]:contains("Sales")`).Text(), "220.5")

	// Sent twice (a double click): moved once, audited once.
	r = p.c.HTMX(http.MethodPost, "/portal/accounts/transfers", good)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "179.5", p.allocation(t, p.a))
	audit := p.audit(t, p.ent)
	require.Len(t, audit, 1)
	require.Equal(t, backoffice.ActorCustomer, audit[0].ActorKind)
	require.Equal(t, "transfer-owner@example.com", audit[0].ActorEmail)
	var det struct{ From, To backoffice.AllocationChange }
	require.NoError(t, json.Unmarshal(audit[0].Detail, &det))
	require.Equal(t, "300", det.From.AllocationBefore.String())
	require.Equal(t, "179.5", det.From.AllocationAfter.String())
	require.Equal(t, "100", det.To.AllocationBefore.String())
	require.Equal(t, "220.5", det.To.AllocationAfter.String())

	// Without htmx the form posts and lands on the page (303).
	r = p.c.PostForm("/portal/accounts/transfers", p.form(t, p.bID, p.aID, "20.5"))
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "/portal/accounts", r.URL.Path)
	require.NotEmpty(t, r.TestID("flash-success"))
	require.Equal(t, "200", p.allocation(t, p.a))
	require.Len(t, p.audit(t, p.ent), 2)

	// An individual has no such form.
	ind, _ := p.register(t, "transfer-solo@example.com", "")
	require.Equal(t, http.StatusNotFound, ind.PostForm("/portal/accounts/transfers", url.Values{"from": {p.aID}, "to": {p.bID}, "amount": {"1"}}).Status)
	require.Equal(t, "200", p.allocation(t, p.a))
}

// TestTransferAmountIsReadAsPeopleTypeIt: the amount is read by the one
// parser of typed amounts (format.ParseDecimal): full-width digits from a
// Chinese keyboard are read, an exponent is not a number of credits. Before,
// "１００" was refused and "1e2" moved 100 credits.
func TestTransferAmountIsReadAsPeopleTypeIt(t *testing.T) {
	t.Parallel()
	p := setupTransferPortal(t, "transfer-typed@example.com")
	r := p.c.HTMX(http.MethodPost, "/portal/accounts/transfers", p.form(t, p.aID, p.bID, "1e2"))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "请输入正数点数：最多 6 位小数，不超过 1,000,000,000,000。", r.TestID("error-amount"))
	require.Equal(t, "300", p.allocation(t, p.a), "nothing moved")

	r = p.c.HTMX(http.MethodPost, "/portal/accounts/transfers", p.form(t, p.aID, p.bID, "１００"))
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.Empty(t, r.TestID("error-amount"))
	require.Equal(t, "200", p.allocation(t, p.a))
	require.Equal(t, "200", p.allocation(t, p.b))
}
