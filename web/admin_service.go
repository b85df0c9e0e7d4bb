package web

import (
	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminDeps holds the services the back-office handlers use.
type adminDeps struct {
	bo     *backoffice.Service
	auth   *auth.Service
	ledger *ledger.Ledger
}

// newAdmin takes the back office from d, or builds one over the portal's
// ledger and users without payment collaborators, its service keys kept
// through the gateway's key store (or a store of its own when this server
// has no API to cache keys).
func newAdmin(d Deps, p *portal) *adminDeps {
	a := &adminDeps{bo: d.Backoffice, auth: p.auth, ledger: p.ledger}
	if a.bo == nil {
		keys := gateway.NewKeyStore(d.Pool, 0)
		if d.Gateway != nil {
			keys = d.Gateway.Keys
		}
		a.bo = backoffice.New(d.Pool, p.ledger, p.auth, backoffice.Options{CreditPriceRMB: d.Config.CreditPriceRMB, Keys: keys.BackOffice()})
	}
	return a
}

// actor is the signed-in staff user and the request's address, as the
// back office records them.
func actor(c echo.Context) backoffice.Actor {
	return backoffice.Actor{User: staffFrom(c), IP: ClientIP(c)}
}

// fieldError is one field's message for a handler's own check.
func fieldError(c echo.Context, field, key string) adminview.Errors {
	return adminview.Errors{field: tr(c, key)}
}
