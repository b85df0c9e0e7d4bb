// Package admin holds the back-office views (/admin): the frame with its
// section menu and one file per resource.
package admin

import "slices"

// Frame is what every back-office page needs: the active menu entry, the
// signed-in staff login and their roles (the menu shows what they reach).
type Frame struct {
	Active string
	Login  string
	Roles  []string
}

// Has reports whether the staff user holds any of roles.
func (f Frame) Has(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(f.Roles, r) {
			return true
		}
	}
	return false
}

// Section is one entry of the back-office menu: a route name, a fallback
// path until the route exists, the i18n key of its label, and the roles
// that see it.
type Section struct {
	Route, Fallback, Key string
	Roles                []string
}

// Sections is the back-office menu, in order. Areas add their entry here.
var Sections = []Section{
	{"admin.home", "/admin", "admin.menu.home", []string{"support", "finance", "admin"}},
	{"admin.customers", "/admin/customers", "admin.menu.customers", []string{"support", "finance", "admin"}},
	{"admin.approvals", "/admin/approvals", "admin.menu.approvals", []string{"support", "finance", "admin"}},
	{"admin.statements", "/admin/statements", "admin.menu.statements", []string{"finance"}},
	{"admin.refunds", "/admin/refunds", "admin.menu.refunds", []string{"finance"}},
	{"admin.reviews", "/admin/reviews", "admin.menu.reviews", []string{"finance"}},
	{"admin.reports", "/admin/reports", "admin.menu.reports", []string{"finance", "admin"}},
	{"admin.analytics", "/admin/analytics", "admin.menu.analytics", []string{"finance", "admin"}},
	{"admin.journal", "/admin/journal", "admin.menu.journal", []string{"finance", "admin"}},
	{"admin.margins", "/admin/margins", "admin.menu.margins", []string{"finance", "admin"}},
	{"admin.costs", "/admin/costs", "admin.menu.costs", []string{"finance", "admin"}},
	{"admin.channel", "/admin/channel", "admin.menu.channel", []string{"finance"}},
	{"admin.reasons", "/admin/reasons", "admin.menu.reasons", []string{"admin"}},
	{"admin.staff", "/admin/staff", "admin.menu.staff", []string{"admin"}},
	{"admin.keys", "/admin/keys", "admin.menu.keys", []string{"admin"}},
	{"admin.upstreams", "/admin/upstreams", "admin.menu.upstreams", []string{"admin"}},
	{"admin.webhooks", "/admin/webhooks", "admin.menu.webhooks", []string{"support", "admin"}},
	{"admin.usage_dlq", "/admin/usage-dlq", "admin.menu.usage_dlq", []string{"finance", "admin"}},
	{"admin.codes", "/admin/codes", "admin.menu.codes", []string{"finance", "admin"}},
	{"admin.audit", "/admin/audit", "admin.menu.audit", []string{"finance", "admin"}},
	{"admin.kyc", "/admin/kyc", "admin.menu.kyc", []string{"support", "admin"}},
	{"admin.invoices", "/admin/invoices", "admin.menu.invoices", []string{"finance", "admin"}},
	{"admin.plans", "/admin/plans", "admin.menu.plans", []string{"admin"}},
	{"admin.products", "/admin/products", "admin.menu.products", []string{"admin"}},
	{"admin.subscriptions", "/admin/subscriptions", "admin.menu.subscriptions", []string{"support", "finance", "admin"}},
	{"admin.settings", "/admin/settings", "admin.menu.settings", []string{"admin"}},
}
