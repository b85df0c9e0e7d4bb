package pricing

import (
	"testing"

	"github.com/seed75218f88/credits/internal/platform/i18n/i18ntest"
)

// Every code a caller can show a user has a message in every locale.
func TestEveryCodeHasMessages(t *testing.T) {
	t.Parallel()
	i18ntest.RequireKeys(t, CodeNoModels, CodeBadModelName, CodeDuplicateModel, CodeBadBillingType,
		CodeNegativePrice, CodeBadPriceShape, CodeNoActor, CodeEffectiveInPast, CodeEffectiveNotAfter,
		CodeBadKind, CodePinnedUnknown, CodeDiscountRange, CodeModelNotPublic, CodeBadLine,
		"error.unknown_model", "error.no_rate_card", "error.rate_limited")
}
