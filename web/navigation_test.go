package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// TestNavigationReachesEveryPlace (issue 16, defect 9): sub-accounts sit in
// an enterprise's menu, the password change is one click from every page,
// a verified customer is sent on to the top-up, and an error inside the
// back office keeps its frame.
func TestNavigationReachesEveryPlace(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)

	ind, _ := b.register(t, uniqEmail("nav-individual"), "")
	p := ind.Get("/portal")
	require.Zero(t, p.Doc.Find(`[data-testid="nav-portal.accounts"]`).Length(), "an individual has no sub-accounts")
	require.Equal(t, "/portal/password", p.Doc.Find(`[data-testid="nav-password"]`).AttrOr("href", ""))
	require.Equal(t, "修改密码", p.TestID("nav-password"))
	ind.Get("/lang/en")
	require.Equal(t, "Change password", ind.Get("/portal/usage").TestID("nav-password"))

	corp, u := b.register(t, uniqEmail("nav-corp"), "Corp")
	b.enterprise(t, u.ID, "Corp")
	p = corp.Get("/portal/accounts")
	item := p.Doc.Find(`[data-testid="nav-portal.accounts"]`)
	require.Equal(t, 1, item.Length(), "sub-accounts are in the enterprise's menu")
	require.Equal(t, "page", item.AttrOr("aria-current", ""), "and marked while there")

	verified, v := b.register(t, uniqEmail("nav-verified"), "")
	_, err := b.verify.MarkVerifiedExternally(context.Background(), v.AccountID, "nav-test", "test")
	require.NoError(t, err)
	p = verified.Get("/portal/verification")
	require.Equal(t, "/portal/topup", p.Doc.Find(`[data-testid="verified-topup"]`).AttrOr("href", ""), "back to the top-up once verified")

	admin := b.staff(t, "nav-admin", auth.RoleAdmin)
	p = admin.Get("/admin/customers")
	require.Equal(t, "page", p.Doc.Find(`[data-testid="admin-menu-admin.customers"]`).AttrOr("aria-current", ""), "the menu marks the current page")
	p = admin.Get("/admin/customers/999999999")
	require.Equal(t, http.StatusNotFound, p.Status)
	require.NotZero(t, p.Doc.Find(`[data-testid="staff-bar"]`).Length(), "an error in /admin keeps the back office's frame")
	require.NotZero(t, p.Doc.Find(`[data-testid="admin-error-back"]`).Length())
	require.Zero(t, p.Doc.Find(`[data-testid="nav-portal.overview"]`).Length(), "not the customer's menu")
}
