package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

// A customer's refund request is approved (the paid lot shrinks through
// payments) or rejected with a required reason.
func TestAdminRefundRequests(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	ctx := context.Background()
	financeUser, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: uniqEmail("fin"), Password: "staff password 1", Name: "F", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	_, cust := b.register(t, uniqEmail("refund"), "Refund Customer")
	o, err := b.payments.CreateTransferOrder(ctx, cust.AccountID, 50000)
	require.NoError(t, err)
	_, err = b.bo.ImportStatement(ctx, strings.NewReader(statement([4]string{uniqEmail("S"), "甲", "500.00", o.ReferenceCode})), "s.csv", "110", backoffice.Actor{User: financeUser})
	require.NoError(t, err)
	req, err := b.bo.RequestRefund(ctx, cust.AccountID, o.OrderNo, decimal.NewFromInt(100), "unused", "127.0.0.1")
	require.NoError(t, err)

	finance := b.staff(t, "refunds", auth.RoleFinance)
	p := finance.Get("/admin/refunds")
	require.NotEmpty(t, p.TestID(fmt.Sprintf("refund-%d", req.ID)))
	facts := p.Doc.Find(fmt.Sprintf(`[data-testid="refund-%d"] [data-testid="refund-facts"] dt`, req.ID))
	require.Equal(t, 4, facts.Length(), "the header labels account, amount, order and time")
	r := finance.PostForm(fmt.Sprintf("/admin/refunds/%d/approve", req.ID), nil)
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.NotEmpty(t, r.TestID("flash-success"))
	bal, err := b.ledger.Balance(ctx, cust.AccountID)
	require.NoError(t, err)
	require.Equal(t, "400000", bal.ByKind[ledger.LotPaid].String(), "¥100 of ¥500 refunded")
	require.Equal(t, http.StatusConflict, finance.PostForm(fmt.Sprintf("/admin/refunds/%d/approve", req.ID), nil).Status, "decided once")

	req2, err := b.bo.RequestRefund(ctx, cust.AccountID, "", decimal.NewFromInt(50), "again", "127.0.0.1")
	require.NoError(t, err)
	r = finance.PostForm(fmt.Sprintf("/admin/refunds/%d/reject", req2.ID), url.Values{"reason": {""}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "请填写原因。", r.TestID("error-reason"))
	r = finance.PostForm(fmt.Sprintf("/admin/refunds/%d/reject", req2.ID), url.Values{"reason": {"already refunded"}})
	require.Equal(t, http.StatusOK, r.Status)
	// Other tests' customers may have requests in the queue meanwhile.
	require.Empty(t, r.Doc.Find(fmt.Sprintf(`[data-testid="refund-%d"]`, req2.ID)).Nodes, "it left the queue")
}

func TestAdminReportsTableAndCSV(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	admin := b.staff(t, "reports", auth.RoleAdmin)
	p := admin.Get("/admin/reports?from=2025-03-01&to=2025-03-03&granularity=day")
	require.Equal(t, http.StatusOK, p.Status)
	require.NotEmpty(t, p.TestID("report-2025-03-02"))
	require.NotEmpty(t, p.TestID("report-total"))
	csv := admin.Get("/admin/reports.csv?from=2025-03-01&to=2025-03-03&granularity=day")
	require.Equal(t, http.StatusOK, csv.Status)
	require.True(t, strings.HasPrefix(csv.Body, "\uFEFF"), "UTF-8 BOM for Excel")
	require.Contains(t, csv.Body, "2025-03-02")
	bad := admin.Get("/admin/reports?from=soon")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.NotEmpty(t, bad.TestID("error-from"))
}

func TestAdminAuditCSVAndFilter(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	support := b.staff(t, "auditsup", auth.RoleSupport)
	_, cust := b.register(t, uniqEmail("audited"), "Audited")
	page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)
	support.Get(page)
	support.PostForm(page+"/freeze", url.Values{"reason": {"chargeback"}})
	admin := b.staff(t, "auditadm", auth.RoleAdmin)
	p := admin.Get(fmt.Sprintf("/admin/audit?account=%d&action=freeze", cust.AccountID))
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "chargeback", p.TestID("audit-reason"))
	require.Equal(t, "5,000", p.Text(`[data-testid="audit-freeze"] [data-testid="audit-before"]`))
	csv := admin.Get(fmt.Sprintf("/admin/audit.csv?account=%d", cust.AccountID))
	require.True(t, strings.HasPrefix(csv.Body, "\uFEFF"))
	require.Contains(t, csv.Body, "chargeback")
	require.Equal(t, http.StatusUnprocessableEntity, admin.Get("/admin/audit?account=abc").Status)
}

func TestAdminStaffManagement(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	admin := b.staff(t, "staffadm", auth.RoleAdmin)
	admin.Get("/admin/staff")
	email := uniqEmail("newstaff")
	none := admin.PostForm("/admin/staff", url.Values{"email": {email}})
	require.Equal(t, http.StatusUnprocessableEntity, none.Status)
	require.Equal(t, "请至少选择一个角色。", none.TestID("error-roles"))
	p := admin.PostForm("/admin/staff", url.Values{"email": {email}, "name": {"New"}, "roles": {"support", "finance"}})
	require.Equal(t, http.StatusOK, p.Status)
	require.Empty(t, p.TestID("staff-password"), "no password is shown")
	require.Contains(t, p.TestID("staff-invite-link"), "/password/reset/", "a one-time link is")
	u, err := b.auth.UserByLogin(context.Background(), email)
	require.NoError(t, err)
	require.False(t, u.HasPassword)
	require.ElementsMatch(t, []auth.Role{auth.RoleSupport, auth.RoleFinance}, u.Roles)
	r := admin.PostForm(fmt.Sprintf("/admin/staff/%d/roles", u.ID), url.Values{"roles": {"admin"}})
	require.Equal(t, http.StatusOK, r.Status)
	u, err = b.auth.UserByID(context.Background(), u.ID)
	require.NoError(t, err)
	require.Equal(t, []auth.Role{auth.RoleAdmin}, u.Roles)
}
