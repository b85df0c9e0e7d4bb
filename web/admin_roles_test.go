package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

// staffClient signs a new staff user holding roles in and returns the client.
func (b *portalBundle) staffClient(t *testing.T, email string, roles ...auth.Role) *webtest.Client {
	t.Helper()
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: "staff password 1", Name: email, Roles: roles})
	require.NoError(t, err)
	c := webtest.NewClient(t, b.app.URL)
	c.FollowRedirects = false
	c.Get("/signin")
	p := c.PostForm("/signin", url.Values{"login": {email}, "password": {"staff password 1"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	return c
}

var routeParam = regexp.MustCompile(`:[a-z_]+`)

// noSuchID is the id the role test puts in every :id.
const noSuchID = "1099511627776"

// Every /admin route answers only to the roles it names: other staff get
// 403, customers 404 (the back office does not exist for them), visitors
// are sent to sign in.
func TestEveryAdminRouteChecksItsRoles(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	clients := map[auth.Role]*webtest.Client{}
	for _, r := range auth.AllRoles {
		clients[r] = b.staffClient(t, string(r)+"-roles@example.com", r)
	}
	customer, _ := b.register(t, "roles-customer@example.com", "Customer")
	customer.FollowRedirects = false
	visitor := webtest.NewClient(t, b.app.URL)
	visitor.FollowRedirects = false
	visitor.Get("/")

	routes := b.app.Server.AdminRoutes()
	require.NotEmpty(t, routes)
	for _, rt := range routes {
		// An id no row has: the package's tests share one database, and an
		// admin's POST to /admin/keys/1/revoke or /admin/staff/1/roles would
		// otherwise revoke or strip whatever another test made first.
		path := routeParam.ReplaceAllString(rt.Path, noSuchID)
		for _, role := range auth.AllRoles {
			status := send(t, clients[role], rt.Method, path)
			if slices.Contains(rt.Roles, role) {
				require.NotEqual(t, http.StatusForbidden, status, "%s %s refused role %s it names", rt.Method, rt.Path, role)
				if path == rt.Path { // with an :id, 404 only says that the id names nothing
					require.NotEqual(t, http.StatusNotFound, status, "%s %s hidden from role %s it names", rt.Method, rt.Path, role)
				}
			} else {
				require.Equal(t, http.StatusForbidden, status, "%s %s answered role %s it does not name", rt.Method, rt.Path, role)
			}
		}
		require.Equal(t, http.StatusNotFound, send(t, customer, rt.Method, path), "customer reached %s %s", rt.Method, rt.Path)
		require.Contains(t, []int{http.StatusSeeOther, http.StatusFound}, send(t, visitor, rt.Method, path), "visitor reached %s %s", rt.Method, rt.Path)
	}
}

// Every route echo serves under /admin was registered through adminRoute,
// so the walk above covers it: one added with a bare g.GET would serve
// every signed-in staff member whatever their role.
func TestEveryAdminRouteIsInTheRoleTable(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	table := map[string]bool{}
	for _, rt := range b.app.Server.AdminRoutes() {
		table[rt.Method+" "+rt.Path] = true
	}
	served := 0
	for _, rt := range b.app.Server.Echo.Routes() {
		if (rt.Path != "/admin" && !strings.HasPrefix(rt.Path, "/admin/")) || rt.Method == "echo_route_not_found" {
			continue
		}
		served++
		require.True(t, table[rt.Method+" "+rt.Path], "%s %s is served but not in the role table (register it with adminRoute)", rt.Method, rt.Path)
	}
	require.Equal(t, len(table), served, "every route in the role table is served")
}

func send(t *testing.T, c *webtest.Client, method, path string) int {
	t.Helper()
	if method == http.MethodGet {
		return c.Get(path).Status
	}
	return c.PostForm(path, url.Values{}).Status
}

func TestAdminHomeShowsTheMenuForTheRoles(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c := b.staffClient(t, "menu-finance@example.com", auth.RoleFinance)
	p := c.Get("/admin")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "menu-finance@example.com", p.TestID("staff-login"))
	require.NotEmpty(t, p.TestID("role-finance"))
	require.Empty(t, p.TestID("role-admin"))
}

// Customers never see the back-office link; staff pages show it.
func TestBackOfficeLinkShowsOnlyToStaff(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	customer, _ := b.register(t, "nav-customer@example.com", "Customer")
	p := customer.Get("/portal")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 0, p.Doc.Find(`[data-testid="nav-admin.home"]`).Length())
	require.Equal(t, 1, p.Doc.Find(`[data-testid="nav-portal.usage"]`).Length())

	staff := b.staffClient(t, "nav-staff@example.com", auth.RoleSupport)
	p = staff.Get("/admin")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 1, p.Doc.Find(`[data-testid="nav-admin.home"]`).Length())
	require.Equal(t, 0, p.Doc.Find(`[data-testid="nav-portal.usage"]`).Length())
}
