package web

import (
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/passwordreset"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/usage"
)

// portal holds the services the portal and sign-in handlers use.
type portal struct {
	ledger *ledger.Ledger
	auth   *auth.Service
	usage  *usage.Store
	signup *signup.Service
	resets *passwordreset.Service
	price  decimal.Decimal // RMB per credit
	views  *portalViews
}

// newPortal takes the portal's services from d; resetLink is the absolute
// URL of the password-reset page for a token.
func newPortal(d Deps, resetLink func(token string) string) *portal {
	ttl := d.ViewCache
	if ttl == 0 {
		ttl = DefaultViewCache
	}
	return &portal{ledger: d.Ledger, auth: d.Auth, usage: d.Usage, signup: d.Signup, price: d.Config.CreditPriceRMB,
		views:  newPortalViews(ttl),
		resets: &passwordreset.Service{Pool: failoverPool(d), Auth: d.Auth, Jobs: d.Jobs, I18n: d.I18n, Link: resetLink}}
}
