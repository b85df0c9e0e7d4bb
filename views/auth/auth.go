// Package auth holds the sign-in, registration and password pages.
package auth

import (
	"context"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// resetTitle is the password page's title: a welcome for a new staff member.
func resetTitle(ctx context.Context, f Form) string {
	if f.Welcome != "" {
		return i18n.T(ctx, "page.staff_welcome.title")
	}
	return i18n.T(ctx, "page.reset.title")
}

// Form is what the auth forms show back: typed values and messages (already
// localized), by field name.
type Form struct {
	Login, Name, Next, Token string
	// Error is a message about the whole form (bad credentials, throttled).
	Error  string
	Errors map[string]string
	// Consent: the sign-up form's box agreeing to the terms and privacy policy was ticked.
	Consent bool
	// Welcome is the email of a new staff member choosing their first
	// password with the one-time link an admin gave them.
	Welcome string
	// Ref is the invite code the sign-up came with (/signup?ref=CODE),
	// sent again with the form; RefUnknown says a code was given that no
	// account has: it is ignored and the sign-up goes on without it.
	Ref        string
	RefUnknown bool
}

// SignupOffer is the sign-up credit the registration page announces.
type SignupOffer struct {
	Credits decimal.Decimal
	Days    int
}
