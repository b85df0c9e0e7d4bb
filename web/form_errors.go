package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/reconcile"
)

// fieldErrors is the one translator of a refused submission: when err holds
// a *fielderr.Errors (every field a domain found wrong, or the handler's own
// checks), it returns each field's message in the user's language (the i18n
// key error.field.<code>, filled with the field's arguments) and the status
// the form is shown again with: the error table's when that is 429 (the
// form says wait), else 422. ok is false for any other error, which the
// handler returns to the error table.
func (s *Server) fieldErrors(c echo.Context, err error) (msgs map[string]string, status int, ok bool) {
	fe, ok := fielderr.As(err)
	if !ok {
		fe, ok = importFields(err)
	}
	if !ok {
		return nil, 0, false
	}
	status = http.StatusUnprocessableEntity
	if m := s.LookupError(err); m.Status == http.StatusTooManyRequests {
		status = m.Status
	}
	return fieldMessages(c, fe), status, true
}

// archivedCSV answers a download whose start lies in the archived months
// (the revenue report's CSV, the journal's) with 410 and its page's words
// on the from field: the first date it may start on, in the user's
// language. Any other error is returned as is, to the error table.
func (s *Server) archivedCSV(c echo.Context, err error) error {
	if msgs, _, ok := s.fieldErrors(c, err); ok && msgs["from"] != "" && errors.Is(err, ledger.ErrArchived) {
		return c.String(http.StatusGone, msgs["from"])
	}
	return err
}

// fieldMessages is the message of each failed field of fe, by field name.
func fieldMessages(c echo.Context, fe *fielderr.Errors) map[string]string {
	ctx := c.Request().Context()
	msgs := make(map[string]string, len(fe.Fields))
	for _, f := range fe.Fields {
		msgs[f.Name] = i18n.Tf(ctx, fieldKey(f.Code), f.Args)
	}
	return msgs
}

// fieldKey is the i18n key of a field code's message.
func fieldKey(code string) string { return "error.field." + code }

// importFields turns the errors of reading an uploaded statement or bill
// (internal/reconcile) into the field failures of the import form: the
// file, or the bank account the file does not name. ok is false for any
// other error.
func importFields(err error) (*fielderr.Errors, bool) {
	errs := fielderr.New("reconcile")
	var tooLarge *reconcile.TooLargeError
	var row *reconcile.RowError
	switch {
	case errors.As(err, &tooLarge):
		max := format.Credits(decimal.NewFromInt(tooLarge.Max))
		if tooLarge.Limit != reconcile.LimitRows {
			max = strconv.FormatInt(tooLarge.Max>>20, 10)
		}
		return errs.Add("file", "file_too_large_"+string(tooLarge.Limit), "max", max), true
	case errors.As(err, &row):
		code, args := "file_row", []string{"row", strconv.Itoa(row.Row), "column", row.Column.Label(), "value", row.Value}
		if errors.Is(row, reconcile.ErrAmountTooLarge) {
			code, args = "file_row_amount_too_large", append(args, "max", format.Money(reconcile.MaxAmount))
		}
		return errs.Add("file", code, args...), true
	case errors.Is(err, reconcile.ErrNoBankAccount):
		return errs.Add("bank_account", "bank_account_required"), true
	}
	for _, p := range []struct {
		target error
		code   string
	}{
		{reconcile.ErrUnsupportedFormat, "file_unsupported"},
		{reconcile.ErrNoHeader, "file_no_header"},
		{reconcile.ErrMissingColumn, "file_missing_column"},
		{reconcile.ErrMalformedRow, "file_malformed_row"},
	} {
		if errors.Is(err, p.target) {
			return errs.Add("file", p.code), true
		}
	}
	return nil, false
}

// importCodes are the field codes importFields reports, for the locale test.
var importCodes = []string{"file_too_large_" + string(reconcile.LimitFileBytes), "file_too_large_" + string(reconcile.LimitUnzippedBytes),
	"file_too_large_" + string(reconcile.LimitRows), "file_row", "file_row_amount_too_large", "bank_account_required",
	"file_unsupported", "file_no_header", "file_missing_column", "file_malformed_row"}
