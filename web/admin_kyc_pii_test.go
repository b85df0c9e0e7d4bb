package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestNoFullIDNumberReachesAnUnentitledRole crawls every page (and file:
// PDFs, CSV exports, licences) a customer, a support and a finance user can
// reach by following links, and greps them and everything the server logged
// for the full ID numbers and credit codes submitted for verification. Only
// the admin's explicit, audited reveal shows one.
func TestNoFullIDNumberReachesAnUnentitledRole(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	ctx := context.Background()
	var secrets []string

	// A verified individual, a pending one (manual review), a rejected one.
	verified, vu := b.register(t, "pii-verified@example.com")
	n1 := newPersonID(t)
	verified.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {n1}, "consent_sensitive_pi": {"yes"}})
	pending, _ := b.register(t, "pii-pending@example.com")
	n2 := undecidedPersonID(t)
	pending.PostForm("/portal/verification/person", url.Values{"name": {"钱七"}, "id_number": {n2}, "consent_sensitive_pi": {"yes"}})
	// Someone else tries n1 again: refused, and the page does not echo it.
	thief, _ := b.register(t, "pii-thief@example.com")
	require.Equal(t, http.StatusUnprocessableEntity, thief.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {n1}, "consent_sensitive_pi": {"yes"}}).Status)
	secrets = append(secrets, n1, n2)

	// A pending enterprise with a licence, and a verified one with invoices.
	ent, eu := b.register(t, "pii-enterprise@example.com")
	ent.Get("/portal/verification?tab=enterprise")
	c1, err := identity.BuildCreditCode("91330100MA2H07" + "98" + "3")
	require.NoError(t, err)
	postMultipart(t, ent, "/portal/verification/company", map[string]string{"consent_sensitive_pi": "yes", "company_name": "杭州待审数据有限公司", "credit_code": c1, "legal_rep": "赵六"}, "licence", "licence.png", pngBytes)
	ent2, eu2 := b.register(t, "pii-enterprise-2@example.com")
	ent2.Get("/portal/verification?tab=enterprise")
	c2 := newCreditCode(t)
	p := postMultipart(t, ent2, "/portal/verification/company", map[string]string{"consent_sensitive_pi": "yes", "company_name": "北京示例科技有限公司", "credit_code": c2, "legal_rep": "张三"}, "licence", "licence.png", pngBytes)
	require.Equal(t, "verified", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
	secrets = append(secrets, c1, c2)
	o := b.paidTopUp(t, eu2.AccountID, 40000)
	inv, err := b.inv.RequestInvoice(ctx, eu2.AccountID, invoicing.Request{Kind: invoicing.KindOrdinary, Email: "pii@example.com", RequestedBy: "test",
		Items: []invoicing.ItemRequest{{OrderID: o.ID}}, Title: &invoicing.TitleInput{Type: invoicing.TitleCompany, Name: "北京示例科技有限公司", TaxID: newCreditCode(t)}})
	require.NoError(t, err)
	_, _, err = b.inv.Issue(ctx, inv.ID, invoicing.IssueRequest{Number: "11001900000012345678"}, "test")
	require.NoError(t, err)

	// The admin (entitled) reveals one number: shown to them, audited.
	admin := b.staff(t, "pii-admin@example.com", auth.RoleAdmin)
	st, err := b.verif.Status(ctx, vu.AccountID)
	require.NoError(t, err)
	admin.Get("/admin/kyc")
	p = admin.PostForm("/admin/kyc/reveal", url.Values{"id": {strconv.FormatInt(st.VerificationID, 10)}})
	require.Equal(t, n1, p.TestID("kyc-revealed-number"))
	_ = eu

	support := b.staff(t, "pii-support@example.com", auth.RoleSupport)
	finance := b.staff(t, "pii-finance@example.com", auth.RoleFinance)
	// Support tries to reveal: refused and logged.
	support.Get("/admin/kyc")
	require.Equal(t, http.StatusForbidden, support.PostForm("/admin/kyc/reveal", url.Values{"id": {strconv.FormatInt(st.VerificationID, 10)}}).Status)

	visited := 0
	for name, c := range map[string]*webtest.Client{
		"verified customer": verified, "pending customer": pending, "thief": thief, "enterprise": ent, "enterprise 2": ent2,
		"support": support, "finance": finance, "admin (without reveal)": admin,
	} {
		for path, body := range crawl(t, c, []string{"/portal", "/portal/verification", "/portal/invoices", "/admin", "/admin/kyc", "/admin/invoices?state=issued"}) {
			visited++
			for _, s := range secrets {
				for _, form := range []string{s, strings.ToLower(s), s[:6] + " " + s[6:]} {
					require.NotContains(t, body, form, "%s sees a full number on %s", name, path)
				}
			}
		}
	}
	require.Greater(t, visited, 40, "the crawl reached the pages")
	logs := b.logs.String()
	require.NotEmpty(t, logs)
	for _, s := range secrets {
		require.NotContains(t, logs, s, "the server log holds a full number")
	}
}

// crawl fetches the start pages and every same-site link under /portal and
// /admin reachable from them (GET only; no sign-out, no language switch),
// returning each answer's body by path.
func crawl(t *testing.T, c *webtest.Client, start []string) map[string]string {
	t.Helper()
	seen := map[string]string{}
	queue := append([]string(nil), start...)
	for len(queue) > 0 && len(seen) < 300 {
		path := queue[0]
		queue = queue[1:]
		if _, ok := seen[path]; ok {
			continue
		}
		p := c.Get(path)
		seen[path] = p.Body
		p.Doc.Find("a[href]").Each(func(_ int, a *goquery.Selection) {
			href, _ := a.Attr("href")
			u, err := url.Parse(href)
			if err != nil || u.Host != "" || !(strings.HasPrefix(u.Path, "/portal") || strings.HasPrefix(u.Path, "/admin")) {
				return
			}
			queue = append(queue, u.RequestURI())
		})
	}
	return seen
}
