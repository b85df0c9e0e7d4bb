package web

import (
	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/settings"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminDeps holds the services the back-office handlers use.
type adminDeps struct {
	bo       *backoffice.Service
	auth     *auth.Service
	ledger   *ledger.Ledger
	settings *settings.Store
	journal  *journal.Service
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
