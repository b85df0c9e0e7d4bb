package usage

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func TestRunwayAt(t *testing.T) {
	t.Parallel()
	d := decimal.RequireFromString
	for _, tc := range []struct {
		name             string
		available, spent string
		want             Runway
	}{
		{"no spend, no pace", "1000", "0", Runway{}},
		{"a week's spend left lasts a week", "700", "700", Runway{Days: 7, OK: true}},
		{"rounded down", "699.999999", "700", Runway{Days: 6, OK: true}},
		{"less than a day", "50", "700", Runway{Days: 0, OK: true}},
		{"nothing left", "0", "700", Runway{Days: 0, OK: true}},
		{"a long way", "1000000", "7", Runway{Days: 1000000, OK: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, RunwayAt(d(tc.available), d(tc.spent)))
		})
	}
}
