package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/team"
	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

// publicPortalPaths are the routes under /portal that are not portal pages
// (no session needed): they are not in the authorization table.
var publicPortalPaths = map[string]bool{"auth.portal_link": true}

// TestEveryPortalRouteIsInTheAccessTable fails when a route under /portal
// is registered without a line in web.PortalAccess (it would be refused to
// everyone), or the table names a route that does not exist.
func TestEveryPortalRouteIsInTheAccessTable(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	table := web.PortalAccess()
	seen := map[string]bool{}
	for _, rt := range b.app.Server.Echo.Routes() {
		if !strings.HasPrefix(rt.Path, "/portal") || publicPortalPaths[rt.Name] || rt.Method == "echo_route_not_found" {
			continue
		}
		seen[rt.Name] = true
		roles, ok := table[rt.Name]
		require.Truef(t, ok, "%s %s (%s) is not in portalAccess (web/portal_authz.go)", rt.Method, rt.Path, rt.Name)
		require.NotEmpty(t, roles, rt.Name)
		require.Contains(t, roles, team.RoleOwner, "an owner may do everything: %s", rt.Name)
	}
	for name := range table {
		require.Truef(t, seen[name], "portalAccess names %s, which is not a registered portal route", name)
	}
}

// teamBundle is two enterprises: A with a member of every role (each also
// having its own individual account, switched to A), and B holding data
// that must never reach A's members.
type teamBundle struct {
	*portalBundle
	entA, entB  int64
	subA, subB  ledger.Account
	ownerA      *webtest.Client
	ownerAUser  auth.User
	members     map[team.Role]*webtest.Client
	memberUsers map[team.Role]auth.User
	bKey        relay.Key
	secrets     []string
}

func setupTeams(t *testing.T, prefix string) *teamBundle {
	t.Helper()
	ctx := context.Background()
	b := &teamBundle{portalBundle: setupPortal(t), members: map[team.Role]*webtest.Client{}, memberUsers: map[team.Role]auth.User{}}
	var err error
	b.ownerA, b.ownerAUser = b.register(t, prefix+"-owner-a@example.com", "A Corp")
	_, ub := b.register(t, prefix+"-owner-b@example.com", "B Corp")
	b.entA = b.enterprise(t, b.ownerAUser.ID, "A Corp")
	b.entB = b.enterprise(t, ub.ID, "B Corp")
	b.ownerAUser, err = b.auth.UserByID(ctx, b.ownerAUser.ID)
	require.NoError(t, err)
	b.subA, err = b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: b.entA, Name: "A research"})
	require.NoError(t, err)
	b.subB, err = b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: b.entB, Name: "B-secret-department"})
	require.NoError(t, err)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: b.entB, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(777777), IdempotencyKey: "b-topup"})
	require.NoError(t, err)
	b.charge(t, b.subB.ID, "b1", "b-secret-model", "b-secret-session", "4321", 1, 1)
	entB, err := b.ledger.Account(ctx, b.entB)
	require.NoError(t, err)
	b.bKey, _, err = b.app.Services.RelayKeys.Create(ctx, entB, relay.Customer{UserID: ub.ID, Email: ub.Email},
		relay.KeyForm{Name: "b-secret-key", AccountID: b.subB.ID})
	require.NoError(t, err)
	b.secrets = []string{"B-secret-department", "b-secret-model", "b-secret-session", "b-secret-key", "777,777", "4,321", prefix + "-owner-b"}

	for _, role := range team.Roles {
		login := prefix + "-" + string(role) + "@example.com"
		c, u := b.register(t, login, "Member "+string(role))
		b.invite(t, u, role, nil)
		b.switchTo(t, c, b.entA)
		b.members[role], b.memberUsers[role] = c, u
	}
	return b
}

// invite has A's owner invite u and u accept (through the service; the
// pages have their own tests).
func (b *teamBundle) invite(t *testing.T, u auth.User, role team.Role, limit []int64) {
	t.Helper()
	ctx := context.Background()
	_, tok, err := b.app.Services.Team.Invite(ctx, team.Actor{UserID: b.ownerAUser.ID, Email: b.ownerAUser.Email}, b.entA,
		team.InviteRequest{Email: u.Email, Role: role, Limit: limit})
	require.NoError(t, err)
	_, err = b.app.Services.Team.Accept(ctx, u, "", tok)
	require.NoError(t, err)
}

func (b *teamBundle) switchTo(t *testing.T, c *webtest.Client, account int64) {
	t.Helper()
	c.Get("/portal")
	p := c.PostForm("/portal/switch", url.Values{"account": {fmt.Sprint(account)}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, fmt.Sprint(account), p.TestID("account-id"))
}

// path fills a route's parameters with B's ids (or ids of nothing), so
// every request that names a thing names one that is not A's.
func (b *teamBundle) path(p string) string {
	r := strings.NewReplacer(":id", fmt.Sprint(b.subB.ID), ":no", "B-ORDER-1")
	if strings.Contains(p, "/keys/") {
		r = strings.NewReplacer(":id", fmt.Sprint(b.bKey.ID))
	}
	return r.Replace(p)
}

// bState is what of B a request of A's could change.
func (b *teamBundle) bState(t *testing.T) string {
	ctx := context.Background()
	var s string
	require.NoError(t, b.app.Pool.QueryRow(ctx, `
		SELECT concat_ws('|',
		  (SELECT string_agg(concat_ws(',', id, name, allocation, status), ';' ORDER BY id) FROM ledger_account_view WHERE pool_id = $1),
		  (SELECT count(*) FROM ledger_event_view WHERE pool_id = $1),
		  (SELECT string_agg(concat_ws(',', user_id, role, sub_accounts), ';' ORDER BY id) FROM team_members WHERE account_id = $1),
		  (SELECT count(*) FROM team_invitations WHERE account_id = $1),
		  (SELECT string_agg(concat_ws(',', id, revoked_at), ';' ORDER BY id) FROM relay_keys WHERE account_id IN (SELECT id FROM ledger_account_view WHERE pool_id = $1)))`,
		b.entB).Scan(&s))
	return s
}

// TestTeamRolesAndTenantIsolation walks every portal route of the
// authorization table as a member of enterprise A in each role: a route
// the role may not use answers 403 with the role's message (JSON for JSON
// endpoints), one it may use never shows or changes anything of
// enterprise B, whose ids fill every parameter.
func TestTeamRolesAndTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setupTeams(t, "iso")
	table := web.PortalAccess()
	before := b.bState(t)
	for _, role := range team.Roles {
		c := b.members[role]
		for _, rt := range b.app.Server.Echo.Routes() {
			roles, ok := table[rt.Name]
			if !ok || rt.Name == "portal.switch" || rt.Name == "portal.password.post" {
				continue // the switch and the user's own password have their own tests
			}
			path := b.path(rt.Path)
			var p *webtest.Page
			if rt.Method == http.MethodGet {
				p = c.Get(path)
			} else {
				p = c.PostForm(path, url.Values{"account": {fmt.Sprint(b.subB.ID)}, "from": {fmt.Sprint(b.subB.ID)},
					"to": {fmt.Sprint(b.subA.ID)}, "amount": {"1"}})
			}
			what := fmt.Sprintf("%s %s %s as %s", rt.Method, path, rt.Name, role)
			require.NotEqual(t, "/signin", p.URL.Path, what)
			if !slices.Contains(roles, role) {
				require.Equal(t, http.StatusForbidden, p.Status, what)
				if strings.HasSuffix(rt.Path, ".json") {
					require.Contains(t, p.Body, `"code":"forbidden_for_role"`, what)
				} else {
					require.Contains(t, p.Body, "您在此账户中的角色无权访问此页面", what)
				}
				continue
			}
			require.NotEqual(t, http.StatusForbidden, p.Status, what)
			require.NotEqual(t, http.StatusInternalServerError, p.Status, what+": "+p.Body)
			body := strings.ReplaceAll(p.Body, url.QueryEscape(path), "")
			for _, s := range b.secrets {
				require.NotContains(t, body, s, what)
			}
			if strings.Contains(rt.Path, ":") && rt.Method == http.MethodGet {
				require.NotEqual(t, http.StatusOK, p.Status, "%s: B's id is not found", what)
			}
			// Every answer stayed on A.
			require.Equal(t, before, b.bState(t), what)
		}
	}
	require.Equal(t, before, b.bState(t))
}

// TestAccountSwitch: a member switches between its own account and the
// enterprise; an account it is not a member of is not found; removed, it
// falls back to its own account at once.
func TestAccountSwitch(t *testing.T) {
	t.Parallel()
	b := setupTeams(t, "switch")
	ctx := context.Background()
	c, u := b.members[team.RoleViewer], b.memberUsers[team.RoleViewer]
	p := c.Get("/portal")
	require.Equal(t, fmt.Sprint(b.entA), p.TestID("account-id"))
	require.Equal(t, 2, p.Doc.Find(`[data-testid="account-switch-select"] option`).Length())
	require.Contains(t, p.Doc.Find(`[data-testid="account-switch-select"] option[selected]`).Text(), "A Corp")

	p = c.PostForm("/portal/switch", url.Values{"account": {fmt.Sprint(b.entB)}})
	require.Equal(t, http.StatusNotFound, p.Status)
	p = c.PostForm("/portal/switch", url.Values{"account": {fmt.Sprint(b.subA.ID)}})
	require.Equal(t, http.StatusNotFound, p.Status, "a member of A is not the owner of A's department")
	require.Equal(t, fmt.Sprint(b.entA), c.Get("/portal").TestID("account-id"))

	b.switchTo(t, c, u.AccountID)
	p = c.Get("/portal/topup")
	require.Equal(t, http.StatusOK, p.Status, "owner of its own account")
	require.Equal(t, 1, p.Doc.Find(`[data-testid="nav-portal.topup"]`).Length())
	b.switchTo(t, c, b.entA)
	p = c.Get("/portal/topup")
	require.Equal(t, http.StatusForbidden, p.Status)
	// The viewer's menu offers only what it may open.
	p = c.Get("/portal")
	require.Zero(t, p.Doc.Find(`[data-testid="nav-portal.topup"]`).Length())
	require.Zero(t, p.Doc.Find(`[data-testid="nav-autotopup"]`).Length())
	require.Equal(t, 1, p.Doc.Find(`[data-testid="nav-portal.usage"]`).Length())

	ms, err := b.app.Services.Team.Members(ctx, b.entA)
	require.NoError(t, err)
	for _, m := range ms {
		if m.UserID == u.ID {
			require.NoError(t, b.app.Services.Team.Remove(ctx, team.Actor{UserID: b.ownerAUser.ID, Email: b.ownerAUser.Email}, b.entA, m.ID))
		}
	}
	p = c.Get("/portal")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, fmt.Sprint(u.AccountID), p.TestID("account-id"), "removed: back on its own account")
	require.Zero(t, p.Doc.Find(`[data-testid="account-switch"]`).Length())
}

// TestLimitedMemberSeesOnlyItsSubAccounts: a developer of enterprise A
// limited to one department sees and changes only that department's
// accounts, usage, keys and budgets; another department of A is not found;
// every route of the pool as a whole is refused (403), table-driven.
func TestLimitedMemberSeesOnlyItsSubAccounts(t *testing.T) {
	t.Parallel()
	b := setupTeams(t, "limited")
	b.withRateCard(t)
	ctx := context.Background()
	other, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: b.entA, Name: "A-hidden-department"})
	require.NoError(t, err)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: b.entA, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(1000), IdempotencyKey: "limited-a-topup"})
	require.NoError(t, err)
	b.charge(t, other.ID, "hidden1", "hidden-model", "", "55", 1, 1)
	b.charge(t, b.subA.ID, "seen1", "seen-model", "", "66", 1, 1)
	login := "limited-dev-ltd@example.com"
	c, u := b.register(t, login, "Limited")
	b.invite(t, u, team.RoleDeveloper, []int64{b.subA.ID})
	b.switchTo(t, c, b.entA)

	table, limited := web.PortalAccess(), web.LimitedRoutes()
	for name := range limited {
		require.Contains(t, table, name, "LimitedRoutes names a route portalAccess does not")
	}
	for _, rt := range b.app.Server.Echo.Routes() {
		if _, ok := table[rt.Name]; !ok || limited[rt.Name] || rt.Method != http.MethodGet {
			continue
		}
		p := c.Get(strings.NewReplacer(":id", fmt.Sprint(b.subA.ID), ":no", "X").Replace(rt.Path))
		require.Equal(t, http.StatusForbidden, p.Status, "%s is the whole pool's", rt.Name)
	}

	p := c.Get("/portal/accounts")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 1, p.Doc.Find(`[data-testid="sub-account-row"]`).Length())
	require.NotContains(t, p.Body, "A-hidden-department")
	require.Equal(t, http.StatusOK, c.Get(fmt.Sprintf("/portal/accounts/%d", b.subA.ID)).Status)
	require.Equal(t, http.StatusNotFound, c.Get(fmt.Sprintf("/portal/accounts/%d", other.ID)).Status)
	p = c.Get("/portal/usage")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "66", p.TestID("total-charged"), "its department's usage only")
	require.NotContains(t, p.Body, "hidden-model")
	require.NotContains(t, p.Body, "A-hidden-department")
	require.Equal(t, http.StatusNotFound, c.Get(fmt.Sprintf("/portal/usage?account=%d", other.ID)).Status)
	require.Equal(t, http.StatusNotFound, c.Get(fmt.Sprintf("/portal/usage.csv?account=%d", b.entA)).Status)
	p = c.Get("/portal")
	require.Equal(t, http.StatusOK, p.Status)
	require.NotContains(t, p.Body, "hidden-model")

	// Keys and budgets: its department only.
	c.Get("/portal/keys")
	p = c.PostForm("/portal/keys", url.Values{"account": {fmt.Sprint(other.ID)}, "name": {"nope"}})
	require.Equal(t, http.StatusNotFound, p.Status)
	p = c.PostForm("/portal/keys", url.Values{"account": {fmt.Sprint(b.subA.ID)}, "name": {"limited-key"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("apikey-secret"))
	entA, err := b.ledger.Account(ctx, b.entA)
	require.NoError(t, err)
	hidden, _, err := b.app.Services.RelayKeys.Create(ctx, entA, relay.Customer{UserID: b.ownerAUser.ID, Email: b.ownerAUser.Email},
		relay.KeyForm{Name: "hidden-key", AccountID: other.ID})
	require.NoError(t, err)
	p = c.Get("/portal/keys")
	require.Contains(t, p.Body, "limited-key")
	require.NotContains(t, p.Body, "hidden-key")
	require.Equal(t, http.StatusNotFound, c.PostForm(fmt.Sprintf("/portal/keys/%d/revoke", hidden.ID), url.Values{}).Status)
	p = c.PostForm("/portal/budgets", url.Values{"account": {fmt.Sprint(other.ID)}, "period": {"month"}, "amount": {"100"}, "unit": {"credits"}, "thresholds": {"50"}})
	require.Equal(t, http.StatusNotFound, p.Status)
}
