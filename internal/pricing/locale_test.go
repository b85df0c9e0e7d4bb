package pricing

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// Every code a caller can show a user has a message in every locale.
func TestEveryCodeHasMessages(t *testing.T) {
	t.Parallel()
	bundle, err := i18n.Default()
	require.NoError(t, err)
	codes := []string{CodeNoModels, CodeBadModelName, CodeDuplicateModel, CodeBadBillingType,
		CodeNegativePrice, CodeBadPriceShape, CodeNoActor, CodeEffectiveInPast, CodeEffectiveNotAfter,
		"error.unknown_model", "error.no_rate_card", "error.rate_limited"}
	for _, c := range codes {
		require.True(t, bundle.Has(c), "no locale message for %s", c)
	}
}
