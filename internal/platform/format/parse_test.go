package format_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/format"
)

func TestParseDecimal(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"100":                     "100",
		"１００":                     "100",
		"１２．５":                    "12.5",
		" 1,000.50 ":              "1000.5",
		"１，０００":                   "1000",
		"\u3000９９\u3000":          "99",
		"-3":                      "-3",
		"99999999999999999999999": "99999999999999999999999",
	}
	for in, want := range ok {
		d, err := format.ParseDecimal(in)
		require.NoError(t, err, in)
		require.Equal(t, want, d.String(), in)
	}
	for _, in := range []string{"", "abc", "1e9", "1.2.3", "--1", "+1", ".", "1-"} {
		_, err := format.ParseDecimal(in)
		require.ErrorIs(t, err, format.ErrNotANumber, in)
	}
}
