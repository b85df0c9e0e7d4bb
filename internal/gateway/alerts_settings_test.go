package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// The expiry reminder window follows the settings screen while the process
// runs (AlertOptions.CurrentReminderDays), falling back to ReminderDays.
func TestReminderDaysFollowTheSettingInForce(t *testing.T) {
	a := &Alerts{opts: AlertOptions{ReminderDays: 7}}
	require.Equal(t, 7, a.reminderDays())
	days := 3
	a.opts.CurrentReminderDays = func() int { return days }
	require.Equal(t, 3, a.reminderDays())
	days = 0
	require.Equal(t, 7, a.reminderDays(), "no positive value in force: the configured one")
}

// The credits threshold is read as people type it (format.ParseDecimal):
// full-width digits and "1,000" are read; an exponent is not a number of
// credits (before, "1e3" was taken as 1,000 and "１０００" refused).
func TestAlertCreditsAreReadAsTyped(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{{"１０００", "1000"}, {"1,000", "1000"}, {"1e3", ""}, {"+5", ""}} {
		s, err := ParseAlertSettings("", tc.in, "", true)
		if tc.want == "" {
			fe, ok := fielderr.As(err)
			require.True(t, ok, tc.in)
			require.Equal(t, "alert_credits_range", fe.Code("credits"), tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, s.Credits.String(), tc.in)
	}
}
