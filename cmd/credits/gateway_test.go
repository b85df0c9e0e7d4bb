package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ratelimit"
)

func TestGatewaySettingsReadRateLimits(t *testing.T) {
	t.Setenv("TRIAL_RPM", "5")
	t.Setenv("TRIAL_TPM", "5000")
	t.Setenv("DEFAULT_RPM", "1200")
	s, err := gatewaySettingsFromEnv()
	require.NoError(t, err)
	require.Equal(t, ratelimit.Limit{RPM: 5, TPM: 5000}, s.trialLimit)
	require.Equal(t, ratelimit.Limit{RPM: 1200, TPM: ratelimit.DefaultLimit.TPM}, s.defaultLimit)

	t.Setenv("TRIAL_RPM", "many")
	_, err = gatewaySettingsFromEnv()
	require.EqualError(t, err, "TRIAL_RPM must be a positive whole number per minute")
}
