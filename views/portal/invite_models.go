package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// InviteView is the invite page: the account's invite code and link, how
// many signed up with it, the reward in force and the rewards received.
type InviteView struct {
	Frame Frame
	// Sub: a department of an enterprise does not invite (its enterprise
	// does).
	Sub     bool
	Code    string
	Link    string
	Invited int
	// Percent and Cap are the reward in force (Percent zero: off).
	Percent decimal.Decimal
	Cap     decimal.Decimal
	Granted decimal.Decimal
	Grants  []InviteGrant
}

// InviteGrant is one reward received.
type InviteGrant struct {
	At      time.Time
	TopUp   decimal.Decimal // the invitee's top-up, in credits
	Amount  decimal.Decimal // the reward, in credits
	Invitee string          // the invitee's account id, masked
}
