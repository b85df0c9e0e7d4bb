package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/relay"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminUpstreamRoutes: the OpenAI-compatible gateway's upstreams (admins
// only; relay.Upstreams audits every change).
func (s *Server) adminUpstreamRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/upstreams", "admin.upstreams", s.AdminUpstreams, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/upstreams", "admin.upstreams.create", s.AdminCreateUpstream, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/upstreams/:id", "admin.upstream", s.AdminUpstream, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/upstreams/:id", "admin.upstream.update", s.AdminUpdateUpstream, auth.RoleAdmin)
}

// AdminUpstreams lists the upstreams with the add form; ?saved=1 says one
// was added or changed.
func (s *Server) AdminUpstreams(c echo.Context) error {
	v := adminview.UpstreamsView{Form: adminview.UpstreamForm{Weight: "1", Priority: "0", TimeoutMS: "60000", Enabled: true}}
	if c.QueryParam("saved") == "1" {
		v.Flash = tr(c, "admin.upstreams.saved")
	}
	return s.upstreamsPage(c, http.StatusOK, v)
}

// AdminCreateUpstream adds an upstream (its secret sealed, audited); every
// field in error shows at once in the staff member's language (422), with
// what was typed kept except the secret.
func (s *Server) AdminCreateUpstream(c echo.Context) error {
	form, in := upstreamForm(c)
	if _, err := s.upstreams.Create(c.Request().Context(), actor(c), in); err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.upstreamsPage(c, status, adminview.UpstreamsView{Form: form, Errors: errs})
	}
	return HXRedirect(c, s.URL("admin.upstreams")+"?saved=1")
}

// AdminUpstream is the edit form of one upstream (its secret never shown).
func (s *Server) AdminUpstream(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	u, err := s.upstreams.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	f := relay.FormOf(u)
	return Render(c, http.StatusOK, adminview.UpstreamEdit(adminview.UpstreamEditView{Frame: adminFrame(c, "admin.upstreams"), ID: id,
		Form: adminview.UpstreamForm{Name: f.Name, BaseURL: f.BaseURL, Models: f.Models, Weight: f.Weight, Priority: f.Priority,
			TimeoutMS: f.TimeoutMS, Enabled: f.Enabled}}), nil)
}

// AdminUpdateUpstream changes an upstream (an empty secret keeps the
// stored one; audited).
func (s *Server) AdminUpdateUpstream(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	form, in := upstreamForm(c)
	if _, err := s.upstreams.Update(c.Request().Context(), actor(c), id, in); err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return Render(c, status, adminview.UpstreamEdit(adminview.UpstreamEditView{Frame: adminFrame(c, "admin.upstreams"), ID: id,
			Form: form, Errors: errs}), nil)
	}
	return HXRedirect(c, s.URL("admin.upstreams")+"?saved=1")
}

// upstreamForm reads the form as typed (the view's copy has no secret).
func upstreamForm(c echo.Context) (adminview.UpstreamForm, relay.UpstreamForm) {
	f := adminview.UpstreamForm{Name: c.FormValue("name"), BaseURL: c.FormValue("base_url"), Models: c.FormValue("models"),
		Weight: c.FormValue("weight"), Priority: c.FormValue("priority"), TimeoutMS: c.FormValue("timeout_ms"),
		Enabled: c.FormValue("enabled") == "yes"}
	return f, relay.UpstreamForm{Name: f.Name, BaseURL: f.BaseURL, Secret: c.FormValue("secret"), Models: f.Models,
		Weight: f.Weight, Priority: f.Priority, TimeoutMS: f.TimeoutMS, Enabled: f.Enabled}
}

// upstreamsPage renders the list with v's form.
func (s *Server) upstreamsPage(c echo.Context, status int, v adminview.UpstreamsView) error {
	ups, err := s.upstreams.List(c.Request().Context())
	if err != nil {
		return err
	}
	breakers, err := s.upstreams.Breakers(c.Request().Context())
	if err != nil {
		return err
	}
	v.Frame = adminFrame(c, "admin.upstreams")
	for _, u := range ups {
		row := adminview.UpstreamRow{ID: u.ID, Name: u.Name, BaseURL: u.BaseURL, HasSecret: u.HasSecret, Weight: u.Weight,
			Priority: u.Priority, TimeoutMS: u.Timeout.Milliseconds(), Enabled: u.Enabled, UpdatedAt: u.UpdatedAt,
			EditURL: s.URL("admin.upstream", u.ID)}
		for _, b := range breakers[u.ID] {
			if b.State == "open" {
				row.Circuit.Open++
				if b.Until != nil && b.Until.After(row.Circuit.OpenUntil) {
					row.Circuit.OpenUntil = *b.Until
				}
			} else {
				row.Circuit.HalfOpen++
			}
		}
		for _, m := range u.PublicModels() {
			row.Models = append(row.Models, adminview.ModelMapping{Public: m, Upstream: u.Models[m]})
		}
		v.Upstreams = append(v.Upstreams, row)
	}
	return Render(c, status, adminview.Upstreams(v), nil)
}
