package verification

import (
	"errors"
	"strings"
)

// Sentinels returned (wrapped) by this package. Code maps each to a stable
// error code for the web layer's one error table.
var (
	// ErrInvalidInput: a form field failed local validation; errors.As with
	// *InputError gives the fields and their codes.
	ErrInvalidInput = errors.New("verification: invalid input")
	// ErrAlreadyVerified: the account is verified; there is nothing to submit.
	ErrAlreadyVerified = errors.New("verification: account already verified")
	// ErrPending: a submission of the account awaits review; wait for its decision.
	ErrPending = errors.New("verification: a submission is pending review")
	// ErrIdentityInUse: this ID number or credit code already verified another account.
	ErrIdentityInUse = errors.New("verification: identity already verified another account")
	// ErrNotFound: no such verification.
	ErrNotFound = errors.New("verification: not found")
	// ErrNotPending: the verification was already decided.
	ErrNotPending = errors.New("verification: not pending")
	// ErrReasonRequired: a rejection needs a reason.
	ErrReasonRequired = errors.New("verification: reason required")
	// ErrForbidden: the viewer's roles do not allow seeing the full value.
	ErrForbidden = errors.New("verification: not allowed to see personal data")
	// ErrNoLicence: the verification has no licence file (an individual's, or an external one).
	ErrNoLicence = errors.New("verification: no licence file")
)

// FieldError is one failed form field. Field is the form field name
// ("name", "id_number", "company_name", "credit_code", "legal_rep", "licence",
// "reference"); Code is stable and maps to the i18n key
// `error.verification.<code>`, identity's codes (id_checksum, …) included.
type FieldError struct {
	Field string `json:"field"`
	Code  string `json:"code"`
}

// InputError lists the fields of a submission that failed local validation.
// It matches ErrInvalidInput with errors.Is.
type InputError struct {
	Fields []FieldError
}

// Error implements error.
func (e *InputError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Code
	}
	return "verification: invalid input: " + strings.Join(parts, ", ")
}

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// Field returns the code of the named field ("" when it passed).
func (e *InputError) Field(name string) string {
	for _, f := range e.Fields {
		if f.Field == name {
			return f.Code
		}
	}
	return ""
}

// Validation codes of FieldError.Code besides identity's (id_format,
// id_region, id_birth_date, id_checksum, credit_format, credit_region,
// credit_checksum).
const (
	CodeRequired        = "required"
	CodeTooLong         = "too_long"
	CodeLicenceTooLarge = "licence_too_large"
	CodeLicenceType     = "licence_type"
)

// Code returns the stable code of an error of this package ("" for others),
// whose message is the i18n key `error.verification.<code>`:
// invalid_input, already_verified, pending, identity_in_use, no_such_verification,
// not_pending, reason_required, forbidden, no_licence.
func Code(err error) string {
	for code, s := range codes {
		if errors.Is(err, s) {
			return code
		}
	}
	return ""
}

var codes = map[string]error{
	"invalid_input":        ErrInvalidInput,
	"already_verified":     ErrAlreadyVerified,
	"pending":              ErrPending,
	"identity_in_use":      ErrIdentityInUse,
	"no_such_verification": ErrNotFound,
	"not_pending":          ErrNotPending,
	"reason_required":      ErrReasonRequired,
	"forbidden":            ErrForbidden,
	"no_licence":           ErrNoLicence,
}
