package webhook

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each special-purpose block is refused at dial time, by an address inside
// it, in its IPv4-mapped form for IPv4 blocks, and through NAT64; public
// addresses still pass.
func TestSpecialPurposeAddressesAreRefused(t *testing.T) {
	refused := []string{
		"0.0.0.0", "0.1.2.3", "10.1.2.3", "100.64.0.1", "100.100.100.200", "100.127.255.254",
		"127.0.0.1", "127.8.9.10", "169.254.169.254", "172.16.0.1", "172.31.255.255",
		"192.0.0.8", "192.0.0.170", "192.0.2.1", "192.31.196.1", "192.52.193.1", "192.88.99.1",
		"192.168.1.1", "192.175.48.6", "198.18.0.1", "198.19.255.255", "198.51.100.7",
		"203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::10.0.0.1", "::ffff:127.0.0.1", "::ffff:100.100.100.200",
		"64:ff9b::a9fe:a9fe", "64:ff9b::808:808", "64:ff9b:1::1", "100::1", "100:0:0:1::1",
		"2001::1", "2001:2::1", "2001:20::1", "2001:db8::1", "2002:a9fe:a9fe::1", "2620:4f:8000::1",
		"3fff::1", "5f00::1", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1",
	}
	for _, s := range refused {
		addr := netip.MustParseAddr(s)
		require.True(t, IsSpecialPurpose(addr), s)
		require.ErrorIs(t, refuseSpecialPurpose("tcp", netip.AddrPortFrom(addr, 443).String(), nil), errPrivateAddress, s)
		if addr.Is4() {
			mapped := netip.AddrFrom16(addr.As16())
			require.True(t, IsSpecialPurpose(mapped), "mapped "+s)
		}
	}
	// Every listed block has a refused example above.
	for _, p := range specialPurpose {
		covered := false
		for _, s := range refused {
			if p.Contains(netip.MustParseAddr(s)) {
				covered = true
				break
			}
		}
		require.True(t, covered, "no test address in %s", p)
	}

	for _, s := range []string{"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.1", "198.17.255.255",
		"198.20.0.1", "223.5.5.5", "2400:3200::1", "2606:4700:4700::1111", "2408:8000::1", "::ffff:8.8.8.8"} {
		addr := netip.MustParseAddr(s)
		require.False(t, IsSpecialPurpose(addr), s)
		require.NoError(t, refuseSpecialPurpose("tcp", netip.AddrPortFrom(addr, 443).String(), nil), s)
	}
	require.ErrorIs(t, refuseSpecialPurpose("tcp", "not-an-address", nil), errPrivateAddress)
}
