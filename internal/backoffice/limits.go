package backoffice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Cumulative limits. Besides the per-action limit (a single grant above
// Settings.SupportGrantLimit, or a single recharge above
// Settings.ManualRechargeLimitFen, waits for approval as a whole), what one
// staff member applies without a second person in one Asia/Shanghai
// calendar day, and what one account receives so from all staff together,
// are limited too. Each (action, staff member, day) and (action, account,
// day) has a counter row in admin_limit_days; a grant or recharge locks
// its two rows (staff first, then account, always in that order) in the
// transaction that applies it and adds what it applied before it commits,
// so two concurrent requests can never both spend the same room.
// admin_limit_uses records each amount counted, append-only.
//
// Approved requests count too, on the day they are approved (the day the
// credit lands), toward the requester and the account: after an approval
// the requester has less room left that day, never more.

// Over names the limit that sent a request (or part of it) to approval.
type Over string

// The limits.
const (
	OverAction     Over = "per_action"  // the single request is above the per-action limit
	OverStaffDay   Over = "staff_day"   // the staff member's total for the day would pass its limit
	OverAccountDay Over = "account_day" // the account's total for the day would pass its limit
)

// Ways an amount is counted in admin_limit_uses.
const (
	viaDirect   = "direct"
	viaApproval = "approval"
)

// dayLimits are the two cumulative limits of one action, in the action's
// unit (credits for grants, yuan for recharges).
type dayLimits struct {
	action         ApprovalAction
	staff, account decimal.Decimal
}

// dayUse is what a staff member and an account used of one action's day
// limits.
type dayUse struct {
	day            string
	staff, account decimal.Decimal
}

// room returns how much more may apply without approval today (never
// negative) and the limit that bounds it.
func (l dayLimits) room(u dayUse) (decimal.Decimal, Over) {
	room, over := l.staff.Sub(u.staff), OverStaffDay
	if acct := l.account.Sub(u.account); acct.LessThan(room) {
		room, over = acct, OverAccountDay
	}
	if room.IsNegative() {
		room = decimal.Zero
	}
	return room, over
}

// shanghaiDay is the Asia/Shanghai calendar date of t, as PostgreSQL reads a date.
func shanghaiDay(t time.Time) string { return t.In(Shanghai).Format(time.DateOnly) }

// lockDaySQL creates the counter row if need be and locks it either way
// (ON CONFLICT DO UPDATE locks the row it updates, waiting for a concurrent
// holder and then reading its committed total).
const lockDaySQL = `
INSERT INTO admin_limit_days (action, scope, subject_id, day) VALUES ($1, $2, $3, $4::date)
ON CONFLICT (action, scope, subject_id, day) DO UPDATE SET used = admin_limit_days.used
RETURNING used`

// lockDay locks the day counters of staffID and accountID for action on
// tx, staff first, and returns what they used so far. Call it before the
// account's pool row is locked, so every path takes the locks in one order.
func lockDay(ctx context.Context, tx db.DBTX, action ApprovalAction, staffID, accountID int64, day string) (dayUse, error) {
	u := dayUse{day: day}
	if err := tx.QueryRow(ctx, lockDaySQL, action, "staff", staffID, day).Scan(&u.staff); err != nil {
		return u, fmt.Errorf("backoffice: day limit of staff %d: %w", staffID, err)
	}
	if err := tx.QueryRow(ctx, lockDaySQL, action, "account", accountID, day).Scan(&u.account); err != nil {
		return u, fmt.Errorf("backoffice: day limit of account %d: %w", accountID, err)
	}
	return u, nil
}

// limitUse is one amount counted toward the day limits.
type limitUse struct {
	Action     ApprovalAction  `db:"action"`
	Via        string          `db:"via"`
	RequestKey string          `db:"request_key"`
	StaffID    int64           `db:"staff_id"`
	AccountID  int64           `db:"account_id"`
	Day        string          `db:"day"`
	Amount     decimal.Decimal `db:"amount"`
	LotID      int64           `db:"lot_id"`
	ApprovalID *int64          `db:"approval_id"`
	At         time.Time       `db:"at"`
}

// countUse adds u.Amount to the two day counters (which the caller locked
// with lockDay on tx) and records u. Errors: database errors (a second
// count of the same request is a unique violation).
func countUse(ctx context.Context, tx db.DBTX, u limitUse) error {
	const add = `UPDATE admin_limit_days SET used = used + $5 WHERE action = $1 AND scope = $2 AND subject_id = $3 AND day = $4::date`
	for _, c := range []struct {
		scope string
		id    int64
	}{{"staff", u.StaffID}, {"account", u.AccountID}} {
		tag, err := tx.Exec(ctx, add, u.Action, c.scope, c.id, u.Day, u.Amount)
		if err != nil {
			return fmt.Errorf("backoffice: count day limit: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("backoffice: count day limit: %s %d has no counter for %s", c.scope, c.id, u.Day)
		}
	}
	const ins = `
INSERT INTO admin_limit_uses (action, via, request_key, staff_id, account_id, day, amount, lot_id, approval_id, at)
VALUES ($1, $2, $3, $4, $5, $6::date, $7, $8, $9, $10)`
	if _, err := tx.Exec(ctx, ins, u.Action, u.Via, u.RequestKey, u.StaffID, u.AccountID, u.Day, u.Amount, u.LotID,
		u.ApprovalID, u.At); err != nil {
		return fmt.Errorf("backoffice: record day limit use: %w", err)
	}
	return nil
}

// findUse returns the amount counted for a request key, if any.
func findUse(ctx context.Context, q db.DBTX, action ApprovalAction, key string) (limitUse, bool, error) {
	const sql = `SELECT action, via, request_key, staff_id, account_id, day::text AS day, amount, lot_id, approval_id, at
FROM admin_limit_uses WHERE action = $1 AND request_key = $2`
	rows, _ := q.Query(ctx, sql, action, key)
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[limitUse])
	if errors.Is(err, pgx.ErrNoRows) {
		return u, false, nil
	}
	if err != nil {
		return u, false, fmt.Errorf("backoffice: day limit use %s: %w", key, err)
	}
	return u, true, nil
}

// Allowance is what a staff member may still apply to an account today
// without a second person, and the totals behind it.
type Allowance struct {
	// Day is the Asia/Shanghai date the totals are for.
	Day string
	// PerAction is the per-action limit: one request above it waits for
	// approval as a whole.
	PerAction decimal.Decimal
	// StaffLimit and StaffUsed are the staff member's day limit and total.
	StaffLimit, StaffUsed decimal.Decimal
	// AccountLimit and AccountUsed are the account's day limit and total.
	AccountLimit, AccountUsed decimal.Decimal
	// Remaining is how much more applies at once today (the smaller of
	// the two remainders, never negative); Over names the smaller one.
	Remaining decimal.Decimal
	Over      Over
}

// GrantAllowance returns how many credits actor may still grant to
// accountID today without approval (the grant form shows it). It reads
// without locking: Grant decides again under its locks. Support and
// finance users only. Errors: ErrForbidden.
func (s *Service) GrantAllowance(ctx context.Context, actor Actor, accountID int64) (Allowance, error) {
	if err := actor.require(auth.RoleSupport, auth.RoleFinance); err != nil {
		return Allowance{}, err
	}
	set := s.Settings()
	return s.allowance(ctx, set.grantDayLimits(), set.SupportGrantLimit, actor.User.ID, accountID)
}

func (s *Service) allowance(ctx context.Context, l dayLimits, perAction decimal.Decimal, staffID, accountID int64) (Allowance, error) {
	const sql = `
SELECT coalesce(sum(used) FILTER (WHERE scope = 'staff' AND subject_id = $2), 0),
       coalesce(sum(used) FILTER (WHERE scope = 'account' AND subject_id = $3), 0)
FROM admin_limit_days WHERE action = $1 AND day = $4::date`
	u := dayUse{day: shanghaiDay(s.now())}
	if err := s.pool.QueryRow(ctx, sql, l.action, staffID, accountID, u.day).Scan(&u.staff, &u.account); err != nil {
		return Allowance{}, fmt.Errorf("backoffice: allowance: %w", err)
	}
	room, over := l.room(u)
	return Allowance{Day: u.day, PerAction: perAction, StaffLimit: l.staff, StaffUsed: u.staff, AccountLimit: l.account,
		AccountUsed: u.account, Remaining: room, Over: over}, nil
}
