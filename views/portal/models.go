// Package portal holds the customer portal's pages: overview, usage,
// transactions, top-up entry, sub-accounts and password. Handlers fill the
// plain view models below; amounts are decimals, times UTC instants, and the
// templates format them (¥ to the fen, credits with separators, Asia/Shanghai).
package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// Frame is what every portal page shows around its content.
type Frame struct {
	Active      string // route name of the current menu entry
	AccountID   int64
	AccountName string
	Login       string
	Enterprise  bool // an enterprise owner: sub-accounts menu
	Sub         bool // a sub-account (department) user
	NoPassword  bool // arrived by a portal link and has no password yet
	// Role is the user's role on this account (team.Role: owner, finance,
	// developer, viewer); an individual is its own account's owner.
	Role string
	// Accounts are the accounts the user may switch to (the header's
	// switcher shows when there are two or more).
	Accounts []AccountChoice
	// Allowed says which portal routes the user may use here (the menu
	// and the account bar show only those); nil allows all.
	Allowed func(route string) bool
}

// may reports whether the frame's user may use route.
func (f Frame) may(route string) bool { return f.Allowed == nil || f.Allowed(route) }

// AccountChoice is one account of the header's switcher.
type AccountChoice struct {
	ID      int64
	Name    string
	Role    string
	Current bool
}

// Bucket is the available credit of one lot kind.
type Bucket struct {
	Kind       string // paid, promo, plan, grace
	Amount     decimal.Decimal
	NextExpiry *time.Time
}

// Expiry is credit that expires at one instant.
type Expiry struct {
	At     time.Time
	Amount decimal.Decimal
}

// EventRow is one ledger event. Lists of events are in the order the
// ledger recorded them (At); Occurred is set when the usage it charges
// happened noticeably earlier (a late event), and is shown beside it.
type EventRow struct {
	ID, OpID                      int64
	At                            time.Time
	Occurred                      *time.Time
	Type, LotKind, Source, Reason string
	Model                         string
	Amount, Balance, Unpaid       decimal.Decimal
}

// OverviewView is the overview page.
type OverviewView struct {
	Frame
	Available, Reserved decimal.Decimal
	ValueRMB            decimal.Decimal
	Allocation          *decimal.Decimal // a sub-account's remaining allocation
	Buckets             []Bucket
	Expiring            []Expiry
	Low                 string // "", "low" (< 20 %), "critical" (< 5 %)
	Welcome             bool
	Events              []EventRow
	// Plan is the plan in force (nil: none).
	Plan *PlanCard
	// Runway is how long the balance lasts at the last 7 days' pace.
	Runway Runway
	// Tier is the account's tier by cumulative recharge (nil: no tiers,
	// or a sub-account).
	Tier *TierCard
}

// TierCard is the tier a pool's cumulative recharge reaches (Level 0:
// none yet) with its limits, and the next tier with what it still needs.
type TierCard struct {
	Level   int
	PaidRMB decimal.Decimal
	RPM     int64
	TPM     int64
	MaxOpen int
	HasNext bool
	Next    TierLimits
	NeedRMB decimal.Decimal
}

// TierLimits are one tier's threshold and limits.
type TierLimits struct {
	Level   int
	MinRMB  decimal.Decimal
	RPM     int64
	TPM     int64
	MaxOpen int
}

// Runway is the balance's forecast: Days at the recent pace (0: less than a
// day); not OK when nothing was spent lately.
type Runway struct {
	Days int64
	OK   bool
}

// UsageFilter is the usage filter as shown in its form.
type UsageFilter struct {
	From, To string // 2006-01-02
	Model    string
	Account  int64
	Session  string
}

// Option is one choice of a select.
type Option struct{ Value, Label string }

// PartRow is what one bucket paid of a charge.
type PartRow struct {
	Kind   string
	Amount decimal.Decimal
}

// ChargeRow is one usage charge, explained.
type ChargeRow struct {
	OpID, AccountID                           int64
	At                                        time.Time
	Model, SessionID, RequestID               string
	Project, Key                              string // the labels the gateway sent
	Charged, Unpaid                           decimal.Decimal
	InputTokens, OutputTokens, CacheHitTokens int64
	RateCard, Outcome                         string
	Parts                                     []PartRow
	// Quota: a call paid by the plan's quota (no credits).
	Quota bool
}

// Free reports whether the row is a free model's call: no ledger operation
// (OpID 0), zero credits, no bucket.
func (r ChargeRow) Free() bool { return r.OpID == 0 }

// UsageRows is one page of charges and where the next one is ("" = none).
type UsageRows struct {
	Charges []ChargeRow
	MoreURL string
}

// UsageTotals are the filter's totals.
type UsageTotals = struct {
	Charges        int64
	Charged        decimal.Decimal
	Unpaid         decimal.Decimal
	InputTokens    int64
	OutputTokens   int64
	CacheHitTokens int64
	Requests       int64
}

// UsageView is the usage page.
type UsageView struct {
	Frame
	Filter      UsageFilter
	Models      []string
	SubAccounts []Option
	Totals      UsageTotals
	TotalRMB    decimal.Decimal
	ChartURL    string
	CSVURL      string
	Rows        UsageRows
}

// TransactionRows is one page of ledger events.
type TransactionRows struct {
	Events  []EventRow
	MoreURL string
}

// TransactionsView is the transactions page.
type TransactionsView struct {
	Frame
	Date      string           // the "balance on" date asked for
	DateError string           // why it has no answer (not a date, a day to come)
	BalanceAt *decimal.Decimal // its answer
	Rows      TransactionRows
}

// PasswordView is the set-password page.
type PasswordView struct {
	Frame
	Errors map[string]string
	Done   bool
}

// SubAccountRow is one department of an enterprise.
type SubAccountRow struct {
	ID                int64
	Name, Status      string
	Allocation        *decimal.Decimal
	RPM, TPM          *int
	Spent, SpentMonth decimal.Decimal
}

// SubAccountForm is the create/edit form of a sub-account.
type SubAccountForm struct {
	Name, Allocation, RPM, TPM string
	Errors                     map[string]string
}

// SubAccountsView is the enterprise's sub-account list.
type SubAccountsView struct {
	Frame
	Pool     decimal.Decimal
	Accounts []SubAccountRow
	Form     SubAccountForm
	Transfer TransferForm
	// Transferred is set after a transfer (the flash).
	Transferred bool
}

// TransferForm moves allocation between two sub-accounts that have one:
// Choices are those sub-accounts (value: id), Key the form's idempotency
// key, Errors the messages by field (from, to, amount, form).
type TransferForm struct {
	From, To, Amount, Key string
	Choices               []Option
	Errors                map[string]string
}

// SubAccountView is one sub-account's page.
type SubAccountView struct {
	Frame
	Account  SubAccountRow
	Form     SubAccountForm
	Saved    bool
	UsageURL string
	// Models is the department's model allow-list form: Choices are the
	// enterprise's allowed models, Checked the department's list (none:
	// every model the enterprise may call).
	Models SubModelsForm
}

// SubModelsForm is a department's model allow-list form.
type SubModelsForm struct {
	Choices []string
	Checked []string
	Error   string
	Saved   bool
}

// RedeemView is the redemption code form and its outcome.
type RedeemView struct {
	Frame   Frame
	Code    string
	Error   string
	Done    bool
	Amount  decimal.Decimal
	Expires string
	// Plan names the plan a plan code gave (empty for credits), in force
	// until PlanUntil.
	Plan      string
	PlanUntil string
}
