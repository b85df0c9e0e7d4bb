package pricing

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every code a caller can show a user has a message in both locales.
func TestEveryCodeHasMessages(t *testing.T) {
	t.Parallel()
	codes := []string{CodeNoModels, CodeBadModelName, CodeDuplicateModel, CodeBadBillingType,
		CodeNegativePrice, CodeBadPriceShape, CodeNoActor, CodeEffectiveInPast, CodeEffectiveNotAfter,
		"error.unknown_model", "error.no_rate_card", "error.rate_limited"}
	for _, file := range []string{"pricing.en.toml", "pricing.zh-CN.toml"} {
		b, err := os.ReadFile("../../locales/" + file)
		require.NoError(t, err)
		for _, c := range codes {
			re := regexp.MustCompile(`(?m)^"` + regexp.QuoteMeta(c) + `" = "[^"]+"$`)
			require.Regexp(t, re, string(b), "%s lacks %s", file, c)
		}
	}
}
