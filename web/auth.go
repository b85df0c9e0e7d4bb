package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/passwordreset"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/referral"
	authview "github.com/seed75218f88/credits/views/auth"
)

// Session keys: the signed-in user's id, and the user's session epoch when
// they signed in (see sessionUser).
const (
	sessionUserKey  = "user_id"
	sessionEpochKey = "session_epoch"
)

// authRoutes registers sign-in, sign-up, sign-out, password reset and the
// one-time portal links.
func (s *Server) authRoutes(e *echo.Echo) {
	named(e.GET("/signin", s.SignInForm), "auth.signin")
	named(e.POST("/signin", s.SignIn), "auth.signin.post")
	named(e.GET("/signup", s.SignUpForm), "auth.signup")
	named(e.POST("/signup", s.SignUp), "auth.signup.post")
	named(e.POST("/signout", s.SignOut), "auth.signout")
	named(e.GET("/password/forgot", s.ForgotForm), "auth.forgot")
	named(e.POST("/password/forgot", s.Forgot), "auth.forgot.post")
	named(e.GET("/password/reset/:token", s.ResetForm), "auth.reset")
	named(e.POST("/password/reset/:token", s.Reset), "auth.reset.post")
	named(e.GET("/portal/link/:token", s.PortalLink), "auth.portal_link")
	s.authTOTPRoutes(e)
}

// SignInForm shows the sign-in form.
func (s *Server) SignInForm(c echo.Context) error {
	return Render(c, http.StatusOK, authview.SignIn(authview.Form{Next: safeNext(c.QueryParam("next"))}), nil)
}

// SignIn checks the login and password, renews the session token and sends
// customers to the portal (or where they were going) and staff to /admin.
func (s *Server) SignIn(c echo.Context) error {
	f := authview.Form{Login: c.FormValue("login"), Next: safeNext(c.FormValue("next"))}
	ctx := c.Request().Context()
	u, err := s.portal.auth.Authenticate(ctx, f.Login, c.FormValue("password"), ClientIP(c))
	if err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			return err
		}
		status := http.StatusUnprocessableEntity
		if errors.Is(err, auth.ErrSignInThrottled) {
			status = http.StatusTooManyRequests
		}
		f.Error = authMessage(ctx, err)
		return Render(c, status, authview.SignIn(f), nil)
	}
	if u.TOTPEnrolled {
		return s.startTOTP(c, u)
	}
	if err := s.signIn(ctx, u); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.landing(u, f.Next))
}

// landing is where a user goes after signing in.
func (s *Server) landing(u auth.User, next string) string {
	if u.Kind == auth.KindStaff {
		return "/admin"
	}
	if next != "" {
		return next
	}
	return s.URL("portal.overview")
}

// signIn stores the user and their session epoch in a fresh session (a new
// token, against session fixation). The session has not passed a TOTP
// code (see auth_totp.go).
func (s *Server) signIn(ctx context.Context, u auth.User) error {
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.Sessions.Remove(ctx, sessionTOTPKey)
	if s.Sessions.GetInt64(ctx, sessionUserKey) != u.ID { // another user starts on its own account
		s.Sessions.Remove(ctx, sessionAccountKey)
	}
	s.Sessions.Put(ctx, sessionUserKey, u.ID)
	s.Sessions.Put(ctx, sessionEpochKey, u.SessionEpoch)
	return nil
}

// sessionUser returns the user signed in to the request's session, or ok
// false for a visitor. A session signed in at an earlier session epoch than
// the user's (the password was changed or reset, the user disabled, a staff
// role taken away) is destroyed and reads as signed out. The epoch is read
// from the users row on every request, never from a cache, so this holds
// in every process at once: the session cache's 2-second trust does not
// delay it.
func (s *Server) sessionUser(c echo.Context) (u auth.User, ok bool, err error) {
	ctx := c.Request().Context()
	id := s.Sessions.GetInt64(ctx, sessionUserKey)
	if id == 0 {
		return auth.User{}, false, nil
	}
	u, err = s.portal.auth.UserByID(ctx, id)
	if errors.Is(err, auth.ErrNotFound) || (err == nil && u.SessionEpoch != s.Sessions.GetInt64(ctx, sessionEpochKey)) {
		return auth.User{}, false, s.Sessions.Destroy(ctx)
	}
	if err != nil {
		return auth.User{}, false, err
	}
	return u, true, nil
}

// SignUpForm shows the registration form. An invite link's code
// (?ref=CODE) is carried by the form; a code no account has is dropped with
// a notice, and the sign-up works as without it.
func (s *Server) SignUpForm(c echo.Context) error {
	// A team invitation's page sends the invitee here with its address and
	// itself as next (web/portal_team.go).
	f := authview.Form{Login: c.QueryParam("login"), Next: safeNext(c.QueryParam("next"))}
	if ref := c.QueryParam("ref"); ref != "" {
		if _, err := s.referrals.Inviter(c.Request().Context(), ref); err == nil {
			f.Ref = referral.NormalizeCode(ref)
		} else if errors.Is(err, referral.ErrUnknownCode) {
			f.RefUnknown = true
		} else {
			return err
		}
	}
	return Render(c, http.StatusOK, authview.SignUp(f, s.signupOffer()), nil)
}

func (s *Server) signupOffer() authview.SignupOffer {
	return authview.SignupOffer{Credits: s.portal.signup.Settings.Credit, Days: s.portal.signup.Settings.ExpiryDays}
}

// SignUp registers a customer (ledger account, user, sign-up credit) and
// signs them in.
func (s *Server) SignUp(c echo.Context) error {
	ctx := c.Request().Context()
	f := authview.Form{Login: c.FormValue("login"), Name: c.FormValue("name"), Consent: c.FormValue("consent") != "",
		Ref: c.FormValue("ref"), Next: safeNext(c.FormValue("next")), Errors: map[string]string{}}
	req := auth.RegisterRequest{Login: f.Login, Password: c.FormValue("password"), Name: f.Name, Locale: i18n.Lang(ctx),
		TermsVersion: LegalVersion, IP: ClientIP(c)}
	// Every failed field at once: the form's own checks and the login,
	// password and name as Register checks them.
	errs := fielderr.New("web")
	if req.Password != c.FormValue("password_confirm") {
		errs.Add("password_confirm", "password_mismatch")
	}
	// Explicit consent to the terms and the privacy policy (PIPL art. 14):
	// a box the person ticks, never ticked for them.
	if !f.Consent {
		errs.Add("consent", "consent_required")
	}
	errs.Merge(auth.CheckRegistration(req))
	err := errs.Err()
	var u auth.User
	if err == nil {
		u, _, err = s.portal.signup.RegisterInvited(ctx, req, f.Ref)
	}
	if err != nil {
		msgs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		f.Errors = msgs
		return Render(c, status, authview.SignUp(f, s.signupOffer()), nil)
	}
	if err := s.signIn(ctx, u); err != nil {
		return err
	}
	if f.Next != "" {
		return c.Redirect(http.StatusSeeOther, f.Next)
	}
	return c.Redirect(http.StatusSeeOther, s.URL("portal.overview")+"?welcome=1")
}

// SignOut ends the session (with a new token) and returns to the sign-in page.
func (s *Server) SignOut(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.Sessions.Remove(ctx, sessionUserKey)
	return HXRedirect(c, s.URL("auth.signin"))
}

// ForgotForm asks for the login whose password to reset.
func (s *Server) ForgotForm(c echo.Context) error {
	return Render(c, http.StatusOK, authview.Forgot(authview.Form{}, false), nil)
}

// Forgot queues a one-time reset link for the login's email address and
// answers the same whether or not one was queued: the page says "if that
// account exists", and the answer never waits on an SMTP server.
func (s *Server) Forgot(c echo.Context) error {
	ctx := c.Request().Context()
	err := s.portal.resets.Request(ctx, c.FormValue("login"), i18n.Lang(ctx))
	if err != nil && !passwordreset.Refused(err) {
		return err
	}
	return Render(c, http.StatusOK, authview.Forgot(authview.Form{}, true), nil)
}

// ResetForm asks for a new password. For a new staff member's one-time
// link (a staff user without a password yet) it welcomes them by email.
func (s *Server) ResetForm(c echo.Context) error {
	return Render(c, http.StatusOK, authview.Reset(s.resetForm(c)), nil)
}

func (s *Server) resetForm(c echo.Context) authview.Form {
	f := authview.Form{Token: c.Param("token")}
	if u, err := s.portal.auth.PasswordTokenUser(c.Request().Context(), f.Token); err == nil && u.Kind == auth.KindStaff && !u.HasPassword {
		f.Welcome = u.Email
	}
	return f
}

// Reset sets the new password with the token and signs the user in.
func (s *Server) Reset(c echo.Context) error {
	ctx := c.Request().Context()
	f := s.resetForm(c)
	password := c.FormValue("password")
	if password != c.FormValue("password_confirm") {
		f.Errors = fieldMessages(c, fielderr.One("web", "password_confirm", "password_mismatch"))
		return Render(c, http.StatusUnprocessableEntity, authview.Reset(f), nil)
	}
	// Through the back office, which audits a staff member's new password.
	u, err := s.admin.bo.SetPasswordWithToken(ctx, f.Token, password, ClientIP(c))
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		var ae *auth.Error
		switch {
		case ok:
			f.Errors = errs
		case errors.As(err, &ae): // the link is unknown, used or expired
			f.Error, status = authMessage(ctx, err), http.StatusUnprocessableEntity
		default:
			return err
		}
		return Render(c, status, authview.Reset(f), nil)
	}
	if err := s.signIn(ctx, u); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.landing(u, ""))
}

// PortalLink signs in with a one-time link made by the API's
// portal-sessions endpoint, then offers to set a password when the user has
// none.
func (s *Server) PortalLink(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.portal.auth.ConsumePortalLink(ctx, c.Param("token"))
	if err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			return err
		}
		return Render(c, http.StatusNotFound, authview.SignIn(authview.Form{Error: authMessage(ctx, err)}), nil)
	}
	if err := s.signIn(ctx, u); err != nil {
		return err
	}
	if !u.HasPassword {
		return c.Redirect(http.StatusSeeOther, s.URL("portal.password"))
	}
	return c.Redirect(http.StatusSeeOther, s.URL("portal.overview"))
}

// authMessage is the text of an auth refusal that names no field (wrong
// login or password, too many attempts, a used link): form.auth.<code>.
func authMessage(ctx context.Context, err error) string {
	code := auth.Code(err)
	if code == "" {
		code = "bad_credentials"
	}
	return i18n.T(ctx, "form.auth."+code)
}

// signUpFieldCodes are the codes of the sign-up form's own checks, for the
// locale test.
var signUpFieldCodes = []string{"password_mismatch", "consent_required"}

// safeNext keeps only a local portal path to return to after sign-in.
func safeNext(next string) string {
	if !(strings.HasPrefix(next, "/portal") || strings.HasPrefix(next, "/team/accept/")) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	return next
}
