package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

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

// requestScheme is "https" when the request came over TLS, or through a
// trusted proxy (Config.TrustedProxies) that says so in X-Forwarded-Proto;
// "http" otherwise. Echo's c.Scheme() believes the header from anyone, so a
// client could claim https; nothing here reads it.
func requestScheme(r *http.Request, trusted []netip.Prefix) string {
	if r.TLS != nil {
		return "https"
	}
	if len(trusted) == 0 {
		return "http"
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return "http"
	}
	for _, p := range trusted {
		if p.Contains(peer.Addr().Unmap()) {
			if strings.EqualFold(r.Header.Get(echo.HeaderXForwardedProto), "https") {
				return "https"
			}
			break
		}
	}
	return "http"
}
