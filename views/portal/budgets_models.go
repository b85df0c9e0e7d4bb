package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// BudgetsView is the budgets page: spend by project and key, the budgets
// set, and the form that sets one.
type BudgetsView struct {
	Frame
	// CanEdit: the customer may set budgets (not a department's user).
	CanEdit bool
	// Scopes: an enterprise owner chooses the account, project, key and
	// period; an individual sets the monthly budget of the account.
	Scopes   bool
	Saved    bool
	Deleted  bool
	Budgets  []BudgetRow
	Form     BudgetForm
	Accounts []Option // the enterprise and its sub-accounts
	Spend    SpendView
}

// BudgetRow is one budget and its current period's use.
type BudgetRow struct {
	ID         int64
	Account    string // the account's name and id
	Project    string
	Key        string
	Period     string // day, week, month, none
	Amount     decimal.Decimal
	Unit       string // credits, yuan
	Cap        decimal.Decimal
	Used       decimal.Decimal
	Percent    int64
	ResetAt    *time.Time
	HardStop   bool
	Thresholds string
	DeleteURL  string
}

// BudgetForm is the budget form as typed, with each field's error.
type BudgetForm struct {
	Account, Project, Key, Period, Amount, Unit, Thresholds string
	HardStop                                                bool
	Errors                                                  map[string]string
}

// SpendView is spend by account, project and key in a range, with its chart
// and CSV.
type SpendView struct {
	From, To string // dates, Shanghai
	Rows     []SpendRow
	Total    decimal.Decimal
	ChartURL string
	CSVURL   string
}

// SpendRow is what one account spent under one project and key.
type SpendRow struct {
	Account string
	Project string
	Key     string
	Calls   int64
	Charged decimal.Decimal
}
