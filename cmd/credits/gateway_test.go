package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

func TestGatewaySettingsReadRateLimits(t *testing.T) {
	t.Parallel()
	c, err := config.LoadFrom(map[string]string{"TRIAL_RPM": "5", "TRIAL_TPM": "5000", "DEFAULT_RPM": "1200"})
	require.NoError(t, err)
	require.Equal(t, ratelimit.Limit{RPM: 5, TPM: 5000}, c.Gateway.TrialLimit)
	require.Equal(t, ratelimit.Limit{RPM: 1200, TPM: ratelimit.DefaultLimit.TPM}, c.Gateway.DefaultLimit)

	_, err = config.LoadFrom(map[string]string{"TRIAL_RPM": "many"})
	require.EqualError(t, err, "TRIAL_RPM must be a positive whole number per minute")
}
