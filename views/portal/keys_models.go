package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// KeysView is the API keys page (API 密钥): a new key's secret (once), the
// revoke confirmation, the create form and the keys.
type KeysView struct {
	Frame
	// Scopes: an enterprise owner picks the account (its own or a
	// sub-account's) a key spends from.
	Scopes bool
	// CanBudget: the customer may set the key's monthly budget (not a
	// department's user, as on the budgets page).
	CanBudget bool
	Accounts  []Option
	Models    []string // the rate card's models, for the allow-list
	Form      KeyForm
	Keys      []KeyRow
	Created   *CreatedKey
	Confirm   *KeyRow
	Revoked   bool
	// Gateway is the base URL of the OpenAI-compatible gateway, for the
	// usage hint (empty: not shown).
	Gateway string
}

// KeyForm is the create form as typed, with each field's error.
type KeyForm struct {
	Account, Name, Project, ExpiresOn, BudgetAmount, BudgetUnit string
	Models                                                      []string
	Errors                                                      map[string]string
}

// Picked reports whether model is ticked in the allow-list.
func (f KeyForm) Picked(model string) bool {
	for _, m := range f.Models {
		if m == model {
			return true
		}
	}
	return false
}

// KeyRow is one API key: its prefix, never its secret. State is active,
// expired or revoked.
type KeyRow struct {
	ID         int64
	Account    string // the account's name and id (enterprises)
	Prefix     string
	Name       string
	Project    string
	Models     []string // empty: every model
	ExpiresOn  string   // the last day it works, Shanghai (empty: no expiry)
	LastUsedAt *time.Time
	CreatedAt  time.Time
	RevokedAt  *time.Time
	State      string
	// Budget is the monthly budget over the key's labels, if one is set.
	Budget *KeyBudget
}

// KeyBudget is the budget over a key and what this period used of it.
type KeyBudget struct {
	Cap, Used decimal.Decimal
	Period    string
}

// CreatedKey is a key just created, with the secret to show this once.
type CreatedKey struct {
	KeyRow
	Secret string
}
