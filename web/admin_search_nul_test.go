package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// A search holding a NUL character (which PostgreSQL text cannot hold) is
// the visitor's mistake: a 400, never a 500 blamed on the server.
func TestAdminSearchWithNULIsNotAServerError(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	admin := b.staff(t, "nul-admin", auth.RoleAdmin)
	for _, p := range []string{"/admin/customers?q=%00", "/admin/customers?q=a%00b", "/admin/subscriptions?q=%00"} {
		r := admin.Get(p)
		require.Less(t, r.Status, 500, p)
		require.Contains(t, []int{http.StatusOK, http.StatusBadRequest}, r.Status, p)
	}
	require.Equal(t, http.StatusOK, admin.Get("/admin/customers?q=nobody").Status)
}
