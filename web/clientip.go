package web

import (
	"net"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// ipExtractor finds the client's address with echo's own extractors: the
// TCP peer when no proxy is trusted; otherwise X-Forwarded-For read from the
// right, taking the first address that is not one of the trusted proxies,
// and only when the peer itself is one. Echo's defaults would also trust
// every loopback, link-local and private address; here only the listed
// networks are trusted.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// ClientIP is the address of the client that sent the request, as
// Config.TrustedProxies allow it to be known (see ipExtractor). It is the one
// source of the address for sign-in throttling, redemption-code limits, the
// audit log, the PII access log and the request log: never read
// X-Forwarded-For, X-Real-IP or RemoteAddr anywhere else.
func ClientIP(c echo.Context) string {
	if x := c.Echo().IPExtractor; x != nil {
		return x(c.Request())
	}
	return echo.ExtractIPDirect()(c.Request())
}
