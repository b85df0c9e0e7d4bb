package backoffice_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/locales"
)

// TestEveryErrorCodeHasMessages: a code without text would reach staff and
// customers as a bare key.
func TestEveryErrorCodeHasMessages(t *testing.T) {
	src, err := os.ReadFile("errors.go")
	require.NoError(t, err)
	codes := regexp.MustCompile(`Code: "([a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, codes)
	for _, file := range []string{"admin.en.toml", "admin.zh-CN.toml"} {
		raw, err := locales.FS.ReadFile(file)
		require.NoError(t, err)
		msgs := map[string]string{}
		require.NoError(t, toml.Unmarshal(raw, &msgs))
		for _, c := range codes {
			require.NotEmpty(t, msgs["error.admin."+c[1]], "%s lacks error.admin.%s", file, c[1])
		}
	}
}
