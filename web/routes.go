package web

import "github.com/labstack/echo/v4"

// routes registers every route with a name; views and handlers build URLs
// from the names (s.URL("home"), components.URL(ctx, "home", "/")). Each
// area adds one line here calling its own registration function, e.g.
// s.portalRoutes(s.Echo.Group("/portal")) in web/portal.go.
func (s *Server) routes() {
	e := s.Echo
	// Probes and metrics.
	named(e.GET("/healthz", s.Healthz), "healthz")
	named(e.GET("/readyz", s.Readyz), "readyz")
	named(e.GET("/metrics", s.MetricsHandler()), "metrics")

	// Files.
	named(e.GET("/static/*", s.Static), "static")

	// Pages.
	named(e.GET("/", s.Home), "home")
	named(e.GET("/privacy", s.Legal("privacy")), "legal.privacy")
	named(e.GET("/terms", s.Legal("terms")), "legal.terms")
	named(e.GET("/lang/:lang", s.SetLanguage), "lang")

	// Customer sign-in and portal.
	s.authRoutes(e)
	s.teamAcceptRoutes(e)
	// Every /portal route passes requireCustomer (who, on which account, in
	// which role), then authorizePortal (the portalAccess table).
	s.portalRoutes(e.Group("/portal", s.requireCustomer, s.authorizePortal))
	s.payRoutes(e, e.Group("/portal", s.requireCustomer, s.authorizePortal))

	// Back office: staff only, each route checks its roles.
	s.adminRoutes(e.Group("/admin", s.requireStaff))

	// Gateway API (web/api.go).
	s.apiRoutes()
	s.nameRoutes()
}

// named gives a route the name that views and handlers build its URL from.
// It is the one way a route gets its name (adminRoute names through it too);
// TestEveryRouteHasOneName checks every served route has one.
func named(r *echo.Route, name string) { r.Name = name }
