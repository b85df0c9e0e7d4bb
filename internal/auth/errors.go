package auth

import (
	"errors"

	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Error is a domain error with a stable code, which the web layer maps to
// the i18n key "form.auth.<code>". What was typed wrong is not an Error but
// a *fielderr.Errors with every failed field of the submission (fields
// "login", "email", "phone", "password", "name", "roles", "current"); the
// field sentinels below are its single-field values, matched with
// errors.Is, and their messages are error.field.<code>.
type Error struct {
	Code string
}

func (e *Error) Error() string { return "auth: " + e.Code }

// field is the sentinel for field failing with code.
func field(name, code string) *fielderr.Errors { return fielderr.One("auth", name, code) }

// Sentinels returned by the package; compare with errors.Is, read the code
// with Code.
var (
	// ErrLoginTaken: the email or phone already belongs to a user.
	ErrLoginTaken = field("login", "login_taken")
	// ErrInvalidEmail: the login or email is not a usable email address.
	ErrInvalidEmail = field("login", "invalid_email")
	// ErrInvalidPhone: the login or phone is not a mainland China mobile number.
	ErrInvalidPhone = field("login", "invalid_phone")
	// ErrWeakPassword matches any failure of the password field: the
	// returned error's code says which rule (password_too_short,
	// password_too_long, password_all_digits, password_is_login).
	ErrWeakPassword = &fielderr.Errors{Domain: "auth", Fields: []fielderr.Field{{Name: "password"}}}
	// ErrBadCredentials: unknown login, wrong password, or a user without a
	// password; deliberately indistinguishable.
	ErrBadCredentials = &Error{Code: "bad_credentials"}
	// ErrSignInThrottled: too many failed attempts for this login or from
	// this address; try again later.
	ErrSignInThrottled = &Error{Code: "sign_in_throttled"}
	// ErrUserDisabled: the user was disabled by staff (only reported after
	// the right password, or for a valid one-time link).
	ErrUserDisabled = &Error{Code: "user_disabled"}
	// ErrInvalidToken: a reset token or portal link that is unknown,
	// expired or already used.
	ErrInvalidToken = &Error{Code: "invalid_token"}
	// ErrNotFound: no such user.
	ErrNotFound = &Error{Code: "user_not_found"}
	// ErrUnknownRole: a role name outside support, finance, admin.
	ErrUnknownRole = field("roles", "unknown_role")
	// ErrNoRoles: a staff user must be created with at least one role.
	ErrNoRoles = field("roles", "no_roles")
	// ErrNotStaff: roles can only be given to staff users.
	ErrNotStaff = &Error{Code: "not_staff"}
	// ErrInvalidTTL: a portal link lifetime outside (0, Options.MaxPortalLinkTTL].
	ErrInvalidTTL = &Error{Code: "invalid_ttl"}
	// ErrSelfDisable: a staff member cannot disable their own account.
	ErrSelfDisable = &Error{Code: "self_disable"}
	// ErrLastAdmin: the change would leave no enabled staff user holding
	// the admin role.
	ErrLastAdmin = field("roles", "last_admin")
	// ErrInvalidTOTP: the code is not the authenticator's current code, or
	// it was already used.
	ErrInvalidTOTP = field("code", "invalid_totp")
	// ErrTOTPNotEnrolled: the user has no confirmed authenticator.
	ErrTOTPNotEnrolled = &Error{Code: "totp_not_enrolled"}
	// ErrTOTPEnrolled: the user already has a confirmed authenticator (an
	// admin resets it first).
	ErrTOTPEnrolled = &Error{Code: "totp_enrolled"}
)

var (
	errPasswordTooShort  = fielderr.One("auth", "password", "password_too_short", "min", "8")
	errPasswordTooLong   = field("password", "password_too_long")
	errPasswordAllDigits = field("password", "password_all_digits")
	errPasswordIsLogin   = field("password", "password_is_login")
)

// CodeCurrentPasswordWrong is ErrBadCredentials from ChangePassword, on the
// field "current".
const CodeCurrentPasswordWrong = "current_password_wrong"

// onField returns a field sentinel reported on another form field (e.g.
// ErrLoginTaken on "email" when a user adds an email), still matching it.
func onField(e *fielderr.Errors, name string) error {
	f := e.Fields[0]
	return fielderr.New("auth").Add(name, f.Code, args(f.Args)...)
}

func args(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

// Code returns the code of an auth error (of its first failed field for a
// *fielderr.Errors of this package), or "" for any other error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if fe, ok := fielderr.As(err); ok && fe.Domain == "auth" && len(fe.Fields) > 0 {
		return fe.Fields[0].Code
	}
	return ""
}

// AllErrors lists every non-field error the package returns, so the web
// layer can check that each has a message in every locale (key
// "form.auth.<code>").
var AllErrors = []*Error{
	ErrBadCredentials, ErrSignInThrottled, ErrUserDisabled, ErrInvalidToken,
	ErrNotFound, ErrNotStaff, ErrInvalidTTL, ErrAccountHasUser, ErrResetThrottled,
	ErrSelfDisable, ErrTOTPNotEnrolled, ErrTOTPEnrolled,
}

// FieldCodes lists every field code the package reports, so the web layer
// can check each has a message (key "error.field.<code>").
var FieldCodes = []string{
	"login_taken", "invalid_email", "invalid_phone", "password_too_short", "password_too_long",
	"password_all_digits", "password_is_login", "invalid_name", "unknown_role", "no_roles", CodeCurrentPasswordWrong,
	"last_admin", "invalid_totp",
}
