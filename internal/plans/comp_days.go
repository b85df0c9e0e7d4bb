package plans

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// MaxCompDays is the longest plan a redemption code may grant.
const MaxCompDays = 366

// CompDaysRequest grants a plan for Days days without payment (a
// redemption code).
type CompDaysRequest struct {
	AccountID int64
	PlanCode  string
	Days      int
	Actor     string
	Note      string
}

// CompDaysTx gives the account the latest version of a plan from now for
// Days days (a term of exactly that many Asia/Shanghai calendar days,
// ending at the same clock time), without payment and without renewal
// (state canceled: it ends with its term), inside the caller's
// transaction. The month's plan credits are granted at once as a plan lot
// expiring at the term's end (GrantPeriod cuts the month there), so a
// term under a month still gets the plan's monthly credits, all spendable
// until it ends; a longer term gets each month's as usual.
//
// Errors: ErrInvalidTerm (Days outside 1…MaxCompDays); *ValidationError
// (CodeNoActor); ErrNotFound when the plan has no version;
// ErrAlreadySubscribed; ledger errors of the grant; database errors.
func (s *Subscriptions) CompDaysTx(ctx context.Context, tx pgx.Tx, r CompDaysRequest) (Subscription, Grant, error) {
	if r.Days < 1 || r.Days > MaxCompDays {
		return Subscription{}, Grant{}, fmt.Errorf("%w: %d days", ErrInvalidTerm, r.Days)
	}
	if r.Actor == "" {
		return Subscription{}, Grant{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	if err := expireAccountTx(ctx, tx, r.AccountID, now); err != nil {
		return Subscription{}, Grant{}, err
	}
	p, err := latest(ctx, tx, r.PlanCode)
	if err != nil {
		return Subscription{}, Grant{}, err
	}
	end := now.In(format.Shanghai).AddDate(0, 0, r.Days).UTC()
	sub, err := insertSubscription(ctx, tx, Subscription{AccountID: r.AccountID, PlanCode: p.Code,
		PlanVersion: p.Version, Cycle: Monthly, Anchor: now, TermEnd: end, State: Canceled}, now)
	if err != nil {
		return Subscription{}, Grant{}, err
	}
	if err := insertEvent(ctx, tx, sub, EventComped, r.Actor, r.Note, now); err != nil {
		return Subscription{}, Grant{}, err
	}
	g, _, err := s.grantTx(ctx, tx, sub.ID, now)
	return sub, g, err
}
