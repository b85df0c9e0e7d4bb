package invoicing_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing"
)

var keyLine = regexp.MustCompile(`(?m)^"([^"]+)"\s*=`)

func localeKeys(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	keys := map[string]bool{}
	for _, m := range keyLine.FindAllStringSubmatch(string(b), -1) {
		require.False(t, keys[m[1]], "%s defines %s twice", file, m[1])
		keys[m[1]] = true
	}
	return keys
}

// TestLocalesCoverCodes: every error and field code has a message in both languages.
func TestLocalesCoverCodes(t *testing.T) {
	t.Parallel()
	zh := localeKeys(t, "../../locales/invoicing.zh-CN.toml")
	en := localeKeys(t, "../../locales/invoicing.en.toml")
	require.Equal(t, zh, en)
	codes := []string{invoicing.CodeRequired, invoicing.CodeTooLong, invoicing.CodeInvalid, invoicing.CodeNotAllowed,
		invoicing.CodeSpecialRequiresCompany, invoicing.CodeDuplicate, invoicing.ReasonCancelled,
		identity.Code(identity.ErrCreditFormat), identity.Code(identity.ErrCreditRegion), identity.Code(identity.ErrCreditChecksum)}
	for _, err := range []error{invoicing.ErrInvalidInput, invoicing.ErrNotFound, invoicing.ErrExceedsInvoiceable, invoicing.ErrUnknownTopUp,
		invoicing.ErrWrongState, invoicing.ErrReasonRequired, invoicing.ErrDuplicateNumber, invoicing.ErrSellerNotConfigured} {
		codes = append(codes, invoicing.Code(err))
	}
	for _, c := range codes {
		require.True(t, zh["error.invoicing."+c], "missing error.invoicing.%s", c)
	}
	for _, s := range []invoicing.State{invoicing.StateRequested, invoicing.StateIssued, invoicing.StateReversed, invoicing.StateReissued, invoicing.StateRejected} {
		require.True(t, zh["invoice.state."+string(s)])
	}
}
