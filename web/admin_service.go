package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/reconcile"
	"github.com/seed75218f88/credits/internal/settings"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminDeps holds the services the back-office handlers use.
type adminDeps struct {
	bo       *backoffice.Service
	auth     *auth.Service
	ledger   *ledger.Ledger
	settings *settings.Store
}

// actor is the signed-in staff user and the request's address, as the
// back office records them.
func actor(c echo.Context) backoffice.Actor {
	return backoffice.Actor{User: staffFrom(c), IP: ClientIP(c)}
}

// validationCodes are back-office errors about what was typed: the form is
// shown again with the message next to its field.
var validationCodes = map[string]bool{
	"invalid_amount": true, "invalid_expiry": true, "reason_required": true, "unknown_reason_code": true,
	"invalid_reason_code": true, "reason_code_exists": true, "missing_idempotency_key": true, "invalid_batch": true,
	"invalid_code": true, "code_used": true, "code_expired": true, "already_redeemed": true, "redeem_throttled": true,
	"empty_statement": true, "empty_bill": true, "account_not_found": true, "account_frozen": true, "refund_exceeds_paid": true,
	"invalid_key_name": true, "invalid_key_mode": true,
}

// formError turns a validation error from the back office (or a file parse
// error) into a message for its field and the status the form is sent
// with (422, 429 when throttled). ok is false for any other error, which
// the handler returns to the error table.
func formError(c echo.Context, err error) (errs adminview.Errors, status int, ok bool) {
	var be *backoffice.Error
	if errors.As(err, &be) && validationCodes[be.Code] {
		status = http.StatusUnprocessableEntity
		if be.Code == "redeem_throttled" {
			status = http.StatusTooManyRequests
		}
		return adminview.Errors{be.Field: tr(c, "error.admin."+be.Code)}, status, true
	}
	var tooLarge *reconcile.TooLargeError
	if errors.As(err, &tooLarge) {
		return adminview.Errors{"file": importTooLarge(c, tooLarge)}, http.StatusUnprocessableEntity, true
	}
	var row *reconcile.RowError
	if errors.As(err, &row) {
		return adminview.Errors{"file": importRowError(c, row)}, http.StatusUnprocessableEntity, true
	}
	for _, p := range []struct {
		target error
		key    string
	}{
		{reconcile.ErrUnsupportedFormat, "error.admin.file_unsupported"},
		{reconcile.ErrNoHeader, "error.admin.file_no_header"},
		{reconcile.ErrMissingColumn, "error.admin.file_missing_column"},
		{reconcile.ErrMalformedRow, "error.admin.file_malformed_row"},
		{reconcile.ErrNoBankAccount, "error.admin.bank_account_required"},
	} {
		if errors.Is(err, p.target) {
			field := "file"
			if p.target == reconcile.ErrNoBankAccount {
				field = "bank_account"
			}
			return adminview.Errors{field: tr(c, p.key)}, http.StatusUnprocessableEntity, true
		}
	}
	return nil, 0, false
}

// importRowError names the row, the column and the value a file's line
// could not be read at, and the largest amount when that was the reason.
func importRowError(c echo.Context, e *reconcile.RowError) string {
	ctx := c.Request().Context()
	msg := i18n.Tf(ctx, "error.admin.file_row", map[string]string{"Row": strconv.Itoa(e.Row), "Column": e.Column.Label(), "Value": e.Value})
	if errors.Is(e, reconcile.ErrAmountTooLarge) {
		msg += " " + i18n.Tf(ctx, "error.admin.file_row_amount_max", map[string]string{"Max": format.Money(reconcile.MaxAmount)})
	}
	return msg
}

// importTooLarge says which limit an uploaded file passed, with the limit.
func importTooLarge(c echo.Context, e *reconcile.TooLargeError) string {
	max := format.Credits(decimal.NewFromInt(e.Max))
	if e.Limit != reconcile.LimitRows {
		max = strconv.FormatInt(e.Max>>20, 10)
	}
	return i18n.Tf(c.Request().Context(), "error.admin.file_too_large_"+string(e.Limit), map[string]string{"Max": max})
}

// fieldError is one field's message for a handler's own check.
func fieldError(c echo.Context, field, key string) adminview.Errors {
	return adminview.Errors{field: tr(c, key)}
}
