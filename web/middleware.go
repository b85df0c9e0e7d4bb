package web

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/views/components"
)

// ContentSecurityPolicy allows only our own files: no inline scripts or
// styles, no CDN. Pico's form controls draw small data: SVG images.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// BodyLimit caps request bodies (forms, API calls, uploaded receipts); larger
// ones get 413.
const BodyLimit = "8M"

var varyAcceptLanguage = []string{"Accept-Language"}[:1:1]

// LangCookie holds the language the user chose with the language switch.
const LangCookie = "lang"

// middleware installs, outermost first: request ID, logging and metrics,
// panic recovery, security headers, body limit, language, sessions, CSRF,
// the view context, read routing (standby or primary).
func (s *Server) middleware() {
	e := s.Echo
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: requestID}))
	e.Use(s.observe)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true, // the error handler logs the panic as a 500
	}))
	e.Use(secureHeaders(hstsMaxAge(s.Config), s.Config.TrustedProxies))
	e.Use(middleware.BodyLimit(BodyLimit))
	e.Use(refuseNUL)
	e.Use(s.localize())
	// The API authenticates by service key: cookie sessions (a store read
	// and write per request) are for the browser only.
	e.Use(unlessAPI(echo.WrapMiddleware(s.Sessions.LoadAndSave)))
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{
		Skipper:        skipCSRF,
		TokenLookup:    "header:" + echo.HeaderXCSRFToken + ",form:_csrf",
		CookieName:     "_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteLaxMode,
		CookieSecure:   s.Config.Env == config.Production,
		ErrorHandler: func(err error, _ echo.Context) error {
			return &csrfError{err: err}
		},
	}))
	e.Use(unlessAPI(s.viewContext))
	e.Use(s.readRouting)
}

// secureHeaders sets on every answer the headers echo's Secure middleware
// set with our configuration (X-XSS-Protection 0, nosniff, X-Frame-Options
// DENY, HSTS over https when hstsMaxAge > 0, ContentSecurityPolicy,
// Referrer-Policy same-origin), the same names and values, but from values
// made once: no allocation per header per request. net/http copies the
// header map when it writes it, and Set or Add never write into a value
// slice in place, so sharing the (capacity-one) slices is safe.
func secureHeaders(hstsMaxAge int, trusted []netip.Prefix) echo.MiddlewareFunc {
	one := func(v string) []string { return []string{v}[:1:1] }
	always := []struct {
		key   string
		value []string
	}{
		{"X-Xss-Protection", one("0")},
		{"X-Content-Type-Options", one("nosniff")},
		{"X-Frame-Options", one("DENY")},
	}
	hsts := one("max-age=" + strconv.Itoa(hstsMaxAge) + "; includeSubdomains")
	csp, referrer := one(ContentSecurityPolicy), one("same-origin")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			for _, kv := range always {
				h[kv.key] = kv.value
			}
			if hstsMaxAge != 0 && requestScheme(c.Request(), trusted) == "https" {
				h["Strict-Transport-Security"] = hsts
			}
			h["Content-Security-Policy"] = csp
			h["Referrer-Policy"] = referrer
			return next(c)
		}
	}
}

// requestID makes an X-Request-Id like echo's default (32 letters), in one
// allocation: math/rand/v2's generator (ChaCha8, seeded by the system) is
// unpredictable enough for an id that is only a correlation handle.
func requestID() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [32]byte
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b[:])
}

// unlessAPI applies mw to every request but the JSON API's. Echo builds
// the middleware chain anew for every request, so mw's chain is built only
// for the requests that run it.
func unlessAPI(mw echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if IsAPI(c.Request().URL.Path) {
				return next(c)
			}
			return mw(next)(c)
		}
	}
}

func hstsMaxAge(c config.Config) int {
	if c.Env == config.Production {
		return 365 * 24 * 3600
	}
	return 0
}

// IsAPI reports whether a path belongs to the JSON API (no CSRF, no pages).
func IsAPI(path string) bool {
	return strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/api/")
}

// skipCSRF exempts the token-authenticated JSON API, the payment channels'
// signed notifies and the probes.
func skipCSRF(c echo.Context) bool {
	p := c.Request().URL.Path
	return IsAPI(p) || isNotifyPath(p) || p == "/healthz" || p == "/readyz" || p == "/metrics" || strings.HasPrefix(p, "/static/")
}

// observe logs each request and counts it by route once the error handler
// has written the answer.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)
		req, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" || (res.Status == http.StatusNotFound && route == "/*") {
			route = "unmatched"
		}
		s.metrics.observe(req.Method, route, res.Status, elapsed)
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		s.Logger.LogAttrs(req.Context(), level, "request",
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("duration", elapsed),
			slog.String("remote", ClientIP(c)),
		)
		return nil
	}
}

// localize picks the language (lang cookie, then Accept-Language, then
// zh-CN) and puts its localizer and, except for the API, the view's request
// facts in the context. The localizers (immutable) are made once per
// language, not per request.
func (s *Server) localize() echo.MiddlewareFunc {
	localizers := make(map[string]*i18n.Localizer, len(i18n.Languages))
	for _, l := range i18n.Languages {
		localizers[l] = s.I18n.Localizer(l)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cookie := ""
			if k, err := c.Cookie(LangCookie); err == nil {
				cookie = k.Value
			}
			lang := s.I18n.Match(cookie, c.Request().Header.Get("Accept-Language"))
			loc, ok := localizers[lang]
			if !ok {
				loc = s.I18n.Localizer(lang)
			}
			ctx := i18n.WithLocalizer(c.Request().Context(), loc)
			if !IsAPI(c.Request().URL.Path) { // the API renders no views
				ctx = components.WithRequest(ctx, components.Request{
					Path:    c.Request().URL.RequestURI(),
					Reverse: s.Echo.Reverse,
				})
			}
			c.SetRequest(c.Request().WithContext(ctx))
			if h := c.Response().Header(); h[echo.HeaderVary] == nil {
				h[echo.HeaderVary] = varyAcceptLanguage // as Add would, without allocating
			} else {
				h.Add(echo.HeaderVary, "Accept-Language")
			}
			return next(c)
		}
	}
}

// viewContext adds the CSRF token, once the CSRF middleware has set it.
func (s *Server) viewContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, _ := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string)
		ctx := c.Request().Context()
		r := components.RequestFrom(ctx)
		r.CSRFToken = token
		r.SignedIn = s.Sessions.GetInt64(ctx, sessionUserKey) != 0
		c.SetRequest(c.Request().WithContext(components.WithRequest(ctx, r)))
		return next(c)
	}
}

// refuseNUL answers 400 to a query string or URL-encoded form holding a NUL
// character: PostgreSQL text cannot store it, so any search, reason, name
// or key carrying one would otherwise fail at the database as a 500 that
// blames the server (JSON bodies are checked by bindJSON, multipart uploads
// by their own parsers).
func refuseNUL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if strings.Contains(req.URL.RawQuery, "%00") && valuesHoldNUL(req.URL.Query()) {
			return echo.NewHTTPError(http.StatusBadRequest, "NUL character in the query")
		}
		if req.Method == http.MethodPost && strings.HasPrefix(req.Header.Get(echo.HeaderContentType), echo.MIMEApplicationForm) {
			// Read the bytes and put them back unparsed: Alipay's notify
			// verifies the body exactly as it was sent.
			b, err := io.ReadAll(req.Body)
			if err != nil {
				if he := (*echo.HTTPError)(nil); errors.As(err, &he) {
					return he
				}
				return echo.NewHTTPError(http.StatusBadRequest, "the form could not be read")
			}
			req.Body = io.NopCloser(bytes.NewReader(b))
			if bytes.IndexByte(b, 0) >= 0 {
				return echo.NewHTTPError(http.StatusBadRequest, "NUL character in the form")
			}
			if bytes.Contains(b, []byte("%00")) {
				if form, err := url.ParseQuery(string(b)); err == nil && valuesHoldNUL(form) {
					return echo.NewHTTPError(http.StatusBadRequest, "NUL character in the form")
				}
			}
		}
		return next(c)
	}
}

func valuesHoldNUL(vs map[string][]string) bool {
	for k, list := range vs {
		if strings.IndexByte(k, 0) >= 0 {
			return true
		}
		for _, v := range list {
			if strings.IndexByte(v, 0) >= 0 {
				return true
			}
		}
	}
	return false
}
