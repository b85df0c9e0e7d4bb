package portal

import (
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/static"
)

// decimalInt lets token and call counts use the thousands separators of
// format.Credits.
func decimalInt(n int64) decimal.Decimal { return decimal.NewFromInt(n) }

func staticURL(name string) string { return static.URL(name) }
