// Package identity holds the pure building blocks of real-name verification
// (实名认证): validators for the 18-digit resident identity number (GB 11643-1999)
// and the unified social credit code (GB 32100-2015), masking for display, and
// the verification providers that confirm a name belongs to a number.
//
// Validators normalise their input (spaces removed, full-width characters folded
// to ASCII, lower case upper-cased) and return a *ValidationError wrapping one of
// the sentinels below, so the web layer can map Code to an i18n key.
package identity

import "errors"

// ValidationError is a failed local check of an identity number. Code is stable
// and maps one-to-one to an i18n key such as `error.identity.id_checksum`.
type ValidationError struct {
	Code string
}

// Error implements error.
func (e *ValidationError) Error() string { return "identity: invalid number: " + e.Code }

// Sentinels for resident identity numbers. Returned errors wrap one of them
// (use errors.Is), and errors.As with *ValidationError yields the code.
var (
	// ErrIDFormat: not 17 digits followed by a digit or X.
	ErrIDFormat = &ValidationError{Code: "id_format"}
	// ErrIDRegion: the first two digits are not a province-level code of GB/T 2260.
	ErrIDRegion = &ValidationError{Code: "id_region"}
	// ErrIDBirthDate: digits 7-14 are not a real date between 1900-01-01 and today.
	ErrIDBirthDate = &ValidationError{Code: "id_birth_date"}
	// ErrIDChecksum: the 18th character is not the ISO 7064 MOD 11-2 check character.
	ErrIDChecksum = &ValidationError{Code: "id_checksum"}
)

// Sentinels for unified social credit codes.
var (
	// ErrCreditFormat: not 18 characters of the GB 32100 alphabet (no I, O, S, V, Z).
	ErrCreditFormat = &ValidationError{Code: "credit_format"}
	// ErrCreditRegion: characters 3-8 are not a six-digit administrative region code.
	ErrCreditRegion = &ValidationError{Code: "credit_region"}
	// ErrCreditChecksum: the 18th character is not the GB 32100 check character.
	ErrCreditChecksum = &ValidationError{Code: "credit_checksum"}
)

// ErrProviderUnavailable is returned (wrapped) by a Provider that could not get
// an answer: network failure, bad signature, unexpected reply. Callers keep the
// submission pending and retry or queue it for manual review.
var ErrProviderUnavailable = errors.New("identity: verification provider unavailable")

// Code returns the validation code carried by err ("" when err is not a
// validation failure).
func Code(err error) string {
	var v *ValidationError
	if errors.As(err, &v) {
		return v.Code
	}
	return ""
}
