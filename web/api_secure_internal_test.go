package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/stretchr/testify/require"
)

// TestSecureHeadersAreEchoSecures: the allocation-free security headers are
// exactly those echo's Secure middleware set with our configuration, over
// http and https, with and without HSTS; and a later Add to a shared header
// value does not leak into the next answer.
func TestSecureHeadersAreEchoSecures(t *testing.T) {
	for _, hsts := range []int{0, 365 * 24 * 3600} {
		for _, proto := range []string{"", "https"} {
			answer := func(mw echo.MiddlewareFunc) http.Header {
				e := echo.New()
				e.Use(mw)
				e.GET("/", func(c echo.Context) error {
					c.Response().Header().Add("Referrer-Policy", "extra") // must not change the shared value
					return c.NoContent(http.StatusNoContent)
				})
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if proto != "" {
					req.Header.Set(echo.HeaderXForwardedProto, proto)
				}
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				return rec.Header()
			}
			want := answer(middleware.SecureWithConfig(middleware.SecureConfig{
				XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY", HSTSMaxAge: hsts,
				ContentSecurityPolicy: ContentSecurityPolicy, ReferrerPolicy: "same-origin",
			}))
			// No proxy trusted: a client's X-Forwarded-Proto is not https.
			ours := secureHeaders(hsts, nil)
			require.Equal(t, want, answer(ours), "hsts %d, proto %q", hsts, proto)
			require.Equal(t, want, answer(ours), "the second answer too")
		}
	}
}

// TestForwardedProtoOnlyFromTrustedProxies: a client that writes
// X-Forwarded-Proto: https itself is still on http (no HSTS); a trusted
// proxy's header counts, and a TLS connection is https without any header.
func TestForwardedProtoOnlyFromTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	req := func(peer string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		r.Header.Set(echo.HeaderXForwardedProto, "https")
		return r
	}
	require.Equal(t, "http", requestScheme(req("203.0.113.9:4000"), trusted), "a client's own header")
	require.Equal(t, "http", requestScheme(req("203.0.113.9:4000"), nil), "no proxy trusted")
	require.Equal(t, "https", requestScheme(req("10.1.2.3:4000"), trusted), "the trusted proxy's header")
	tls := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
	require.Equal(t, "https", requestScheme(tls, nil))

	e := echo.New()
	e.Use(secureHeaders(3600, trusted))
	e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req("203.0.113.9:4000"))
	require.Empty(t, rec.Header().Get("Strict-Transport-Security"), "no HSTS on a client's claim")
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req("10.1.2.3:4000"))
	require.NotEmpty(t, rec.Header().Get("Strict-Transport-Security"))
}
