package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// # Budgets
//
// A budget caps what one scope may spend in a period: an account (an
// individual, an enterprise with everything its sub-accounts spend, or one
// sub-account), a project within an account, or a key within a project —
// the project and key being labels the gateway sends with each reserve and
// usage charge (ReserveRequest.Project, .Key). Budgets nest: a call counts
// in every budget over it (key, project, account and, for a sub-account,
// its enterprise's), and any hard-stop budget it would pass refuses it, so
// the strictest wins.
//
// The ledger enforces them in the same transaction as the hold, under the
// pool's row lock (ledger_budget_hold, called by ledger_reserve,
// ledger_reserve_t and ledger_charge), as it does the trial cap: no
// interleaving of concurrent calls passes a hard stop. A budget's use is
// what the scope was charged in the current period plus what its open
// holds made in that period hold; a commit moves the hold out and the
// charge in, a release gives the hold back. Periods are Shanghai days,
// weeks from Monday and months, or none; a budget whose period has moved on
// counts from 0 at its next hold, so nothing needs to run at midnight.
// Thresholds (percent of the cap) are recorded once per period when use
// reaches them, and a hard stop's refusal records its thresholds up to
// 100 %; the alert job sends them (BudgetAlertsDue).

// BudgetPeriod is how often a budget starts again.
type BudgetPeriod string

// Budget periods, in Asia/Shanghai.
const (
	BudgetDay   BudgetPeriod = "day"   // from 00:00
	BudgetWeek  BudgetPeriod = "week"  // from Monday 00:00
	BudgetMonth BudgetPeriod = "month" // from the 1st, 00:00
	BudgetNone  BudgetPeriod = "none"  // never resets
)

// BudgetUnit is what a budget's amount was entered in.
type BudgetUnit string

// Budget units.
const (
	BudgetCredits BudgetUnit = "credits"
	BudgetYuan    BudgetUnit = "yuan"
)

// Shanghai is the time zone of budget periods.
var Shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600) // no DST since 1991
	}
	return loc
}()

// PeriodStart is where the period of p holding t starts (the zero time for
// BudgetNone), as ledger_budget_period_start computes it.
func PeriodStart(p BudgetPeriod, t time.Time) time.Time {
	s := t.In(Shanghai)
	switch p {
	case BudgetDay:
		return time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, Shanghai)
	case BudgetWeek:
		d := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, Shanghai)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case BudgetMonth:
		return time.Date(s.Year(), s.Month(), 1, 0, 0, 0, 0, Shanghai)
	}
	return time.Time{}
}

// PeriodEnd is where the period of p holding t ends (the next starts);
// nil for BudgetNone.
func PeriodEnd(p BudgetPeriod, t time.Time) *time.Time {
	s := PeriodStart(p, t)
	var e time.Time
	switch p {
	case BudgetDay:
		e = s.AddDate(0, 0, 1)
	case BudgetWeek:
		e = s.AddDate(0, 0, 7)
	case BudgetMonth:
		e = s.AddDate(0, 1, 0)
	default:
		return nil
	}
	e = e.UTC()
	return &e
}

// MaxLabelLen bounds a project or key label.
const MaxLabelLen = 100

// BudgetSpec sets the budget of one scope: AccountID alone, its Project,
// or a Key within its Project (Project may be empty for a key sent
// without one).
type BudgetSpec struct {
	AccountID int64
	Project   string
	Key       string
	Period    BudgetPeriod
	Amount    decimal.Decimal // in Unit
	Unit      BudgetUnit
	// CreditPrice converts a yuan amount into the cap in credits
	// (DefaultCreditPriceRMB when zero).
	CreditPrice decimal.Decimal
	// Thresholds are the percentages of the cap that raise an alert, once
	// each per period (1 to 1000).
	Thresholds []int
	// HardStop refuses a hold that would pass the cap; without it the cap
	// only alerts.
	HardStop bool
	Actor    string
}

// BudgetFieldError names the field of a BudgetSpec that is not valid; it
// matches ErrInvalidArgument.
type BudgetFieldError struct {
	Field string // account, project, key, period, amount, unit, thresholds
	Code  string // required, too_long, invalid, out_of_range
}

func (e *BudgetFieldError) Error() string {
	return fmt.Sprintf("ledger: budget: %s %s", e.Field, e.Code)
}

// Is matches ErrInvalidArgument.
func (e *BudgetFieldError) Is(target error) bool { return target == ErrInvalidArgument }

// Check returns every invalid field of the spec (nil when valid), so that
// a form can show them all at once.
func (s BudgetSpec) Check() []*BudgetFieldError {
	var errs []*BudgetFieldError
	add := func(f, c string) { errs = append(errs, &BudgetFieldError{Field: f, Code: c}) }
	if s.AccountID <= 0 {
		add("account", "required")
	}
	if !ValidLabel(s.Project) {
		add("project", "invalid")
	}
	if !ValidLabel(s.Key) {
		add("key", "invalid")
	}
	switch s.Period {
	case BudgetDay, BudgetWeek, BudgetMonth, BudgetNone:
	case "":
		add("period", "required")
	default:
		add("period", "invalid")
	}
	switch s.Unit {
	case BudgetCredits, BudgetYuan:
	default:
		add("unit", "invalid")
	}
	switch {
	case !s.Amount.IsPositive() || s.Amount.GreaterThan(MaxCredits):
		add("amount", "out_of_range")
	case !s.Amount.Equal(Round(s.Amount)), s.Unit == BudgetYuan && !s.Amount.Equal(s.Amount.Round(2)):
		add("amount", "invalid")
	}
	for _, t := range s.Thresholds {
		if t < 1 || t > 1000 {
			add("thresholds", "out_of_range")
			break
		}
	}
	return errs
}

// ValidLabel says whether s may be a project or key label: at most
// MaxLabelLen characters, no control characters, no surrounding spaces.
func ValidLabel(s string) bool {
	if utf8.RuneCountInString(s) > MaxLabelLen || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// cap is the spec's cap in credits.
func (s BudgetSpec) cap() (decimal.Decimal, error) {
	if s.Unit != BudgetYuan {
		return Round(s.Amount), nil
	}
	price := s.CreditPrice
	if price.IsZero() {
		price = DefaultCreditPriceRMB
	}
	return CreditsForRMB(s.Amount, price)
}

// Budget is a budget and what its current period has used.
type Budget struct {
	ID         int64           `json:"id" db:"id"`
	PoolID     int64           `json:"pool_id" db:"pool_id"`
	AccountID  int64           `json:"account_id" db:"account_id"`
	Project    string          `json:"project" db:"project"`
	Key        string          `json:"key" db:"key_label"`
	Period     BudgetPeriod    `json:"period" db:"period"`
	Cap        decimal.Decimal `json:"cap" db:"cap"`
	Unit       BudgetUnit      `json:"unit" db:"unit"`
	Amount     decimal.Decimal `json:"amount" db:"amount"`
	Thresholds []int           `json:"thresholds" db:"thresholds"`
	HardStop   bool            `json:"hard_stop" db:"hard_stop"`
	// Used is what the current period has used (0 when the budget last
	// counted in an earlier period); ResetAt is when the period ends.
	Used      decimal.Decimal `json:"used" db:"used"`
	ResetAt   *time.Time      `json:"reset_at" db:"reset_at"`
	UpdatedAt time.Time       `json:"updated_at" db:"updated_at"`
	UpdatedBy string          `json:"updated_by" db:"updated_by"`
}

// Scope names what the budget caps: "account", "project" or "key".
func (b Budget) Scope() string {
	switch {
	case b.Key != "":
		return "key"
	case b.Project != "":
		return "project"
	}
	return "account"
}

// BudgetExceededError is a refusal by a hard-stop budget: Available is the
// least room left under the budgets over the call, ResetAt when the
// refusing budgets' periods end (nil: a budget without a period).
type BudgetExceededError struct {
	BudgetID  int64
	Available decimal.Decimal
	ResetAt   *time.Time
}

// RetryAt is when the call would be accepted again (the zero time: not by
// waiting), for the API's retry_at.
func (e *BudgetExceededError) RetryAt() time.Time {
	if e.ResetAt == nil {
		return time.Time{}
	}
	return *e.ResetAt
}

func (e *BudgetExceededError) Error() string {
	return fmt.Sprintf("%v (budget %d, available %s)", ErrBudgetExceeded, e.BudgetID, e.Available.StringFixed(Scale))
}

// Unwrap returns ErrBudgetExceeded.
func (e *BudgetExceededError) Unwrap() error { return ErrBudgetExceeded }

func budgetRefusal(raw []byte) error {
	var r struct {
		BudgetID  int64           `json:"budget_id"`
		Available decimal.Decimal `json:"available"`
		RetryAt   *time.Time      `json:"retry_at"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	return &BudgetExceededError{BudgetID: r.BudgetID, Available: r.Available, ResetAt: r.RetryAt}
}

// SetBudgetTx creates or changes the budget of the spec's scope inside the
// caller's transaction (which records the audit entry with it), under the
// pool's lock; a changed budget keeps what its period used (a new period
// kind starts from 0). It returns the budget's id. Errors:
// *BudgetFieldError (ErrInvalidArgument), ErrNotFound.
func (l *Ledger) SetBudgetTx(ctx context.Context, tx pgx.Tx, s BudgetSpec) (int64, error) {
	if errs := s.Check(); len(errs) > 0 {
		return 0, errs[0]
	}
	cp, err := s.cap()
	if err != nil {
		return 0, fmt.Errorf("ledger: set budget: %w", err)
	}
	if !cp.IsPositive() {
		return 0, &BudgetFieldError{Field: "amount", Code: "out_of_range"}
	}
	th := slices.Clone(s.Thresholds)
	slices.Sort(th)
	th = slices.Compact(th)
	if th == nil {
		th = []int{}
	}
	raw, err := l.execTx(ctx, tx, `SELECT ledger_budget_set($1::jsonb)`, payload{"account_id": s.AccountID,
		"project": s.Project, "key_label": s.Key, "period": s.Period, "cap": cp.String(), "unit": s.Unit,
		"amount": s.Amount.String(), "thresholds": th, "hard_stop": s.HardStop, "actor": s.Actor, "now": l.now()})
	var out struct {
		ID int64 `json:"id"`
	}
	if err == nil {
		err = decode(raw, &out)
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: set budget: %w", err)
	}
	return out.ID, nil
}

// DeleteBudgetTx removes a budget of the account (or, for a pool's own
// account, of any account in its pool) inside the caller's transaction.
// Errors: ErrNotFound.
func (l *Ledger) DeleteBudgetTx(ctx context.Context, tx pgx.Tx, accountID, budgetID int64) error {
	raw, err := l.execTx(ctx, tx, `SELECT ledger_budget_delete($1::jsonb)`, payload{"account_id": accountID, "budget_id": budgetID})
	if err == nil {
		err = decode(raw, nil)
	}
	if err != nil {
		return fmt.Errorf("ledger: delete budget: %w", err)
	}
	return nil
}

const sqlBudgets = `
SELECT b.id, b.pool_id, b.account_id, b.project, b.key_label, b.period::text AS period, b.cap, b.unit, b.amount,
       b.thresholds::int[] AS thresholds, b.hard_stop,
       CASE WHEN a.budget_ids[b.slot] = b.id AND a.budget_starts[b.slot] = ledger_budget_period_start(b.period, $2)
            THEN coalesce(a.budget_used[b.slot], 0) ELSE 0 END AS used,
       ledger_budget_period_end(b.period, ledger_budget_period_start(b.period, $2)) AS reset_at,
       b.updated_at, b.updated_by
FROM ledger_budgets b JOIN ledger_accounts a ON a.id = b.pool_id
WHERE b.pool_id = (SELECT pool_id FROM ledger_accounts WHERE id = $1)
  AND (b.account_id = $1 OR $1 = b.pool_id)
ORDER BY b.account_id, b.project, b.key_label`

// Budgets lists the budgets an account sees: its own, and for an
// enterprise (a pool's own account) those of every account in its pool,
// each with what its current period has used.
func (l *Ledger) Budgets(ctx context.Context, accountID int64) ([]Budget, error) {
	return l.budgets(ctx, l.pool, accountID)
}

// BudgetsTx is Budgets inside the caller's transaction.
func (l *Ledger) BudgetsTx(ctx context.Context, tx pgx.Tx, accountID int64) ([]Budget, error) {
	return l.budgets(ctx, tx, accountID)
}

func (l *Ledger) budgets(ctx context.Context, q db.DBTX, accountID int64) ([]Budget, error) {
	rows, err := q.Query(ctx, sqlBudgets, accountID, l.now())
	if err != nil {
		return nil, fmt.Errorf("ledger: budgets: %w", err)
	}
	bs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Budget])
	if err != nil {
		return nil, fmt.Errorf("ledger: budgets: %w", err)
	}
	return bs, nil
}

// BudgetAlert is a threshold a budget reached in a period, to be sent.
type BudgetAlert struct {
	PoolID      int64           `json:"pool_id" db:"pool_id"`
	BudgetID    int64           `json:"budget_id" db:"budget_id"`
	AccountID   int64           `json:"account_id" db:"account_id"`
	Project     string          `json:"project" db:"project"`
	Key         string          `json:"key" db:"key_label"`
	Period      BudgetPeriod    `json:"period" db:"period"`
	PeriodStart time.Time       `json:"period_start" db:"period_start"`
	Threshold   int             `json:"threshold" db:"threshold"`
	Used        decimal.Decimal `json:"used" db:"used"`
	Cap         decimal.Decimal `json:"cap" db:"cap"`
	HardStop    bool            `json:"hard_stop" db:"hard_stop"`
	// Refused: a hard stop refused a call (the budget is full).
	Refused bool      `json:"refused" db:"refused"`
	At      time.Time `json:"at" db:"at"`
}

// ClaimBudgetAlertsTx marks up to limit alerts not yet sent as sent, oldest
// first, inside the caller's transaction, and returns them (of budgets that
// still exist): the caller queues the mail and webhooks in the same
// transaction, so each alert goes out once. Rows another transaction is
// claiming are skipped.
func (l *Ledger) ClaimBudgetAlertsTx(ctx context.Context, tx pgx.Tx, limit int) ([]BudgetAlert, error) {
	rows, err := tx.Query(ctx, `
WITH c AS (
    UPDATE ledger_budget_alerts a SET notified_at = $2
    WHERE (a.pool_id, a.budget_id, a.period_start, a.threshold) IN (
        SELECT x.pool_id, x.budget_id, x.period_start, x.threshold FROM ledger_budget_alerts x
        WHERE x.notified_at IS NULL ORDER BY x.at LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING a.*)
SELECT c.pool_id, c.budget_id, b.account_id, b.project, b.key_label, b.period::text AS period,
       CASE WHEN c.period_start = '-infinity' THEN '0001-01-01T00:00:00Z'::timestamptz ELSE c.period_start END AS period_start,
       c.threshold::int AS threshold, c.used, c.cap, b.hard_stop, c.refused, c.at
FROM c JOIN ledger_budgets b ON b.pool_id = c.pool_id AND b.id = c.budget_id
ORDER BY c.at, c.budget_id, c.threshold`, limit, l.now())
	if err != nil {
		return nil, fmt.Errorf("ledger: budget alerts: %w", err)
	}
	as, err := pgx.CollectRows(rows, pgx.RowToStructByName[BudgetAlert])
	if err != nil {
		return nil, fmt.Errorf("ledger: budget alerts: %w", err)
	}
	return as, nil
}
