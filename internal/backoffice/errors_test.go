package backoffice_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/i18n/i18ntest"
)

// TestEveryErrorCodeHasMessages: a code without text would reach staff and
// customers as a bare key.
func TestEveryErrorCodeHasMessages(t *testing.T) {
	src, err := os.ReadFile("errors.go")
	require.NoError(t, err)
	codes := regexp.MustCompile(`Code: "([a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, codes)
	var keys []string
	for _, c := range codes {
		keys = append(keys, "error.admin."+c[1])
	}
	i18ntest.RequireKeys(t, keys...)
}
