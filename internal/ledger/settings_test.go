package ledger_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

func TestGraceFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, credits, hours string
		want                 ledger.GracePolicy
		err                  string
	}{
		{"OffByDefault", "", "", ledger.GracePolicy{}, ""},
		{"ZeroCreditsIsOff", "0", "72", ledger.GracePolicy{}, ""},
		{"On", "5000", "72", ledger.GracePolicy{Enabled: true, Amount: d("5000"), Lifetime: 72 * time.Hour}, ""},
		{"Fraction", "0.5", "1", ledger.GracePolicy{Enabled: true, Amount: d("0.5"), Lifetime: time.Hour}, ""},
		{"NotANumber", "lots", "72", ledger.GracePolicy{}, "GRACE_CREDITS must be"},
		{"Negative", "-1", "72", ledger.GracePolicy{}, "GRACE_CREDITS must be"},
		{"TooManyDecimals", "1.0000001", "72", ledger.GracePolicy{}, "GRACE_CREDITS must be"},
		{"HoursNotWhole", "5000", "1.5", ledger.GracePolicy{}, "GRACE_HOURS must be"},
		{"CreditsWithoutHours", "5000", "", ledger.GracePolicy{}, "GRACE_HOURS must be a whole number of hours above 0 when GRACE_CREDITS is set"},
		{"CreditsWithZeroHours", "5000", "0", ledger.GracePolicy{}, "GRACE_HOURS must be a whole number of hours above 0 when GRACE_CREDITS is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"GRACE_CREDITS": tc.credits, "GRACE_HOURS": tc.hours}
			g, err := ledger.GraceFromEnv(func(k string) string { return env[k] })
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want.Enabled, g.Enabled)
			require.True(t, tc.want.Amount.Equal(g.Amount), "amount %s", g.Amount)
			require.Equal(t, tc.want.Lifetime, g.Lifetime)
		})
	}
}
