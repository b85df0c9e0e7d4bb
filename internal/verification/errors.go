package verification

import "errors"

// Sentinels returned (wrapped) by this package. Code maps each to a stable
// error code for the web layer's one error table.
var (
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

// Field codes of the *fielderr.Errors that Submit… and
// MarkVerifiedExternally return (fields "name", "id_number", "company_name",
// "credit_code", "legal_rep", "licence", "reference"), besides identity's
// (id_format, id_region, id_birth_date, id_checksum, credit_format,
// credit_region, credit_checksum). too_long carries the argument "max".
const (
	CodeRequired        = "required"
	CodeTooLong         = "too_long"
	CodeLicenceTooLarge = "licence_too_large"
	CodeLicenceType     = "licence_type"
	CodeIdentityInUse   = "identity_in_use" // with ErrIdentityInUse, on id_number or credit_code
)

// FieldCodes lists every field code this package reports, identity's
// included, so the web layer can check each has a message.
var FieldCodes = []string{CodeRequired, CodeTooLong, CodeLicenceTooLarge, CodeLicenceType, CodeIdentityInUse,
	"id_format", "id_region", "id_birth_date", "id_checksum", "credit_format", "credit_region", "credit_checksum"}

// Code returns the stable code of an error of this package ("" for others),
// whose message is the i18n key `error.verification.<code>`:
// already_verified, pending, identity_in_use, no_such_verification,
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
	"already_verified":     ErrAlreadyVerified,
	"pending":              ErrPending,
	"identity_in_use":      ErrIdentityInUse,
	"no_such_verification": ErrNotFound,
	"not_pending":          ErrNotPending,
	"reason_required":      ErrReasonRequired,
	"forbidden":            ErrForbidden,
	"no_licence":           ErrNoLicence,
}
