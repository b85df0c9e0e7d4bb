package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/seed75218f88/credits/internal/auth"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminTOTPRoutes: every staff member's own authenticator enrolment. These
// are the only /admin pages an admin or finance user without one reaches.
func (s *Server) adminTOTPRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/totp", "admin.totp", s.AdminTOTP, auth.AllRoles...)
	s.adminRoute(g, http.MethodGet, "/totp/qr.png", "admin.totp.qr", s.AdminTOTPQR, auth.AllRoles...)
	s.adminRoute(g, http.MethodPost, "/totp", "admin.totp.confirm", s.AdminConfirmTOTP, auth.AllRoles...)
}

// AdminTOTP shows the QR code and secret of the pending authenticator, or
// that one is enrolled.
func (s *Server) AdminTOTP(c echo.Context) error {
	return s.totpPage(c, http.StatusOK, nil)
}

func (s *Server) totpPage(c echo.Context, status int, errs adminview.Errors) error {
	u := staffFrom(c)
	v := adminview.TOTPView{Frame: adminFrame(c, ""), Enrolled: u.TOTPEnrolled, Required: s.portal.auth.TwoFactorRequired(u), Errors: errs}
	if !u.TOTPEnrolled {
		e, err := s.portal.auth.TOTPEnrolment(c.Request().Context(), u.ID)
		if err != nil {
			return err
		}
		v.Secret, v.QRURL = e.Secret, s.URL("admin.totp.qr")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return Render(c, status, adminview.TOTP(v), nil)
}

// AdminTOTPQR draws the pending authenticator's otpauth:// URL as a PNG
// (the same QR drawing as the payment codes).
func (s *Server) AdminTOTPQR(c echo.Context) error {
	u := staffFrom(c)
	e, err := s.portal.auth.TOTPEnrolment(c.Request().Context(), u.ID)
	if errors.Is(err, auth.ErrTOTPEnrolled) {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	png, err := qrcode.Encode(e.URL, qrcode.Medium, 256)
	if err != nil {
		return fmt.Errorf("web: totp qr code: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "image/png", png)
}

// AdminConfirmTOTP completes the enrolment with the app's current code;
// this session counts as having passed it.
func (s *Server) AdminConfirmTOTP(c echo.Context) error {
	ctx := c.Request().Context()
	_, err := s.admin.bo.ConfirmTOTP(ctx, actor(c), c.FormValue("code"))
	if errors.Is(err, auth.ErrInvalidTOTP) || errors.Is(err, auth.ErrTOTPNotEnrolled) {
		return s.totpPage(c, http.StatusUnprocessableEntity, adminview.Errors{"code": authMessage(ctx, auth.ErrInvalidTOTP)})
	}
	if errors.Is(err, auth.ErrTOTPEnrolled) {
		return HXRedirect(c, s.URL("admin.totp"))
	}
	if err != nil {
		return err
	}
	s.Sessions.Put(ctx, sessionTOTPKey, true)
	return HXRedirect(c, s.URL("admin.home"))
}
