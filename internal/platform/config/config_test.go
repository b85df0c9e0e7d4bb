package config_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/pricing"
)

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: " 10.0.0.0/8 , fd00::/8,192.0.2.7", want: []string{"10.0.0.0/8", "fd00::/8", "192.0.2.7/32"}},
		{in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{in: "2001:db8::1", want: []string{"2001:db8::1/128"}},
		{in: "10.0.0.0/8,proxy.internal", err: `TRUSTED_PROXIES: "proxy.internal" is not a network`},
		{in: "10.0.0.0/33", err: `TRUSTED_PROXIES: "10.0.0.0/33"`},
		{in: "0.0.0.0/0", err: "would trust every client"},
		{in: "::/0", err: "would trust every client"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := config.ParseTrustedProxies(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			require.Equal(t, tc.want, s)
			for _, p := range got {
				require.Equal(t, p, p.Masked())
				require.True(t, p.IsValid())
			}
		})
	}
}

func TestLoadRefusesABadTrustedProxiesWithItsName(t *testing.T) {
	t.Setenv("TRUSTED_PROXIES", "10.0.0.0/8,nonsense")
	_, err := config.Load()
	require.ErrorContains(t, err, "TRUSTED_PROXIES")
	t.Setenv("TRUSTED_PROXIES", "10.0.0.0/8")
	c, err := config.Load()
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, c.TrustedProxies)
}

// The one CREDIT_PRICE_RMB parser: its default is the ledger's and the
// pricing catalogue's, and a bad value stops Load with the variable's name.
func TestCreditPriceIsParsedOnceWithOneDefault(t *testing.T) {
	d, err := config.ParseCreditPrice("")
	require.NoError(t, err)
	require.True(t, d.Equal(ledger.DefaultCreditPriceRMB), "config default %s, ledger default %s", d, ledger.DefaultCreditPriceRMB)
	require.True(t, d.Equal(pricing.DefaultCreditPriceRMB), "config default %s, pricing default %s", d, pricing.DefaultCreditPriceRMB)
	d, err = config.ParseCreditPrice("0.002")
	require.NoError(t, err)
	require.Equal(t, "0.002", d.String())
	for _, bad := range []string{"0", "-0.001", "abc", "1e"} {
		_, err := config.ParseCreditPrice(bad)
		require.ErrorContains(t, err, "CREDIT_PRICE_RMB", bad)
		t.Setenv("CREDIT_PRICE_RMB", bad)
		_, err = config.Load()
		require.ErrorContains(t, err, "CREDIT_PRICE_RMB", bad)
	}
}

// The standby: unset, every read stays on the primary; its lag bound is
// parsed with the variable's name on a bad value.
func TestReplicaSettings(t *testing.T) {
	c, err := config.LoadFrom(map[string]string{})
	require.NoError(t, err)
	require.Empty(t, c.Database.ReplicaURL)
	require.Equal(t, 5*time.Second, c.Database.ReplicaMaxLag)
	c, err = config.LoadFrom(map[string]string{"DATABASE_REPLICA_URL": "postgres://credits_app@standby/credits", "DATABASE_REPLICA_MAX_LAG": "2s"})
	require.NoError(t, err)
	require.Equal(t, "postgres://credits_app@standby/credits", c.Database.ReplicaURL)
	require.Equal(t, 2*time.Second, c.Database.ReplicaMaxLag)
	for _, bad := range []string{"0", "abc", "50ms", "2h"} {
		_, err := config.LoadFrom(map[string]string{"DATABASE_REPLICA_MAX_LAG": bad})
		require.ErrorContains(t, err, "DATABASE_REPLICA_MAX_LAG", bad)
	}
}
