package auth

import "errors"

// Error is a domain error with a stable code and, for form input, the field
// it belongs to. The web layer maps Code to the i18n key "error.auth.<code>"
// and shows it next to Field ("login", "email", "phone", "password", "roles",
// or "" for the whole form).
type Error struct {
	Code  string
	Field string
	kind  *Error // the exported sentinel this refines, if any
}

func (e *Error) Error() string { return "auth: " + e.Code }

// Is makes a refined error (e.g. password_too_short) match its sentinel
// (ErrWeakPassword).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && e.kind != nil && e.kind == t
}

// Sentinels returned by the package; compare with errors.Is, read Code and
// Field with errors.As(err, &*auth.Error).
var (
	// ErrLoginTaken: the email or phone already belongs to a user.
	ErrLoginTaken = &Error{Code: "login_taken", Field: "login"}
	// ErrInvalidEmail: the login or email is not a usable email address.
	ErrInvalidEmail = &Error{Code: "invalid_email", Field: "login"}
	// ErrInvalidPhone: the login or phone is not a mainland China mobile number.
	ErrInvalidPhone = &Error{Code: "invalid_phone", Field: "login"}
	// ErrWeakPassword: the password breaks the policy; the returned error's
	// Code says which rule (password_too_short, password_too_long,
	// password_all_digits, password_is_login).
	ErrWeakPassword = &Error{Code: "weak_password", Field: "password"}
	// ErrBadCredentials: unknown login, wrong password, or a user without a
	// password; deliberately indistinguishable.
	ErrBadCredentials = &Error{Code: "bad_credentials", Field: ""}
	// ErrSignInThrottled: too many failed attempts for this login or from
	// this address; try again later.
	ErrSignInThrottled = &Error{Code: "sign_in_throttled", Field: ""}
	// ErrUserDisabled: the user was disabled by staff (only reported after
	// the right password, or for a valid one-time link).
	ErrUserDisabled = &Error{Code: "user_disabled", Field: ""}
	// ErrInvalidToken: a reset token or portal link that is unknown,
	// expired or already used.
	ErrInvalidToken = &Error{Code: "invalid_token", Field: ""}
	// ErrNotFound: no such user.
	ErrNotFound = &Error{Code: "user_not_found", Field: ""}
	// ErrUnknownRole: a role name outside support, finance, admin.
	ErrUnknownRole = &Error{Code: "unknown_role", Field: "roles"}
	// ErrNoRoles: a staff user must be created with at least one role.
	ErrNoRoles = &Error{Code: "no_roles", Field: "roles"}
	// ErrNotStaff: roles can only be given to staff users.
	ErrNotStaff = &Error{Code: "not_staff", Field: ""}
	// ErrInvalidTTL: a portal link lifetime outside (0, Options.MaxPortalLinkTTL].
	ErrInvalidTTL = &Error{Code: "invalid_ttl", Field: ""}
	// ErrSelfDisable: a staff member cannot disable their own account.
	ErrSelfDisable = &Error{Code: "self_disable", Field: ""}
	// ErrLastAdmin: the change would leave no enabled staff user holding
	// the admin role.
	ErrLastAdmin = &Error{Code: "last_admin", Field: "roles"}
	// ErrInvalidTOTP: the code is not the authenticator's current code, or
	// it was already used.
	ErrInvalidTOTP = &Error{Code: "invalid_totp", Field: "code"}
	// ErrTOTPNotEnrolled: the user has no confirmed authenticator.
	ErrTOTPNotEnrolled = &Error{Code: "totp_not_enrolled", Field: ""}
	// ErrTOTPEnrolled: the user already has a confirmed authenticator (an
	// admin resets it first).
	ErrTOTPEnrolled = &Error{Code: "totp_enrolled", Field: ""}
)

var (
	errPasswordTooShort  = &Error{Code: "password_too_short", Field: "password", kind: ErrWeakPassword}
	errPasswordTooLong   = &Error{Code: "password_too_long", Field: "password", kind: ErrWeakPassword}
	errPasswordAllDigits = &Error{Code: "password_all_digits", Field: "password", kind: ErrWeakPassword}
	errPasswordIsLogin   = &Error{Code: "password_is_login", Field: "password", kind: ErrWeakPassword}
)

// onField returns a copy of a sentinel reported on another form field (e.g.
// ErrLoginTaken on "email" when a user adds an email), still matching it.
func onField(e *Error, field string) error {
	if e.Field == field {
		return e
	}
	return &Error{Code: e.Code, Field: field, kind: e}
}

// Code returns the code of an auth error, or "" for any other error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// AllErrors lists every error code the package returns, refinements
// included, so the web layer can check that each has a message in every
// locale (key "error.auth.<code>").
var AllErrors = []*Error{
	ErrLoginTaken, ErrInvalidEmail, ErrInvalidPhone, ErrWeakPassword,
	errPasswordTooShort, errPasswordTooLong, errPasswordAllDigits, errPasswordIsLogin,
	ErrBadCredentials, ErrSignInThrottled, ErrUserDisabled, ErrInvalidToken,
	ErrNotFound, ErrUnknownRole, ErrNoRoles, ErrNotStaff,
	ErrInvalidTTL, ErrInvalidName, ErrAccountHasUser, ErrResetThrottled,
	ErrSelfDisable, ErrLastAdmin, ErrInvalidTOTP, ErrTOTPNotEnrolled, ErrTOTPEnrolled,
}
