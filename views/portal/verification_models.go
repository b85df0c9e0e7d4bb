package portal

import "time"

// View models of the real-name verification pages (verification.templ).

// VerificationStatus is an account's real-name verification as pages show
// it: masked values only (the full number never reaches a view model).
type VerificationStatus struct {
	ID, AccountID                      int64
	State, Subject, Source             string
	Reason                             string // localized, or the reviewer's text
	Reference                          string
	Name, MaskedNumber, MaskedLegalRep string
	LicenceName, LicenceType           string
	LicenceSize                        int
	LicenceSHA256                      string
	SubmittedAt, DecidedAt             *time.Time
	DecidedBy                          string
	BonusGranted                       bool
}

// CanSubmit reports whether the customer may (re)submit.
func (s VerificationStatus) CanSubmit() bool { return s.State == "unverified" || s.State == "rejected" }

// VerificationEvent is one state change in the history.
type VerificationEvent struct {
	At     time.Time
	State  string
	Reason string
}

// VerificationForm is what the customer entered, for a re-rendered form.
// ID numbers and credit codes are deliberately absent: they are typed again.
type VerificationForm struct {
	Name, CompanyName, LegalRep string
	// IDNumber and CreditCode are kept as typed after an error (the
	// response is not cached); a page never shows a stored number unmasked.
	IDNumber, CreditCode string
	// Consent: the separate consent to process sensitive personal
	// information was ticked.
	Consent bool
}

// VerificationView is the portal's verification page.
type VerificationView struct {
	Frame
	Status  VerificationStatus
	History []VerificationEvent
	Tab     string // "individual" or "enterprise": the form shown first
	Form    VerificationForm
	Errors  map[string]string // form field → localized message
}
