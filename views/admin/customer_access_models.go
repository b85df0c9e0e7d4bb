package admin

import (
	"time"

	"github.com/shopspring/decimal"
)

// CustomerAccess is the customer page's access panel: the account's model
// allow-list (nil: every model), its enterprise's for a sub-account, and
// the form that changes it.
type CustomerAccess struct {
	Models  []string
	Parent  []string // the enterprise's list (a sub-account's); nil: none
	Choices []string // the rate card's models
	Checked []string
	Error   string
	CanEdit bool
	// Mode is the account's own enforcement mode ("": it follows its
	// enterprise or the global setting), Effective the one in force.
	Mode, Effective string
	CanSetMode      bool
	// Shadow counts the calls shadow mode let through; ShadowRows are the
	// latest.
	Shadow     int64
	ShadowRows []ShadowRow
}

// ShadowRow is one call shadow mode let through.
type ShadowRow struct {
	At     time.Time
	Op     string
	Code   string
	Amount decimal.Decimal
	Model  string
}
