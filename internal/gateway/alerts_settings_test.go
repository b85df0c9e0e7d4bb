package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"
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
