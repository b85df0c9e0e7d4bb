package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// AutoTopUpView is the auto top-up page: the agreement, the settings form,
// the top-ups made and the history.
type AutoTopUpView struct {
	Frame
	Sub      bool     // a department's user: its enterprise decides
	Channels []string // channels offering agreement payments
	Tiers    []AutoTopUpTier
	// Agreement is the agreement in force, else the newest (nil: none).
	Agreement *AutoTopUpAgreement
	// SignURL and SignQR (a data: URL of the PNG) are set right after the
	// customer chose a channel to sign with.
	SignURL, SignQR, SignChannel string
	Form                         AutoTopUpForm
	HasSettings                  bool
	Runs                         []AutoTopUpRun
	History                      []AutoTopUpHistory
	// Flash names what was just done: saved, paused, resumed, unsigned.
	Flash string
}

// AutoTopUpTier is one top-up amount to choose from (Value in yuan).
type AutoTopUpTier struct{ Value, Label string }

// AutoTopUpAgreement is the agreement as the page shows it.
type AutoTopUpAgreement struct {
	Channel, State, PauseReason, AgreementNo string
	SignedAt                                 *time.Time
}

// InForce: signed or paused.
func (a AutoTopUpAgreement) InForce() bool { return a.State == "signed" || a.State == "paused" }

// AutoTopUpForm is the settings form as typed, with each field's error.
type AutoTopUpForm struct {
	Mode, Threshold, Tier, Cap string
	Errors                     map[string]string
}

// AutoTopUpRun is one top-up made for a crossing.
type AutoTopUpRun struct {
	At                     time.Time
	OrderNo, Amount, State string
	Purpose                string // topup or plan_renewal
	Attempts               int
	Reason                 string
}

// AutoTopUpHistory is one line of the history.
type AutoTopUpHistory struct {
	At           time.Time
	Kind, Reason string
}

// Yuan renders fen as yuan for a form field ("100", "12.5").
func Yuan(fen int64) string { return decimal.New(fen, -2).String() }
