// Package auth holds the sign-in, registration and password pages.
package auth

import "github.com/shopspring/decimal"

// Form is what the auth forms show back: typed values and messages (already
// localized), by field name.
type Form struct {
	Login, Name, Next, Token string
	// Error is a message about the whole form (bad credentials, throttled).
	Error  string
	Errors map[string]string
	// Consent: the sign-up form's box agreeing to the terms and privacy policy was ticked.
	Consent bool
}

// SignupOffer is the sign-up credit the registration page announces.
type SignupOffer struct {
	Credits decimal.Decimal
	Days    int
}
