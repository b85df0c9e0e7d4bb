package format_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/format"
)

func TestMoneyShowsYuanToTheFenWithSeparators(t *testing.T) {
	for in, want := range map[string]string{
		"0":          "¥0.00",
		"1234.56":    "¥1,234.56",
		"1234567.5":  "¥1,234,567.50",
		"999":        "¥999.00",
		"-0.5":       "-¥0.50",
		"0.125":      "¥0.12", // half-even
		"0.135":      "¥0.14",
		"-0.001":     "¥0.00",
		"1000000000": "¥1,000,000,000.00",
	} {
		require.Equal(t, want, format.Money(decimal.RequireFromString(in)), in)
	}
}

func TestCreditsShowsSeparatorsAndOnlyNeededDecimals(t *testing.T) {
	for in, want := range map[string]string{
		"0":                "0",
		"1234567":          "1,234,567",
		"12.5":             "12.5",
		"0.000125":         "0.000125",
		"1000.1234565":     "1,000.123456", // half-even at six decimals
		"-2500.25":         "-2,500.25",
		"123456789.000001": "123,456,789.000001",
	} {
		require.Equal(t, want, format.Credits(decimal.RequireFromString(in)), in)
	}
}

func TestTimeIsShownInShanghai(t *testing.T) {
	utc := time.Date(2025, 12, 31, 16, 30, 0, 0, time.UTC)
	require.Equal(t, "2026-01-01 00:30", format.Time(utc))
	require.Equal(t, "2026-01-01", format.Date(utc))
}
