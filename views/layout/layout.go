// Package layout holds the page frame every full page is rendered in: head,
// header with navigation and language switch, main, footer.
package layout

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/views/components"
)

// Page is the view model of the frame around a page's content.
type Page struct {
	// Title is the localized page title (the product name is appended).
	Title string
	// Active is the route name of the current menu entry, e.g. "portal.usage".
	Active string
	// Enterprise shows the entries only an enterprise's owner uses
	// (sub-accounts).
	Enterprise bool
	// Allowed, when set, says which routes the signed-in member's role may
	// use on this account: the menu shows only those.
	Allowed func(route string) bool
}

// NavItem is one menu entry: a route name (with a fallback path until the
// route exists) and the i18n key of its label. Staff entries show on
// back-office pages only, customer entries everywhere else, so customers
// never see a link they cannot use.
type NavItem struct {
	Route      string
	Fallback   string
	Key        string
	Staff      bool
	Enterprise bool // only for an enterprise's own pages
}

// Nav is the main menu, in order. The portal and back office register
// routes with these names; until then the links use the fallback paths.
var Nav = []NavItem{
	{Route: "portal.overview", Fallback: "/portal", Key: "menu.overview"},
	{Route: "portal.usage", Fallback: "/portal/usage", Key: "menu.usage"},
	{Route: "portal.transactions", Fallback: "/portal/transactions", Key: "menu.transactions"},
	{Route: "portal.budgets", Fallback: "/portal/budgets", Key: "menu.budgets"},
	{Route: "portal.keys", Fallback: "/portal/keys", Key: "menu.api_keys"},
	{Route: "portal.accounts", Fallback: "/portal/accounts", Key: "menu.sub_accounts", Enterprise: true},
	{Route: "portal.plans", Fallback: "/portal/plans", Key: "menu.plans"},
	{Route: "portal.products", Fallback: "/portal/products", Key: "menu.products"},
	{Route: "portal.topup", Fallback: "/portal/topup", Key: "menu.topup"},
	{Route: "portal.orders", Fallback: "/portal/orders", Key: "menu.orders"},
	{Route: "portal.redeem", Fallback: "/portal/redeem", Key: "menu.redeem"},
	{Route: "portal.verification", Fallback: "/portal/verification", Key: "menu.verification"},
	{Route: "portal.invoices", Fallback: "/portal/invoices", Key: "menu.invoices"},
	{Route: "portal.statements", Fallback: "/portal/statements", Key: "menu.statements"},
	{Route: "portal.bills", Fallback: "/portal/bills", Key: "menu.bills", Enterprise: true},
	{Route: "admin.home", Fallback: "/admin", Key: "menu.admin", Staff: true},
}

// VisitorNav is the menu of a visitor who is not signed in.
var VisitorNav = []NavItem{
	{Route: "auth.signin", Fallback: "/signin", Key: "menu.signin"},
	{Route: "auth.signup", Fallback: "/signup", Key: "menu.signup"},
}

// navFor is the menu for a page: the back office's entries on /admin pages
// (Active "admin.…"), the customer's everywhere else, and sign-in and
// sign-up for a visitor.
func navFor(ctx context.Context, p Page) []NavItem {
	if !components.RequestFrom(ctx).SignedIn {
		return VisitorNav
	}
	staff := strings.HasPrefix(p.Active, "admin.")
	var items []NavItem
	for _, item := range Nav {
		if item.Staff == staff && (!item.Enterprise || p.Enterprise) && (p.Allowed == nil || staff || p.Allowed(item.Route)) {
			items = append(items, item)
		}
	}
	return items
}

// htmxConfig keeps htmx within the CSP (no inline indicator <style>, no
// eval) and lets it swap 4xx/5xx bodies, which the error handler retargets
// to #flash.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true}]}`

// langURL is the language switch link for lang, returning to the current page.
func langURL(ctx context.Context, lang string) string {
	next := components.RequestFrom(ctx).Path
	if next == "" {
		next = "/"
	}
	return components.URL(ctx, "lang", "/lang/"+lang, lang) + "?next=" + url.QueryEscape(next)
}

func pageTitle(ctx context.Context, p Page) string {
	if p.Title == "" {
		return i18n.T(ctx, "app.name")
	}
	return p.Title + " · " + i18n.T(ctx, "app.name")
}

func current(ok bool) string {
	if ok {
		return "page"
	}
	return "false"
}

// errorTitle is the error page's heading: a 410 is something that was
// here and no longer is (an archived month, a used invitation), not a
// fault.
func errorTitle(status int) string {
	if status == http.StatusGone {
		return "error.title_gone"
	}
	return "error.title"
}
