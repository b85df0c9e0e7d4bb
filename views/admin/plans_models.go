package admin

import (
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/plans"
)

// yuan is an amount in fen as yuan, for components.Money.
func yuan(fen int64) decimal.Decimal { return decimal.New(fen, -2) }

// PlansView is the plan catalogue: every plan's latest version and any
// draft waiting to be published.
type PlansView struct {
	Frame  Frame
	Flash  string
	Plans  []plans.Plan
	Drafts map[string]plans.Draft // by plan code
	// Unpublished are the drafts of plans with no version yet, by code.
	Unpublished []plans.Draft
	New         PlanForm // the new plan's form as typed
	Errors      Errors
}

// PlanView is one plan: its versions and the draft editor.
type PlanView struct {
	Frame    Frame
	Code     string
	Versions []plans.Plan // newest first
	Draft    *plans.Draft
	Form     PlanForm
	Errors   Errors
	Flash    string
}

// PlanForm is the draft editor's fields as typed.
type PlanForm struct {
	Code                                                             string // a new plan's only
	NameZH, NameEN, Tier, MonthlyYuan, YearlyYuan, Credits, RPM, TPM string
	Items, Features                                                  string
	Revision                                                         string
}
