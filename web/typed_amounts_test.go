package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTypedAmountsHaveOneParser: every amount a person types into a form is
// read by format.ParseDecimal (full-width digits and "1,000" read, an
// exponent or a stray sign refused), never by decimal.NewFromString, which
// takes "1e3" as 1,000 and refuses "１００". Before, six forms (a support
// grant, a code batch, a credit line, a transfer, a sub-account's
// allocation, an invoice's amounts) read their own way.
func TestTypedAmountsHaveOneParser(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var offenders []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.Contains(string(b), "decimal.NewFromString(") {
			offenders = append(offenders, f)
		}
	}
	require.NotEmpty(t, files)
	require.Empty(t, offenders, "read typed amounts with format.ParseDecimal")
}
