package web

import (
	"net/http"
	"net/http/httptest"
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
			ours := secureHeaders(hsts)
			require.Equal(t, want, answer(ours), "hsts %d, proto %q", hsts, proto)
			require.Equal(t, want, answer(ours), "the second answer too")
		}
	}
}
