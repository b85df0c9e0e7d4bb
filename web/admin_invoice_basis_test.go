package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// TestAdminInvoicingBasis: finance sets a customer to be invoiced by
// consumption on the invoices page. A bad form names both fields at once
// in the staff member's language; the change is audited, shown as taking
// effect next month, and the customer's invoices page says so.
func TestAdminInvoicingBasis(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	finance := b.staff(t, "basis-finance@example.com", auth.RoleFinance)
	support := b.staff(t, "basis-support@example.com", auth.RoleSupport)
	cust, u := b.register(t, "basis-customer@example.com")
	acct := strconv.FormatInt(u.AccountID, 10)

	bad := url.Values{"account": {"abc"}, "basis": {"monthly"}}
	p := finance.PostForm("/admin/invoices/basis", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
	require.Contains(t, p.TestID("error-account"), "账户 ID")
	require.Contains(t, p.TestID("error-basis"), "按充值或按消费")
	finance.Get("/lang/en")
	p = finance.PostForm("/admin/invoices/basis", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
	require.Contains(t, p.TestID("error-account"), "account ID")
	require.Contains(t, p.TestID("error-basis"), "by top-up or by consumption")

	require.Equal(t, http.StatusForbidden, support.PostForm("/admin/invoices/basis", url.Values{"account": {acct}, "basis": {"consumption"}}).Status)
	p = finance.PostForm("/admin/invoices/basis", url.Values{"account": {acct}, "basis": {"consumption"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("basis-status"), "by top-up")
	require.Contains(t, p.TestID("basis-status"), "by consumption")
	audit := finance.Get("/admin/audit?action=invoicing_basis_set")
	require.Contains(t, audit.Doc.Find(`[data-testid="audit-table"] tbody`).Text(), "consumption", "the change is in the audit log")

	page := cust.Get("/portal/invoices")
	require.Equal(t, "topup", attr(page.Doc.Find(`[data-testid="invoice-basis"]`), "data-basis"))
	require.Contains(t, page.TestID("invoice-basis-next"), "按消费开票")
}
