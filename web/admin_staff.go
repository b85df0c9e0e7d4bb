package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminStaffRoutes: staff users, their roles, state and authenticators
// (admins only). Every change goes through the back office, which writes
// its audit row.
func (s *Server) adminStaffRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/staff", "admin.staff", s.AdminStaff, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/staff", "admin.staff.create", s.AdminCreateStaff, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/staff/:id/roles", "admin.staff.roles", s.AdminSetRoles, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/staff/:id/disable", "admin.staff.disable", s.AdminDisableStaff, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/staff/:id/enable", "admin.staff.enable", s.AdminEnableStaff, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/staff/:id/totp-reset", "admin.staff.totp_reset", s.AdminResetStaffTOTP, auth.RoleAdmin)
}

// AdminStaff lists staff users with their roles.
func (s *Server) AdminStaff(c echo.Context) error {
	v := adminview.StaffView{}
	if c.QueryParam("done") != "" {
		v.Notice = tr(c, "admin.staff.saved")
	}
	return s.staffPage(c, http.StatusOK, v)
}

func (s *Server) staffPage(c echo.Context, status int, v adminview.StaffView) error {
	users, err := s.admin.auth.ListStaff(c.Request().Context())
	if err != nil {
		return err
	}
	me := staffFrom(c)
	v.Frame = adminFrame(c, "admin.staff")
	for _, r := range auth.AllRoles {
		v.AllRoles = append(v.AllRoles, string(r))
	}
	for _, u := range users {
		row := adminview.StaffRow{ID: u.ID, Email: u.Email, Name: u.Name, Disabled: u.Disabled, Self: u.ID == me.ID,
			HasPassword: u.HasPassword, TOTPEnrolled: u.TOTPEnrolled, LastSignIn: u.LastSignInAt}
		if strings.EqualFold(row.Name, row.Email) {
			row.Name = "" // named after their email (the demo users): say it once
		}
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

// AdminCreateStaff creates a staff user without a password and shows the
// admin, once, the one-time link with which the new member sets it (no
// password ever travels through this page). Every field's problem is
// reported at once, with what was typed kept.
func (s *Server) AdminCreateStaff(c echo.Context) error {
	ctx := c.Request().Context()
	roles := formRoles(c)
	v := adminview.StaffView{Email: strings.TrimSpace(c.FormValue("email")), Name: strings.TrimSpace(c.FormValue("name"))}
	for _, r := range roles {
		v.Roles = append(v.Roles, string(r))
	}
	inv, err := s.admin.bo.InviteStaff(ctx, actor(c), auth.StaffRequest{Email: v.Email, Name: v.Name, Roles: roles, Locale: c.FormValue("locale")})
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v.Errors = errs
		return s.staffPage(c, status, v)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.staffPage(c, http.StatusOK, adminview.StaffView{Invite: &adminview.StaffInvite{
		Email: inv.User.Email, Link: s.Config.BaseURL + s.URL("auth.reset", inv.Token), Expires: inv.Expires}})
}

// staffAction runs one change to the staff user in the path and shows the
// list again: a refusal (last admin, oneself) as a message above it.
func (s *Server) staffAction(c echo.Context, change func(id int64) error) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := change(id); err != nil {
		if errors.Is(err, auth.ErrNotStaff) {
			return echo.ErrNotFound // a customer's id: no such staff user
		}
		var ae *auth.Error
		_, isField := fielderr.As(err)
		if !errors.As(err, &ae) && !isField || errors.Is(err, auth.ErrNotFound) {
			return err
		}
		return s.staffPage(c, http.StatusUnprocessableEntity, adminview.StaffView{Errors: adminview.Errors{"": authMessage(c.Request().Context(), err)}})
	}
	return HXRedirect(c, s.URL("admin.staff")+"?done=1")
}

// AdminSetRoles replaces a staff user's roles.
func (s *Server) AdminSetRoles(c echo.Context) error {
	return s.staffAction(c, func(id int64) error {
		_, err := s.admin.bo.SetStaffRoles(c.Request().Context(), actor(c), id, formRoles(c))
		return err
	})
}

// AdminDisableStaff disables a staff user: they are signed out at once.
func (s *Server) AdminDisableStaff(c echo.Context) error {
	return s.staffAction(c, func(id int64) error {
		_, err := s.admin.bo.SetStaffDisabled(c.Request().Context(), actor(c), id, true)
		return err
	})
}

// AdminEnableStaff re-enables a disabled staff user.
func (s *Server) AdminEnableStaff(c echo.Context) error {
	return s.staffAction(c, func(id int64) error {
		_, err := s.admin.bo.SetStaffDisabled(c.Request().Context(), actor(c), id, false)
		return err
	})
}

// AdminResetStaffTOTP removes a staff user's authenticator (a lost phone):
// they are signed out and enrol a new one at their next sign-in.
func (s *Server) AdminResetStaffTOTP(c echo.Context) error {
	return s.staffAction(c, func(id int64) error {
		_, err := s.admin.bo.ResetStaffTOTP(c.Request().Context(), actor(c), id)
		return err
	})
}
