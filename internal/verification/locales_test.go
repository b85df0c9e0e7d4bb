package verification_test

import (
	"errors"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/verification"
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

// TestLocalesCoverCodes: every error code, field code and reason the
// customer can meet has a message in both languages.
func TestLocalesCoverCodes(t *testing.T) {
	t.Parallel()
	zh := localeKeys(t, "../../locales/verification.zh-CN.toml")
	en := localeKeys(t, "../../locales/verification.en.toml")
	require.Equal(t, zh, en)
	var codes []string
	for _, err := range []error{verification.ErrInvalidInput, verification.ErrAlreadyVerified, verification.ErrPending,
		verification.ErrIdentityInUse, verification.ErrNotFound, verification.ErrNotPending, verification.ErrReasonRequired,
		verification.ErrForbidden, verification.ErrNoLicence} {
		c := verification.Code(err)
		require.NotEmpty(t, c)
		codes = append(codes, c)
	}
	codes = append(codes, verification.CodeRequired, verification.CodeTooLong, verification.CodeLicenceTooLarge, verification.CodeLicenceType,
		verification.ReasonProviderUnavailable, verification.ReasonSuperseded, verification.ReasonIdentityInUse,
		identity.ReasonNameMismatch, identity.ReasonInvalidNumber, identity.ReasonNotFound, identity.ReasonDeregistered,
		identity.ReasonLegalRep, identity.ReasonManualReview)
	for _, e := range []error{identity.ErrIDFormat, identity.ErrIDRegion, identity.ErrIDBirthDate, identity.ErrIDChecksum,
		identity.ErrCreditFormat, identity.ErrCreditRegion, identity.ErrCreditChecksum} {
		codes = append(codes, identity.Code(e))
	}
	for _, c := range codes {
		require.True(t, zh["error.verification."+c], "missing error.verification.%s", c)
	}
	require.Empty(t, verification.Code(errors.New("other")))
}
