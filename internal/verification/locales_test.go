package verification_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/platform/i18n/i18ntest"
	"github.com/seed75218f88/credits/internal/verification"
)

// TestLocalesCoverCodes: every error code, field code and reason the
// customer can meet has a message in both languages.
func TestLocalesCoverCodes(t *testing.T) {
	t.Parallel()
	var codes []string
	for _, err := range []error{verification.ErrAlreadyVerified, verification.ErrPending,
		verification.ErrIdentityInUse, verification.ErrNotFound, verification.ErrNotPending, verification.ErrReasonRequired,
		verification.ErrForbidden, verification.ErrNoLicence} {
		c := verification.Code(err)
		require.NotEmpty(t, c)
		codes = append(codes, c)
	}
	// Field codes (verification.FieldCodes) are checked by web's TestFieldCodesHaveMessages.
	codes = append(codes, verification.ReasonProviderUnavailable, verification.ReasonSuperseded, verification.ReasonIdentityInUse,
		identity.ReasonNameMismatch, identity.ReasonInvalidNumber, identity.ReasonNotFound, identity.ReasonDeregistered,
		identity.ReasonLegalRep, identity.ReasonManualReview)
	var keys []string
	for _, c := range codes {
		keys = append(keys, "error.verification."+c)
	}
	i18ntest.RequireKeys(t, keys...)
	require.Empty(t, verification.Code(errors.New("other")))
}
