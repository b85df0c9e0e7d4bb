package web

import (
	"errors"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/team"
)

// Role sets of the portal: reads are open to every member; each kind of
// change to the roles that own it.
var (
	everyRole  = []team.Role{team.RoleOwner, team.RoleFinance, team.RoleDeveloper, team.RoleViewer}
	ownerOnly  = []team.Role{team.RoleOwner}
	financial  = []team.Role{team.RoleOwner, team.RoleFinance}
	developers = []team.Role{team.RoleOwner, team.RoleDeveloper}
)

// portalAccess is THE authorization table of the portal: every named route
// under /portal (and the account switch) with the roles that may use it on
// the account the user acts on. authorizePortal applies it to every portal
// request; a route missing here is refused to everyone, and
// TestEveryPortalRouteIsInTheAccessTable fails until it is added. An
// individual's (or a sub-account's) own user is its owner (team.Resolve).
//
// owner: everything, members included. finance: top-ups, orders, refunds,
// invoices, plans and products, auto top-up, codes, alerts. developer: API
// keys and budgets (of the sub-accounts it may see). viewer: reads only.
var portalAccess = map[string][]team.Role{
	// Overview, usage and statements: read by every member.
	"portal.overview":          everyRole,
	"portal.usage":             everyRole,
	"portal.usage.rows":        everyRole,
	"portal.usage.chart":       everyRole,
	"portal.usage.csv":         everyRole,
	"portal.transactions":      everyRole,
	"portal.transactions.rows": everyRole,
	"portal.transactions.csv":  everyRole,

	// Sub-accounts (departments): read by all, changed by owners.
	"portal.accounts":          everyRole,
	"portal.accounts.create":   ownerOnly,
	"portal.accounts.transfer": ownerOnly,
	"portal.account":           everyRole,
	"portal.account.update":    ownerOnly,
	"portal.account.models":    ownerOnly,

	// The user's own password: every member sets its own.
	"portal.password":      everyRole,
	"portal.password.post": everyRole,

	// Balance alerts and the referral invite link.
	"portal.alerts":      everyRole,
	"portal.alerts.save": financial,
	"portal.invite":      everyRole,

	// Plans and one-time products: read by all, bought and changed by finance.
	"portal.plans":                 everyRole,
	"portal.plans.buy":             financial,
	"portal.products":              everyRole,
	"portal.products.buy":          financial,
	"portal.plan.preference":       financial,
	"portal.plans.renew":           financial,
	"portal.plans.change":          financial,
	"portal.plans.withdraw":        financial,
	"portal.plans.cancel":          financial,
	"portal.plans.resume":          financial,
	"portal.plans.refund":          financial,
	"portal.plans.refund_upgrade":  financial,
	"portal.redeem":                financial,
	"portal.redeem.post":           financial,
	"portal.autotopup":             financial,
	"portal.autotopup.sign":        financial,
	"portal.autotopup.settings":    financial,
	"portal.autotopup.pause":       financial,
	"portal.autotopup.resume":      financial,
	"portal.autotopup.unsign":      financial,
	"portal.verification":          everyRole,
	"portal.verification.person":   ownerOnly,
	"portal.verification.company":  ownerOnly,
	"portal.invoices":              financial,
	"portal.invoices.request":      financial,
	"portal.invoice.pdf":           financial,
	"portal.invoice.cancel":        financial,
	"portal.invoice.titles":        financial,
	"portal.invoice.titles.create": financial,
	"portal.invoice.title":         financial,
	"portal.invoice.title.update":  financial,
	"portal.invoice.title.delete":  financial,

	// Monthly statements (web/portal_statements.go): the whole pool's money.
	"portal.statements":     financial,
	"portal.statement.pdf":  financial,
	"portal.statement.xlsx": financial,

	// Credit line bills (web/portal_bills.go): what the enterprise owes.
	"portal.bills": financial,
	"portal.bill":  financial,
	// Paying a bill by QR: an order of the enterprise, like a top-up.
	"portal.bill.pay": financial,

	// Top-ups and orders (web/pay.go).
	"portal.topup":         financial,
	"portal.topup.create":  financial,
	"portal.orders":        financial,
	"portal.order":         financial,
	"portal.order.receipt": financial,
	"portal.order.status":  financial,
	"portal.order.qr":      financial,
	"portal.order.close":   financial,
	"portal.order.open":    financial,
	"portal.order.refund":  financial,

	// Budgets and API keys: read by all, changed by developers.
	"portal.budgets":           everyRole,
	"portal.budgets.save":      developers,
	"portal.budgets.delete":    developers,
	"portal.budgets.spend":     everyRole,
	"portal.budgets.spend.csv": everyRole,
	"portal.keys":              everyRole,
	"portal.keys.create":       developers,
	"portal.key.revoke":        developers,

	// Team members (web/portal_team.go): the list for all, changes by owners.
	"portal.team":        everyRole,
	"portal.team.invite": ownerOnly,
	"portal.team.role":   ownerOnly,
	"portal.team.limit":  ownerOnly,
	"portal.team.remove": ownerOnly,
	"portal.team.revoke": ownerOnly,

	// The account switch: any account the user may act on.
	"portal.switch": everyRole,
}

// limitedRoutes are the portal routes a member limited to some
// sub-accounts may use (when its role allows them too): those that show or
// change only what its sub-accounts own. The pages of the whole pool
// (statements, orders, invoices, plans bought, alerts) are not among them,
// so a route added to portalAccess is refused to limited members until it
// is added here.
var limitedRoutes = map[string]bool{
	"portal.overview": true, "portal.usage": true, "portal.usage.rows": true, "portal.usage.chart": true, "portal.usage.csv": true,
	"portal.accounts": true, "portal.account": true,
	"portal.keys": true, "portal.keys.create": true, "portal.key.revoke": true,
	"portal.budgets": true, "portal.budgets.save": true, "portal.budgets.delete": true, "portal.budgets.spend": true, "portal.budgets.spend.csv": true,
	"portal.password": true, "portal.password.post": true, "portal.team": true, "portal.switch": true,
}

// may reports whether the customer may use the named portal route on the
// account it acts on: its role (portalAccess) and, for a member limited to
// some sub-accounts, limitedRoutes.
func (cu customer) may(route string) bool {
	return may(route, cu.Access.Role) && (!cu.Access.Limited() || limitedRoutes[route])
}

// sees reports whether the customer may see account id of its enterprise:
// an unlimited member every one (the enterprise itself included), a member
// limited to some sub-accounts only those.
func (cu customer) sees(id int64) bool {
	if !cu.Access.Limited() {
		return true
	}
	return id != cu.Account.ID && cu.Access.Sees(id)
}

// ErrPortalForbidden: the member's role does not allow this portal page or
// action on the account it acts on (403, a page naming the role).
var ErrPortalForbidden = errors.New("web: this role may not use this page")

// may reports whether role may use the named portal route.
func may(route string, role team.Role) bool { return slices.Contains(portalAccess[route], role) }

// authorizePortal is the one middleware applying portalAccess, after
// requireCustomer resolved the account and the role: a route the table does
// not name, or names without the role, is refused with 403.
func (s *Server) authorizePortal(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := s.routeNames[c.Request().Method+" "+c.Path()]
		if !customerOf(c).may(name) {
			return ErrPortalForbidden
		}
		return next(c)
	}
}

// nameRoutes records every route's name by method and path, once all are
// registered.
func (s *Server) nameRoutes() {
	s.routeNames = make(map[string]string)
	for _, r := range s.Echo.Routes() {
		s.routeNames[r.Method+" "+r.Path] = r.Name
	}
}

// PortalSwitch makes accountID (one the user may act on) the account the
// portal shows from now on in this session (POST /portal/switch).
func (s *Server) PortalSwitch(c echo.Context) error {
	cu := customerOf(c)
	id, err := parseID(c.FormValue("account"))
	if err != nil {
		return err
	}
	if _, err := s.team.Resolve(c.Request().Context(), cu.User.ID, cu.User.AccountID, id); err != nil {
		return err
	}
	s.Sessions.Put(c.Request().Context(), sessionAccountKey, id)
	return HXRedirect(c, s.URL("portal.overview"))
}

// LimitedRoutes returns the routes a member limited to some sub-accounts
// may use, for the tests.
func LimitedRoutes() map[string]bool {
	out := make(map[string]bool, len(limitedRoutes))
	for k, v := range limitedRoutes {
		out[k] = v
	}
	return out
}

// PortalAccess returns a copy of the portal's authorization table (route
// name → roles), for the tests that walk every portal route in every role.
func PortalAccess() map[string][]team.Role {
	out := make(map[string][]team.Role, len(portalAccess))
	for k, v := range portalAccess {
		out[k] = slices.Clone(v)
	}
	return out
}
