package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminReasonRoutes: the managed list of grant reason codes (admins).
func (s *Server) adminReasonRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/reasons", "admin.reasons", s.AdminReasons, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/reasons", "admin.reasons.add", s.AdminAddReason, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/reasons/:code/active", "admin.reason.active", s.AdminReasonActive, auth.RoleAdmin)
}

// AdminReasons lists every reason code, active or not.
func (s *Server) AdminReasons(c echo.Context) error {
	return s.reasonsPage(c, http.StatusOK, adminview.ReasonsView{})
}

func (s *Server) reasonsPage(c echo.Context, status int, v adminview.ReasonsView) error {
	codes, err := s.admin.bo.ReasonCodes(c.Request().Context(), true)
	if err != nil {
		return err
	}
	v.Frame = adminFrame(c, "admin.reasons")
	for _, r := range codes {
		v.Codes = append(v.Codes, adminview.ReasonRow{Code: r.Code, LabelZH: r.LabelZH, LabelEN: r.LabelEN, Active: r.Active})
	}
	return Render(c, status, adminview.Reasons(v), nil)
}

// AdminAddReason adds a reason code with both labels.
func (s *Server) AdminAddReason(c echo.Context) error {
	v := adminview.ReasonsView{Code: strings.TrimSpace(c.FormValue("code")), LabelZH: strings.TrimSpace(c.FormValue("label_zh")), LabelEN: strings.TrimSpace(c.FormValue("label_en"))}
	err := s.admin.bo.AddReasonCode(c.Request().Context(), v.Code, v.LabelZH, v.LabelEN, actor(c))
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v.Errors = errs
		return s.reasonsPage(c, status, v)
	}
	return HXRedirect(c, s.URL("admin.reasons"))
}

// AdminReasonActive activates or deactivates a reason code.
func (s *Server) AdminReasonActive(c echo.Context) error {
	err := s.admin.bo.SetReasonCodeActive(c.Request().Context(), c.Param("code"), c.FormValue("active") == "true", actor(c))
	if err == backoffice.ErrUnknownReasonCode {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.reasons"))
}
