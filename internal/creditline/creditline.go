// Package creditline is postpaid credit for enterprises (授信 / 月结):
// finance grants an enterprise a credit line (an amount in RMB, a billing
// day, payment terms and a grace period); the enterprise may spend below
// zero down to minus its line; on each billing day a bill (账单) is issued
// for the consumption of the line since the last one, payable by bank
// transfer (the bill's reference code) or QR; a bill goes open → paid, or
// open → overdue (after its due date) → frozen (after the grace period,
// which freezes the account) → paid; paying it gives the line back and
// unfreezes what it froze. Reminders go out by mail and webhook before the
// due date and at each change of state, each once.
//
// The ledger holds the line as a lot of kind credit, spent after every
// other lot (ledger.SetCreditLineTx, ledger.RestoreCreditTx; see
// internal/ledger/credit.go); this package owns the line's terms and its
// bills, in its own tables (migration 001501), and reads the ledger only
// through its views. Verify checks that bills and the credit lot agree:
// what is used of the line is the unpaid bills plus the consumption not yet
// billed plus what open reservations hold of it.
package creditline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/refcode"
)

// Errors of this package.
var (
	// ErrNoLine: the account has no credit line.
	ErrNoLine = errors.New("creditline: no credit line")
	// ErrNotEnterprise: only an enterprise account has a credit line.
	ErrNotEnterprise = errors.New("creditline: only an enterprise has a credit line")
	// ErrBillNotFound: no such bill (of this account).
	ErrBillNotFound = errors.New("creditline: bill not found")
	// ErrBillPaid: the bill was paid already, by another payment.
	ErrBillPaid = errors.New("creditline: bill already paid")
)

// Limits of a line's terms.
const (
	MaxBillingDay = 28 // every month has the day
	MaxTermsDays  = 90
	MaxGraceDays  = 90
	// MaxLineFen bounds a line: ¥100,000,000.
	MaxLineFen = 100_000_000_00
)

// Options configure a Service.
type Options struct {
	Now func() time.Time
	// CreditPriceRMB is the yuan price of one credit
	// (ledger.DefaultCreditPriceRMB when zero): a line in RMB is held in
	// credits at it, and a bill's credits are priced at it.
	CreditPriceRMB decimal.Decimal
	// ReminderDays is how many days before the due date the due_soon
	// reminder goes out (DefaultReminderDays when zero).
	ReminderDays int
	// Notify sends a bill's notices (mail and webhook) inside the
	// transaction that records them; nil sends none (the notice rows are
	// still written, so a later Notify does not repeat them).
	Notify Notifier
}

// DefaultReminderDays is when the due_soon reminder goes out by default.
const DefaultReminderDays = 3

// Notifier delivers one notice of a bill, inside tx (a mail job and a
// webhook delivery inserted with the notice's row).
type Notifier interface {
	NotifyTx(ctx context.Context, tx pgx.Tx, n Notice) error
}

// Service grants lines, issues bills and takes their payments.
type Service struct {
	pool   db.Querier
	ledger *ledger.Ledger
	opt    Options
}

// New returns a Service.
func New(pool db.Querier, l *ledger.Ledger, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.CreditPriceRMB.IsZero() {
		opt.CreditPriceRMB = ledger.DefaultCreditPriceRMB
	}
	if opt.ReminderDays <= 0 {
		opt.ReminderDays = DefaultReminderDays
	}
	return &Service{pool: pool, ledger: l, opt: opt}
}

func (s *Service) now() time.Time { return s.opt.Now().UTC() }

// Line is an enterprise's credit line and its terms.
type Line struct {
	AccountID     int64           `db:"account_id"`
	LotID         int64           `db:"lot_id"`
	LineFen       int64           `db:"line_fen"`
	Credits       decimal.Decimal `db:"credits"`
	BillingDay    int             `db:"billing_day"`
	TermsDays     int             `db:"terms_days"`
	GraceDays     int             `db:"grace_days"`
	BilledThrough time.Time       `db:"billed_through"`
	Froze         bool            `db:"froze"`
	CreatedAt     time.Time       `db:"created_at"`
	UpdatedAt     time.Time       `db:"updated_at"`
	UpdatedBy     string          `db:"updated_by"`
}

// Spec is a line as finance asks for it.
type Spec struct {
	AccountID  int64 `json:"account_id"`
	LineFen    int64 `json:"line_fen"`
	BillingDay int   `json:"billing_day"`
	TermsDays  int   `json:"terms_days"`
	GraceDays  int   `json:"grace_days"`
}

// Check returns every field error of the spec at once (codes for
// error.creditline.<code>): line_fen, billing_day, terms_days, grace_days.
func (sp Spec) Check() error {
	e := fielderr.New("creditline")
	if sp.LineFen < 0 || sp.LineFen > MaxLineFen { // 0 closes the line

		e.Add("line", "line_range")
	}
	if sp.BillingDay < 1 || sp.BillingDay > MaxBillingDay {
		e.Add("billing_day", "billing_day_range")
	}
	if sp.TermsDays < 0 || sp.TermsDays > MaxTermsDays {
		e.Add("terms_days", "terms_range")
	}
	if sp.GraceDays < 0 || sp.GraceDays > MaxGraceDays {
		e.Add("grace_days", "grace_range")
	}
	return e.Err()
}

// CheckFor is Check for an account that has a line or not (hasLine): a
// line of 0 closes the line, so without one it is line_none. The back
// office's form and SetLineTx both ask it, so they agree.
func (sp Spec) CheckFor(hasLine bool) error {
	e := fielderr.New("creditline")
	e.Merge(sp.Check())
	if sp.LineFen == 0 && !hasLine {
		e.Add("line", "line_none")
	}
	return e.Err()
}

const lineColumns = `account_id, lot_id, line_fen, credits, billing_day, terms_days, grace_days, billed_through, froze,
	created_at, updated_at, updated_by`

func lineOn(ctx context.Context, q db.DBTX, accountID int64, lock string) (Line, error) {
	rows, _ := q.Query(ctx, `SELECT `+lineColumns+` FROM credit_lines WHERE account_id = $1`+lock, accountID)
	l, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Line])
	if errors.Is(err, pgx.ErrNoRows) {
		return l, ErrNoLine
	}
	if err != nil {
		return l, fmt.Errorf("creditline: line: %w", err)
	}
	return l, nil
}

// Line returns the account's credit line. Errors: ErrNoLine.
func (s *Service) Line(ctx context.Context, accountID int64) (Line, error) {
	return lineOn(ctx, s.pool, accountID, "")
}

// LineCredits is the line of lineFen in credits at the credit price.
func (s *Service) LineCredits(lineFen int64) decimal.Decimal {
	c, _ := ledger.CreditsForRMB(decimal.New(lineFen, -2), s.opt.CreditPriceRMB)
	return c
}

// SetLineTx grants or changes the account's credit line inside the
// caller's transaction (the back office's, which records the approval and
// the audit row with it): the terms in credit_lines, one row of
// credit_line_changes, and the credit lot through the ledger. Terms apply
// to bills issued from now on. A line of 0 closes an unused line: its lot
// and terms stay, empty, with its bills. Errors: *fielderr.Errors
// (Spec.Check; line_none for 0 without a line),
// ErrNotEnterprise, ledger.ErrNotFound, ledger.ErrCreditLineInUse (the
// line would drop below what is used of it).
func (s *Service) SetLineTx(ctx context.Context, tx pgx.Tx, sp Spec, actor, reason string, approvalID *int64) (Line, error) {
	if err := sp.Check(); err != nil {
		return Line{}, err
	}
	acc, err := ledger.AccountByID(ctx, tx, sp.AccountID)
	if err != nil {
		return Line{}, fmt.Errorf("creditline: set line: %w", err)
	}
	if acc.Kind != ledger.AccountEnterprise {
		return Line{}, ErrNotEnterprise
	}
	// The line's row first, then the pool (inside the ledger call): the
	// order the billing job and payments take too.
	_, err = lineOn(ctx, tx, sp.AccountID, " FOR UPDATE")
	if err != nil && !errors.Is(err, ErrNoLine) {
		return Line{}, err
	}
	if err := sp.CheckFor(err == nil); err != nil {
		return Line{}, err
	}
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM credit_line_changes WHERE account_id = $1`, sp.AccountID).Scan(&n); err != nil {
		return Line{}, fmt.Errorf("creditline: set line: %w", err)
	}
	credits := s.LineCredits(sp.LineFen)
	src := "credit_line:" + strconv.FormatInt(sp.AccountID, 10)
	res, err := s.ledger.SetCreditLineTx(ctx, tx, ledger.CreditLineRequest{AccountID: sp.AccountID, Line: credits,
		SourceRef: src, Actor: actor, ReasonCode: "credit_line",
		IdempotencyKey: fmt.Sprintf("%s:%d", src, n+1)})
	if err != nil {
		return Line{}, fmt.Errorf("creditline: set line: %w", err)
	}
	now := s.now()
	rows, _ := tx.Query(ctx, `
INSERT INTO credit_lines (account_id, lot_id, line_fen, credits, billing_day, terms_days, grace_days, billed_through,
                          created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $9)
ON CONFLICT (account_id) DO UPDATE SET line_fen = EXCLUDED.line_fen, credits = EXCLUDED.credits,
    billing_day = EXCLUDED.billing_day, terms_days = EXCLUDED.terms_days, grace_days = EXCLUDED.grace_days,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
RETURNING `+lineColumns,
		sp.AccountID, res.Lot.ID, sp.LineFen, credits, sp.BillingDay, sp.TermsDays, sp.GraceDays, now, actor)
	line, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Line])
	if err != nil {
		return Line{}, fmt.Errorf("creditline: set line: %w", err)
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO credit_line_changes (account_id, line_fen, credits, billing_day, terms_days, grace_days, actor, reason, approval_id, op_id, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		sp.AccountID, sp.LineFen, credits, sp.BillingDay, sp.TermsDays, sp.GraceDays, actor, reason, approvalID, res.OpID, now); err != nil {
		return Line{}, fmt.Errorf("creditline: set line: %w", err)
	}
	return line, nil
}

// Usage is what is used of a line, read from the ledger in one snapshot.
type Usage struct {
	Line     decimal.Decimal // the line, in credits
	Left     decimal.Decimal // unused (the credit lot's remaining)
	Unbilled decimal.Decimal // consumed since the last bill's period
	Unpaid   decimal.Decimal // on bills not yet paid
}

// Used is what is used of the line (consumed and not given back, or held).
func (u Usage) Used() decimal.Decimal { return u.Line.Sub(u.Left) }

// Held is what open reservations hold of the line: what is used of it
// beyond the unpaid bills and the unbilled consumption.
func (u Usage) Held() decimal.Decimal { return u.Used().Sub(u.Unpaid).Sub(u.Unbilled) }

// sqlConsumed is the consumption of a credit lot in [from, to) (ledger
// time): its deductions, and reservations charged at expiry.
const sqlConsumed = `
SELECT coalesce(sum(-amount), 0) FROM ledger_event_view
WHERE pool_id = $1 AND lot_id = $2 AND type IN ('deduction', 'reservation_expired_charge') AND at >= $3 AND at < $4`

// Usage reads what is used of the account's line. Errors: ErrNoLine.
func (s *Service) Usage(ctx context.Context, accountID int64) (Usage, error) {
	var u Usage
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		u, err = usageOn(ctx, tx, accountID)
		return err
	})
	return u, err
}

func usageOn(ctx context.Context, q db.DBTX, accountID int64) (Usage, error) {
	var u Usage
	line, err := lineOn(ctx, q, accountID, "")
	if err != nil {
		return u, err
	}
	if err := q.QueryRow(ctx, `SELECT amount, remaining FROM ledger_lot_view WHERE pool_id = $1 AND id = $2`,
		accountID, line.LotID).Scan(&u.Line, &u.Left); err != nil {
		return u, fmt.Errorf("creditline: usage: %w", err)
	}
	if err := q.QueryRow(ctx, sqlConsumed, accountID, line.LotID, line.BilledThrough, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)).Scan(&u.Unbilled); err != nil {
		return u, fmt.Errorf("creditline: usage: %w", err)
	}
	if err := q.QueryRow(ctx, `SELECT coalesce(sum(credits), 0) FROM credit_bills WHERE account_id = $1 AND status <> 'paid'`,
		accountID).Scan(&u.Unpaid); err != nil {
		return u, fmt.Errorf("creditline: usage: %w", err)
	}
	return u, nil
}

// newReference returns a fresh bank transfer reference code for a bill.
func newReference() string { return refcode.Generate() }

// money formats fen as yuan for notices.
func money(fen int64) string { return format.Money(decimal.New(fen, -2)) }
