package web

import (
	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
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

// fieldError is the message of one field a handler's own check refused
// (code, one of ownFieldCodes), through the one translator.
func fieldError(c echo.Context, field, code string) adminview.Errors {
	return fieldMessages(c, fielderr.One("web", field, code))
}

// ownFieldCodes are the codes of the back-office handlers' own checks, for
// the locale test.
var ownFieldCodes = []string{"file_required", "bank_ref_required", "roles_required", "account_required"}
