package admin

import (
	"time"

	"github.com/seed75218f88/credits/internal/costs"
)

// CostCardForm is the cost card form as typed.
type CostCardForm struct{ EffectiveAt, Lines, Note string }

// CostCardRow is one published cost card version.
type CostCardRow struct {
	Version     int
	EffectiveAt time.Time
	Actor, Note string
	Lines       []string // "model input output cache-hit" / "model price" / "model"
	InForce     bool
}

// CostCardsView is the cost card page: the card in force, the versions
// (newest first) and the form that publishes the next one.
type CostCardsView struct {
	Frame    Frame
	Current  *CostCardRow
	Versions []CostCardRow
	Form     CostCardForm
	Errors   Errors
	Flash    string
}

// MarginForm is the margin report's dates (Asia/Shanghai, inclusive) and
// view (day, model or customer) as typed.
type MarginForm struct{ From, To, View string }

// MarginsView is the margin report page.
type MarginsView struct {
	Frame  Frame
	Form   MarginForm
	Errors Errors
	// Lines are the chosen view's lines, Total the report's total.
	Lines  []costs.Margin
	Total  costs.Margin
	Report bool // false: the form had errors, nothing to show
	CSVURL string
	// ViewURLs link each view of the same dates.
	ViewURLs map[string]string
	// Alerts are the days a model's margin was negative (newest first).
	Alerts []MarginAlertRow
}

// MarginAlertRow is one recorded negative-margin day of a model.
type MarginAlertRow struct {
	Day, Model            string
	Revenue, Cost, Margin string // yuan, to the fen
}
