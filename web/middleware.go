package web

import (
	"log/slog"
	"net/http"
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

// LangCookie holds the language the user chose with the language switch.
const LangCookie = "lang"

// middleware installs, outermost first: request ID, logging and metrics,
// panic recovery, security headers, body limit, language, sessions, CSRF.
func (s *Server) middleware() {
	e := s.Echo
	e.Use(middleware.RequestID())
	e.Use(s.observe)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true, // the error handler logs the panic as a 500
	}))
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		HSTSMaxAge:            hstsMaxAge(s.Config),
		ContentSecurityPolicy: ContentSecurityPolicy,
		ReferrerPolicy:        "same-origin",
	}))
	e.Use(middleware.BodyLimit(BodyLimit))
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
}

// unlessAPI applies mw to every request but the JSON API's.
func unlessAPI(mw echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		withMW := mw(next)
		return func(c echo.Context) error {
			if IsAPI(c.Request().URL.Path) {
				return next(c)
			}
			return withMW(c)
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
		s.metrics.requests.WithLabelValues(req.Method, route, strconv.Itoa(res.Status)).Inc()
		s.metrics.duration.WithLabelValues(req.Method, route).Observe(elapsed.Seconds())
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
			slog.String("remote", c.RealIP()),
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
			c.Response().Header().Add(echo.HeaderVary, "Accept-Language")
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
		c.SetRequest(c.Request().WithContext(components.WithRequest(ctx, r)))
		return next(c)
	}
}
