package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// The back-office home counts the work waiting in the queues each role
// reaches, links each count to its queue, and shows finance today's money.
func TestAdminHomeCountsWorkWaiting(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)

	finance := b.staffClient(t, "home-finance@example.com", auth.RoleFinance)
	p := finance.Get("/admin")
	require.Equal(t, http.StatusOK, p.Status)
	href, _ := p.Doc.Find(`[data-testid="home-queue-admin.statements"] a`).Attr("href")
	require.Equal(t, "/admin/statements", href)
	require.Regexp(t, `^\d+$`, p.Doc.Find(`[data-testid="home-queue-admin.statements"] [data-testid="home-queue-count"]`).Text())
	require.Equal(t, 1, p.Doc.Find(`[data-testid="home-queue-admin.refunds"]`).Length())
	require.Equal(t, 1, p.Doc.Find(`[data-testid="home-money-in"]`).Length())
	require.Contains(t, p.Doc.Find(`[data-testid="home-money-out"]`).Text(), "¥")

	support := b.staffClient(t, "home-support@example.com", auth.RoleSupport)
	p = support.Get("/admin")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 1, p.Doc.Find(`[data-testid="home-queue-admin.approvals"]`).Length())
	require.Equal(t, 0, p.Doc.Find(`[data-testid="home-queue-admin.statements"]`).Length(), "support does not reach the statements queue")
	require.Equal(t, 0, p.Doc.Find(`[data-testid="admin-home-money"]`).Length(), "support does not see the money")
}
