package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	authview "github.com/seed75218f88/credits/views/auth"
)

// Two-step staff sign-in. A staff member with a confirmed authenticator
// who gives the right password is not signed in yet: the session only
// remembers them as pending (user, session epoch, when) for totpPendingTTL,
// and /signin/totp asks for the 6-digit code. A session that reached
// /admin otherwise (a password reset link) is turned back into a pending
// one by requireStaff, which admits staff with an authenticator only when
// their session carries sessionTOTPKey.
const (
	sessionPendingUserKey  = "totp_pending_user"
	sessionPendingEpochKey = "totp_pending_epoch"
	sessionPendingAtKey    = "totp_pending_at"
	// sessionTOTPKey marks a session that passed the code (or enrolled).
	sessionTOTPKey = "totp_ok"
	totpPendingTTL = 5 * time.Minute
)

// authTOTPRoutes registers the second sign-in step.
func (s *Server) authTOTPRoutes(e *echo.Echo) {
	named(e.GET("/signin/totp", s.TOTPForm), "auth.totp")
	named(e.POST("/signin/totp", s.TOTPSubmit), "auth.totp.post")
}

// startTOTP makes the session pending for u's code (with a fresh token)
// and sends the browser to the code page.
func (s *Server) startTOTP(c echo.Context, u auth.User) error {
	ctx := c.Request().Context()
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.Sessions.Remove(ctx, sessionUserKey)
	s.Sessions.Remove(ctx, sessionEpochKey)
	s.Sessions.Remove(ctx, sessionTOTPKey)
	s.Sessions.Put(ctx, sessionPendingUserKey, u.ID)
	s.Sessions.Put(ctx, sessionPendingEpochKey, u.SessionEpoch)
	s.Sessions.Put(ctx, sessionPendingAtKey, time.Now().Unix())
	return HXRedirect(c, s.URL("auth.totp"))
}

// pendingUser is the user waiting to give a code in this session, or 0
// when none is (or the wait is over).
func (s *Server) pendingUser(c echo.Context) (id, epoch int64) {
	ctx := c.Request().Context()
	id = s.Sessions.GetInt64(ctx, sessionPendingUserKey)
	at := time.Unix(s.Sessions.GetInt64(ctx, sessionPendingAtKey), 0)
	if id == 0 || time.Since(at) > totpPendingTTL {
		return 0, 0
	}
	return id, s.Sessions.GetInt64(ctx, sessionPendingEpochKey)
}

func (s *Server) clearPending(c echo.Context) {
	ctx := c.Request().Context()
	s.Sessions.Remove(ctx, sessionPendingUserKey)
	s.Sessions.Remove(ctx, sessionPendingEpochKey)
	s.Sessions.Remove(ctx, sessionPendingAtKey)
}

// TOTPForm asks for the authenticator code; without a pending sign-in it
// sends the browser back to the password.
func (s *Server) TOTPForm(c echo.Context) error {
	if id, _ := s.pendingUser(c); id == 0 {
		return c.Redirect(http.StatusSeeOther, s.URL("auth.signin"))
	}
	return Render(c, http.StatusOK, authview.TOTP(authview.Form{}), nil)
}

// TOTPSubmit checks the code and completes the sign-in.
func (s *Server) TOTPSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	id, epoch := s.pendingUser(c)
	if id == 0 {
		return HXRedirect(c, s.URL("auth.signin"))
	}
	u, err := s.portal.auth.VerifyTOTP(ctx, id, c.FormValue("code"), ClientIP(c))
	if err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			return err
		}
		if errors.Is(err, auth.ErrUserDisabled) || errors.Is(err, auth.ErrTOTPNotEnrolled) {
			s.clearPending(c)
			return HXRedirect(c, s.URL("auth.signin"))
		}
		status := http.StatusUnprocessableEntity
		if errors.Is(err, auth.ErrSignInThrottled) {
			status = http.StatusTooManyRequests
		}
		return Render(c, status, authview.TOTP(authview.Form{Errors: map[string]string{"code": authMessage(ctx, err)}}), nil)
	}
	s.clearPending(c)
	if u.SessionEpoch != epoch {
		// The password changed, or the user was disabled, meanwhile.
		return HXRedirect(c, s.URL("auth.signin"))
	}
	if err := s.signIn(ctx, u); err != nil {
		return err
	}
	s.Sessions.Put(ctx, sessionTOTPKey, true)
	return HXRedirect(c, s.URL("admin.home"))
}
