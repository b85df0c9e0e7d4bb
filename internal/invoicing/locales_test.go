package invoicing_test

import (
	"testing"

	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/platform/i18n/i18ntest"
)

// TestLocalesCoverCodes: every error and field code has a message in both languages.
func TestLocalesCoverCodes(t *testing.T) {
	t.Parallel()
	// Field codes (invoicing.FieldCodes) are checked by web's TestFieldCodesHaveMessages.
	codes := []string{invoicing.ReasonCancelled}
	for _, err := range []error{invoicing.ErrNotFound, invoicing.ErrExceedsInvoiceable, invoicing.ErrUnknownTopUp,
		invoicing.ErrWrongState, invoicing.ErrReasonRequired, invoicing.ErrDuplicateNumber, invoicing.ErrSellerNotConfigured} {
		codes = append(codes, invoicing.Code(err))
	}
	var keys []string
	for _, c := range codes {
		keys = append(keys, "error.invoicing."+c)
	}
	for _, s := range []invoicing.State{invoicing.StateRequested, invoicing.StateIssued, invoicing.StateReversed, invoicing.StateReissued, invoicing.StateRejected} {
		keys = append(keys, "invoice.state."+string(s))
	}
	i18ntest.RequireKeys(t, keys...)
}
