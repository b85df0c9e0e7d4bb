package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/views"
)

// Home shows the public landing page.
func (s *Server) Home(c echo.Context) error {
	return Render(c, http.StatusOK, views.Home(), nil)
}

// LegalVersion is the version of the privacy policy and the terms in force
// (the day they took effect); change it with any change of substance.
const LegalVersion = "2026-12-05"

// legalSections is how many numbered sections each document has in locales/legal.*.toml.
var legalSections = map[string]int{"privacy": 6, "terms": 6}

// Legal shows the privacy policy or the terms of service.
func (s *Server) Legal(doc string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return Render(c, http.StatusOK, views.Legal(doc, LegalVersion, legalSections[doc]), nil)
	}
}

// SetLanguage stores the chosen language in the lang cookie and returns to
// the page the switch was clicked on (only paths on this site).
func (s *Server) SetLanguage(c echo.Context) error {
	lang := c.Param("lang")
	supported := false
	for _, l := range i18n.Languages {
		supported = supported || l == lang
	}
	if !supported {
		return echo.ErrNotFound
	}
	c.SetCookie(&http.Cookie{
		Name:     LangCookie,
		Value:    lang,
		Path:     "/",
		MaxAge:   365 * 24 * 3600,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   c.IsTLS(),
	})
	next := c.QueryParam("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		next = s.URL("home")
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// Healthz answers 200 while the process is up.
func (s *Server) Healthz(c echo.Context) error { return c.String(http.StatusOK, "ok\n") }

// Readyz answers 200 when the database answers, or while no primary
// answers but the standby stands in for it (a failover: pages are still
// served), and 503 otherwise and while the server drains before a
// shutdown.
func (s *Server) Readyz(c echo.Context) error {
	if s.draining.Load() {
		return c.String(http.StatusServiceUnavailable, "draining\n")
	}
	// Within HAProxy's check timeout (2 s), leaving time for the answer.
	ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
	defer cancel()
	if err := s.Pool.Ping(ctx); err != nil {
		// A failover under way: every instance has lost the primary alike,
		// and each still serves pages from the standby (db.Reader); writes
		// fail until a primary answers, and clients resend them.
		if s.reader.CanStandIn() {
			return c.String(http.StatusOK, "ready: no primary, pages read from the standby\n")
		}
		return c.String(http.StatusServiceUnavailable, "database unreachable\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

// MetricsHandler serves the Prometheus registry in text format.
func (s *Server) MetricsHandler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{}))
}
