package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminStaffRoutes: staff users and their roles (admins only).
func (s *Server) adminStaffRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/staff", "admin.staff", s.AdminStaff, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/staff", "admin.staff.create", s.AdminCreateStaff, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/staff/:id/roles", "admin.staff.roles", s.AdminSetRoles, auth.RoleAdmin)
}

// AdminStaff lists staff users with their roles.
func (s *Server) AdminStaff(c echo.Context) error {
	return s.staffPage(c, http.StatusOK, adminview.StaffView{})
}

func (s *Server) staffPage(c echo.Context, status int, v adminview.StaffView) error {
	users, err := s.admin.auth.ListStaff(c.Request().Context())
	if err != nil {
		return err
	}
	v.Frame = adminFrame(c, "admin.staff")
	for _, r := range auth.AllRoles {
		v.AllRoles = append(v.AllRoles, string(r))
	}
	for _, u := range users {
		row := adminview.StaffRow{ID: u.ID, Email: u.Email, Name: u.Name, Disabled: u.Disabled}
		for _, r := range u.Roles {
			row.Roles = append(row.Roles, string(r))
		}
		v.Staff = append(v.Staff, row)
	}
	return Render(c, status, adminview.Staff(v), nil)
}

// formRoles reads the checked role boxes.
func formRoles(c echo.Context) []auth.Role {
	var out []auth.Role
	form, _ := c.FormParams()
	for _, r := range form["roles"] {
		for _, known := range auth.AllRoles {
			if string(known) == r {
				out = append(out, known)
			}
		}
	}
	return out
}

// AdminCreateStaff creates a staff user; the generated password is shown once.
func (s *Server) AdminCreateStaff(c echo.Context) error {
	v := adminview.StaffView{Email: strings.TrimSpace(c.FormValue("email")), Name: strings.TrimSpace(c.FormValue("name"))}
	roles := formRoles(c)
	if len(roles) == 0 {
		v.Errors = fieldError(c, "roles", "roles_required")
		return s.staffPage(c, http.StatusUnprocessableEntity, v)
	}
	password := auth.GeneratePassword()
	_, err := s.admin.auth.CreateStaff(c.Request().Context(), auth.StaffRequest{Email: v.Email, Password: password, Name: v.Name, Roles: roles})
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v.Errors = errs
		return s.staffPage(c, status, v)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.staffPage(c, http.StatusOK, adminview.StaffView{Created: v.Email, Password: password})
}

// AdminSetRoles replaces a staff user's roles.
func (s *Server) AdminSetRoles(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if _, err := s.admin.auth.SetRoles(c.Request().Context(), id, formRoles(c)); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.staff"))
}
