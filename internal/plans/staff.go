package plans

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
)

// Errors of the staff actions.
var (
	// ErrNotExtendable: the plan in force cannot be extended now (past
	// due, or a renewal order of its term is made and unpaid: extending
	// would move the period that order pays).
	ErrNotExtendable = errors.New("plans: subscription cannot be extended now")
	// ErrInvalidDays: an extension outside 1…MaxExtendDays.
	ErrInvalidDays = errors.New("plans: invalid number of days")
)

// MaxExtendDays is the longest extension staff can give at once.
const MaxExtendDays = 90

// ExtendRequest is staff extending an account's plan in force by Days days.
type ExtendRequest struct {
	AccountID int64
	Days      int
	Actor     string
	Note      string
}

// Extended is what ExtendTx did.
type Extended struct {
	Subscription Subscription
	// Credits is the plan credit granted for the days added (0 for a plan
	// without plan credits); LotID its lot.
	Credits decimal.Decimal
	LotID   int64
}

// ExtendTx extends, inside the caller's transaction, the current period of
// the account's plan in force by Days days: every period of the
// subscription moves Days days later (anchor and term end), so the current
// period ends Days later, the next one is a whole period again and renewal
// dates follow. The month in progress keeps its plan lot (expiring at the
// old end) and gets the plan credit of the added days, Days ÷ the month's
// days of the monthly credits (ledger.Round's rule), as a plan lot expiring
// at the new end, recorded as the grant of the moved month, so no second
// grant of it follows. Quota windows of the billing period follow the
// moved period. An extended event records it.
//
// Errors: ErrInvalidDays; ErrNotFound (no plan in force); ErrNotExtendable;
// ledger errors of the grant; database errors.
func (s *Subscriptions) ExtendTx(ctx context.Context, tx pgx.Tx, r ExtendRequest) (Extended, error) {
	if r.Days < 1 || r.Days > MaxExtendDays {
		return Extended{}, ErrInvalidDays
	}
	if r.Actor == "" {
		return Extended{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	sub, err := subscriptionWhere(ctx, tx, `account_id = $1 AND state IN ('active', 'canceled') AND started_at <= $2 AND term_end > $2
ORDER BY id DESC LIMIT 1 FOR UPDATE`, r.AccountID, now)
	if err != nil {
		return Extended{}, err
	}
	if _, err := renewalWhere(ctx, tx, `subscription_id = $1 AND period_start = $2 AND renewed_at IS NULL`, sub.ID, sub.TermEnd); err == nil {
		return Extended{}, ErrNotExtendable
	} else if !errors.Is(err, ErrNotFound) {
		return Extended{}, err
	}
	shift := time.Duration(r.Days) * 24 * time.Hour
	old := sub.GrantPeriod(now)
	rows, err := tx.Query(ctx, `UPDATE subscriptions SET anchor = $2, term_end = $3, updated_at = $4 WHERE id = $1
RETURNING `+subscriptionColumns, sub.ID, sub.Anchor.Add(shift), sub.TermEnd.Add(shift), now)
	if err != nil {
		return Extended{}, err
	}
	next, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	if err != nil {
		return Extended{}, err
	}
	next = next.utc()
	out := Extended{Subscription: next, Credits: decimal.Zero}
	moved := Period{Start: old.Start.Add(shift), End: old.End.Add(shift)}
	if _, err := grantWhere(ctx, tx, `subscription_id = $1 AND period_start = $2`, sub.ID, old.Start); err == nil {
		// The month in progress was granted: the added days get their
		// share, recorded as the moved month's grant.
		ps, err := loadPlans(ctx, tx, `WHERE code = $1 AND version = $2`, sub.PlanCode, sub.PlanVersion)
		if err != nil {
			return Extended{}, err
		}
		if len(ps) == 0 {
			return Extended{}, ErrNotFound
		}
		share := ps[0].MonthlyCredits.Rat()
		share.Mul(share, big.NewRat(int64(shift/time.Second), int64(old.End.Sub(old.Start)/time.Second)))
		out.Credits = roundCredits(share)
		var lot *int64
		if out.Credits.IsPositive() {
			exp := moved.End
			res, err := s.ledger.CreditTx(ctx, tx, ledger.CreditRequest{AccountID: sub.AccountID, Kind: ledger.LotPlan,
				Amount: out.Credits, ExpiresAt: &exp, EventType: ledger.EventGrant, SourceRef: fmt.Sprintf("subscription:%d", sub.ID),
				Actor: r.Actor, ReasonCode: "plan_credits", IdempotencyKey: GrantKey(sub.ID, moved.Start)})
			if err != nil {
				return Extended{}, err
			}
			out.LotID = res.Lot.ID
			lot = &out.LotID
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO subscription_grants (subscription_id, period_start, period_end, plan_code, plan_version, credits, lot_id, granted_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sub.ID, moved.Start, moved.End, sub.PlanCode, sub.PlanVersion, out.Credits, lot, now); err != nil {
			return Extended{}, err
		}
	} else if !errors.Is(err, ErrNotFound) {
		return Extended{}, err
	}
	note := fmt.Sprintf("%d days", r.Days)
	if n := strings.TrimSpace(r.Note); n != "" {
		note += ": " + n
	}
	if err := insertEvent(ctx, tx, next, EventExtended, r.Actor, truncate(note, 500), now); err != nil {
		return Extended{}, err
	}
	return out, nil
}

// truncate cuts s to at most n characters (runes).
func truncate(s string, n int) string {
	if rs := []rune(s); len(rs) > n {
		return string(rs[:n])
	}
	return s
}

// GrantRequest is staff granting an enterprise a plan for a contract term
// of Months monthly periods, without payment.
type GrantRequest struct {
	AccountID int64
	PlanCode  string
	Months    int
	Actor     string
	Note      string
}

// GrantTx grants, inside the caller's transaction, the latest version of a
// plan for Months monthly periods from now, as CompTx does (no renewal: it
// ends with its term; the first month's credits at once), recorded as a
// granted event (a contract term) rather than comped.
//
// Errors: as CompTx.
func (s *Subscriptions) GrantTx(ctx context.Context, tx pgx.Tx, r GrantRequest) (Subscription, Grant, error) {
	if r.Months < 1 || r.Months > MaxCompMonths {
		return Subscription{}, Grant{}, ErrInvalidTerm
	}
	if r.Actor == "" {
		return Subscription{}, Grant{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	p, err := latest(ctx, tx, r.PlanCode)
	if err != nil {
		return Subscription{}, Grant{}, err
	}
	_, end := PeriodAt(now, Monthly, r.Months-1)
	sub, err := insertSubscription(ctx, tx, Subscription{AccountID: r.AccountID, PlanCode: p.Code,
		PlanVersion: p.Version, Cycle: Monthly, Anchor: now, TermEnd: end, State: Canceled}, now)
	if err != nil {
		return Subscription{}, Grant{}, err
	}
	if err := insertEvent(ctx, tx, sub, EventGranted, r.Actor, truncate(r.Note, 500), now); err != nil {
		return Subscription{}, Grant{}, err
	}
	g, _, err := s.grantTx(ctx, tx, sub.ID, now)
	return sub, g, err
}
