package webhook

import (
	"net/netip"
	"syscall"
)

// specialPurpose lists every address block a webhook may not reach in
// production: the IANA IPv4 and IPv6 Special-Purpose Address Registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry and
// …/iana-ipv6-special-registry, as of 2026), plus multicast and the
// deprecated IPv6 site-local block. Blocks the registries mark globally
// reachable (AS112, AMT, the PCP and TURN anycasts) are refused too: no
// customer's webhook receiver lives there, and a short list is easier to
// trust than a long one with exceptions.
var specialPurpose = mustPrefixes(
	// IPv4
	"0.0.0.0/8",       // "this network" (RFC 791)
	"10.0.0.0/8",      // private-use (RFC 1918)
	"100.64.0.0/10",   // shared address space, carrier-grade NAT; cloud metadata at 100.100.100.200 (RFC 6598)
	"127.0.0.0/8",     // loopback (RFC 1122)
	"169.254.0.0/16",  // link local; cloud metadata at 169.254.169.254 (RFC 3927)
	"172.16.0.0/12",   // private-use (RFC 1918)
	"192.0.0.0/24",    // IETF protocol assignments, DS-Lite, NAT64 discovery (RFC 6890)
	"192.0.2.0/24",    // documentation TEST-NET-1 (RFC 5737)
	"192.31.196.0/24", // AS112-v4 (RFC 7535)
	"192.52.193.0/24", // AMT (RFC 7450)
	"192.88.99.0/24",  // deprecated 6to4 relay anycast (RFC 7526)
	"192.168.0.0/16",  // private-use (RFC 1918)
	"192.175.48.0/24", // direct delegation AS112 (RFC 7534)
	"198.18.0.0/15",   // benchmarking (RFC 2544)
	"198.51.100.0/24", // documentation TEST-NET-2 (RFC 5737)
	"203.0.113.0/24",  // documentation TEST-NET-3 (RFC 5737)
	"224.0.0.0/4",     // multicast (RFC 5771)
	"240.0.0.0/4",     // reserved, and 255.255.255.255 limited broadcast (RFC 1112, RFC 919)
	// IPv6
	"::/96",             // unspecified, loopback and deprecated IPv4-compatible (RFC 4291)
	"::ffff:0:0/96",     // IPv4-mapped (RFC 4291); also checked as the IPv4 address inside
	"64:ff9b::/96",      // IPv4/IPv6 translation, NAT64 well-known prefix (RFC 6052)
	"64:ff9b:1::/48",    // local-use IPv4/IPv6 translation (RFC 8215)
	"100::/64",          // discard-only (RFC 6666)
	"100:0:0:1::/64",    // dummy IPv6 prefix (RFC 9780)
	"2001::/23",         // IETF protocol assignments: Teredo, benchmarking, ORCHID… (RFC 2928)
	"2001:db8::/32",     // documentation (RFC 3849)
	"2002::/16",         // 6to4 (RFC 3056)
	"2620:4f:8000::/48", // direct delegation AS112 (RFC 7534)
	"3fff::/20",         // documentation (RFC 9637)
	"5f00::/16",         // segment routing SIDs (RFC 9602)
	"fc00::/7",          // unique local (RFC 4193)
	"fe80::/10",         // link local (RFC 4291)
	"fec0::/10",         // deprecated site local (RFC 3879)
	"ff00::/8",          // multicast (RFC 4291)
)

func mustPrefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

// IsSpecialPurpose reports whether ip is in a block a webhook may not
// reach. An IPv4-mapped IPv6 address is judged as the IPv4 address it
// carries, so ::ffff:10.0.0.1 is refused like 10.0.0.1.
func IsSpecialPurpose(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("")
	for _, p := range specialPurpose {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// refuseSpecialPurpose is the dialer's Control hook: it runs after DNS
// resolution, on the address actually dialled, so a hostname that
// re-resolves to 127.0.0.1 between checks (DNS rebinding) is refused too.
func refuseSpecialPurpose(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || IsSpecialPurpose(ap.Addr()) {
		return errPrivateAddress
	}
	return nil
}
