package verification_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/verification"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOptionsFromEnv(t *testing.T) {
	t.Parallel()
	o, err := verification.OptionsFromEnv(env(nil))
	require.NoError(t, err)
	require.True(t, o.Bonus.Amount.IsZero())
	require.Equal(t, verification.DefaultMaxLicenceBytes, o.MaxLicenceBytes)
	require.Equal(t, []string{"admin"}, o.RevealRoles)

	o, err = verification.OptionsFromEnv(env(map[string]string{
		"VERIFICATION_BONUS_CREDITS": "1000.5", "VERIFICATION_BONUS_EXPIRY_DAYS": "90",
		"VERIFICATION_LICENCE_MAX_BYTES": "1048576", "PII_REVEAL_ROLES": "admin, compliance",
	}))
	require.NoError(t, err)
	require.Equal(t, "1000.5", o.Bonus.Amount.String())
	require.Equal(t, 90, o.Bonus.ExpiryDays)
	require.Equal(t, 1<<20, o.MaxLicenceBytes)
	require.Equal(t, []string{"admin", "compliance"}, o.RevealRoles)

	for k, v := range map[string]string{"VERIFICATION_BONUS_CREDITS": "-1", "VERIFICATION_BONUS_EXPIRY_DAYS": "x", "VERIFICATION_LICENCE_MAX_BYTES": "0"} {
		_, err := verification.OptionsFromEnv(env(map[string]string{k: v}))
		require.ErrorContains(t, err, k)
	}
}
