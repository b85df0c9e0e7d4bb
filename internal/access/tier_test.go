package access_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/ledger"
)

func TestStatusOf(t *testing.T) {
	tiers := []ledger.Tier{{MinPaidFen: 0, RPM: 3, TPM: 32000, MaxOpen: 1}, {MinPaidFen: 5000, RPM: 200, TPM: 128000, MaxOpen: 50},
		{MinPaidFen: 500000, RPM: 5000, TPM: 3000000, MaxOpen: 500}}
	for _, tc := range []struct {
		name      string
		tiers     []ledger.Tier
		paid      int64
		ok        bool
		level     int
		next      int64 // next tier's threshold; -1 none
		need      int64
		capCalled int
	}{
		{"NoTiers", nil, 100, false, 0, -1, 0, 0},
		{"FirstTierFromZero", tiers, 0, true, 1, 5000, 5000, 1},
		{"JustBelowSecond", tiers, 4999, true, 1, 5000, 1, 1},
		{"ExactlyTheThreshold", tiers, 5000, true, 2, 500000, 495000, 50},
		{"Top", tiers, 900000, true, 3, -1, 0, 500},
		{"BelowTheFirst", tiers[1:], 100, true, 0, 5000, 4900, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, ok := access.StatusOf(tc.tiers, tc.paid)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.level, st.Level)
			if tc.next < 0 {
				require.Nil(t, st.Next)
			} else {
				require.Equal(t, tc.next, st.Next.MinPaidFen)
			}
			require.Equal(t, tc.need, st.NeedFen)
			if tc.capCalled > 0 {
				require.Equal(t, tc.capCalled, st.Current.MaxOpen)
			} else {
				require.Nil(t, st.Current)
			}
		})
	}
}
