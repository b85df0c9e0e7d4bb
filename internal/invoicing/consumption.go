package invoicing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Basis is what an account is invoiced for (开票依据).
type Basis string

// Bases.
const (
	// BasisTopUp invoices paid top-ups (the default).
	BasisTopUp Basis = "topup"
	// BasisConsumption invoices each closed Shanghai month's consumption of
	// paid credit at the price paid (按消费开票); top-ups are then not
	// invoiceable.
	BasisConsumption Basis = "consumption"
)

// ConsumedFenFunc values an account's consumption of paid credit in each
// Shanghai month ("2026-11") of [from, to) at the price paid for each lot,
// in fen: the revenue report's recognised revenue for that account
// (backoffice.Service.PaidConsumedByMonth). Months without any may be absent.
type ConsumedFenFunc func(ctx context.Context, accountID int64, from, to time.Time) (map[string]int64, error)

// Errors of invoicing by consumption.
var (
	// ErrMonthNotInvoiceable: the month is not closed, or the account was
	// not invoiced by consumption in it (the field "month").
	ErrMonthNotInvoiceable = fielderr.One("invoicing", "month", "month_not_invoiceable")
	// ErrBasisInvalid: not a Basis (the field "basis").
	ErrBasisInvalid = fielderr.One("invoicing", "basis", "basis_invalid")
)

// BasisChange is a change of an account's basis, in force from
// EffectiveFrom (the first instant of a Shanghai month).
type BasisChange struct {
	AccountID     int64     `json:"account_id" db:"account_id"`
	EffectiveFrom time.Time `json:"effective_from" db:"effective_from"`
	Basis         Basis     `json:"basis" db:"basis"`
	SetBy         string    `json:"set_by" db:"set_by"`
	SetAt         time.Time `json:"set_at" db:"set_at"`
}

// BasisInfo is an account's basis now and any change already set for a
// coming month.
type BasisInfo struct {
	Current Basis
	Next    *BasisChange
}

// monthStart is the first instant of the Shanghai month holding t.
func monthStart(t time.Time) time.Time {
	s := t.In(identity.Shanghai)
	return time.Date(s.Year(), s.Month(), 1, 0, 0, 0, 0, identity.Shanghai)
}

// ParseMonth reads "2026-11" as the first instant of that Shanghai month.
// Errors: ErrMonthNotInvoiceable.
func ParseMonth(s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01", s, identity.Shanghai)
	if err != nil {
		return time.Time{}, ErrMonthNotInvoiceable
	}
	return t, nil
}

const sqlBasisAt = `SELECT basis FROM invoicing_basis_changes WHERE account_id = $1 AND effective_from <= $2
ORDER BY effective_from DESC LIMIT 1`

func basisAt(ctx context.Context, q db.DBTX, accountID int64, t time.Time) (Basis, error) {
	var b Basis
	err := q.QueryRow(ctx, sqlBasisAt, accountID, t).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return BasisTopUp, nil
	}
	return b, err
}

// AccountBasis returns the account's basis now and the change set for next
// month, if any.
func (s *Service) AccountBasis(ctx context.Context, accountID int64) (BasisInfo, error) {
	cur, err := basisAt(ctx, s.pool, accountID, s.now())
	if err != nil {
		return BasisInfo{}, fmt.Errorf("invoicing: basis: %w", err)
	}
	info := BasisInfo{Current: cur}
	rows, _ := s.pool.Query(ctx, `SELECT account_id, effective_from, basis, set_by, set_at FROM invoicing_basis_changes
		WHERE account_id = $1 AND effective_from > $2 ORDER BY effective_from LIMIT 1`, accountID, s.now())
	next, err := pgx.CollectRows(rows, pgx.RowToStructByName[BasisChange])
	if err != nil {
		return BasisInfo{}, fmt.Errorf("invoicing: basis: %w", err)
	}
	if len(next) == 1 && next[0].Basis != cur {
		info.Next = &next[0]
	}
	return info, nil
}

// SetBasis sets the account's invoicing basis from the next Shanghai month
// on (a second change in the same month replaces the first). Nothing
// becomes invoiceable twice: every invoice, of top-ups or of a month, counts
// against what was paid and not refunded. record, when set, runs in the
// same transaction (the back office's audit row). Errors: ErrBasisInvalid,
// and record's.
func (s *Service) SetBasis(ctx context.Context, accountID int64, basis Basis, actor string,
	record func(ctx context.Context, tx pgx.Tx, c BasisChange) error) (BasisChange, error) {
	if basis != BasisTopUp && basis != BasisConsumption {
		return BasisChange{}, fmt.Errorf("invoicing: set basis: %w", ErrBasisInvalid)
	}
	now := s.now()
	c := BasisChange{AccountID: accountID, EffectiveFrom: monthStart(now).AddDate(0, 1, 0).UTC(), Basis: basis, SetBy: actor, SetAt: now}
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO invoicing_basis_changes (account_id, effective_from, basis, set_by, set_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, effective_from) DO UPDATE SET basis = $3, set_by = $4, set_at = $5`,
			c.AccountID, c.EffectiveFrom, c.Basis, c.SetBy, c.SetAt); err != nil {
			return err
		}
		if record != nil {
			return record(ctx, tx, c)
		}
		return nil
	})
	if err != nil {
		return BasisChange{}, fmt.Errorf("invoicing: set basis: %w", err)
	}
	return c, nil
}

// InvoiceableMonth is a closed month of an account invoiced by consumption:
// its consumption of paid credit at the price paid, what invoices of it
// hold, and what can still be invoiced (also capped by what was paid and
// not yet invoiced or refunded over the account's life).
type InvoiceableMonth struct {
	Month        time.Time // first instant of the Shanghai month
	ConsumedFen  int64
	InvoicedFen  int64
	AvailableFen int64
}

// Label is "2026-11".
func (m InvoiceableMonth) Label() string { return m.Month.In(identity.Shanghai).Format("2006-01") }

// maxMonths bounds how far back the month list reaches.
const maxMonths = 24

// paidLeft is what was paid (top-ups and credit line bills) and not
// refunded, less what invoices other than excludeID (of top-ups, months
// and bills) hold: the account-wide cap.
func (s *Service) paidLeft(ctx context.Context, q db.DBTX, accountID, excludeID int64) (int64, error) {
	tops, err := s.source.PaidTopUps(ctx, q, accountID)
	if err != nil {
		return 0, fmt.Errorf("top-ups: %w", err)
	}
	var paid int64
	for _, t := range tops {
		paid += t.AmountFen - t.RefundedFen
	}
	bills, err := s.paidBills(ctx, q, accountID)
	if err != nil {
		return 0, err
	}
	for _, b := range bills {
		paid += b.AmountFen // bills are paid money too (never refunded)
	}
	var invoiced int64
	if err := q.QueryRow(ctx, `SELECT coalesce(sum(amount_fen), 0)::bigint FROM invoices
		WHERE account_id = $1 AND state IN ('requested', 'issued') AND id <> $2`, accountID, excludeID).Scan(&invoiced); err != nil {
		return 0, err
	}
	return max(0, paid-invoiced), nil
}

// consumed values the months of [from, to).
func (s *Service) consumed(ctx context.Context, accountID int64, from, to time.Time) (map[string]int64, error) {
	if s.opts.ConsumedFen == nil {
		return nil, errors.New("consumption valuation not configured")
	}
	c, err := s.opts.ConsumedFen(ctx, accountID, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("consumption: %w", err)
	}
	return c, nil
}

// monthFigures computes one month's figures (excluding invoice excludeID)
// from consumed (by month, as ConsumedFenFunc; nil: value the month now).
// Errors: ErrMonthNotInvoiceable.
func (s *Service) monthFigures(ctx context.Context, q db.DBTX, accountID int64, m time.Time, consumed map[string]int64, left, excludeID int64) (InvoiceableMonth, error) {
	if m.AddDate(0, 1, 0).After(s.now()) {
		return InvoiceableMonth{}, ErrMonthNotInvoiceable
	}
	b, err := basisAt(ctx, q, accountID, m)
	if err != nil {
		return InvoiceableMonth{}, err
	}
	if b != BasisConsumption {
		return InvoiceableMonth{}, ErrMonthNotInvoiceable
	}
	if consumed == nil {
		if consumed, err = s.consumed(ctx, accountID, m, m.AddDate(0, 1, 0)); err != nil {
			return InvoiceableMonth{}, err
		}
	}
	fen := consumed[m.In(identity.Shanghai).Format("2006-01")]
	var invoiced int64
	if err := q.QueryRow(ctx, `SELECT coalesce(sum(amount_fen), 0)::bigint FROM invoices
		WHERE account_id = $1 AND month = $2::date AND state IN ('requested', 'issued') AND id <> $3`,
		accountID, m.Format("2006-01-02"), excludeID).Scan(&invoiced); err != nil {
		return InvoiceableMonth{}, err
	}
	return InvoiceableMonth{Month: m, ConsumedFen: fen, InvoicedFen: invoiced,
		AvailableFen: max(0, min(fen-invoiced, left))}, nil
}

// InvoiceableMonths lists the account's closed months invoiced by
// consumption (newest first, at most two years), each with what can still
// be invoiced. Empty for an account invoiced by top-up.
func (s *Service) InvoiceableMonths(ctx context.Context, accountID int64) ([]InvoiceableMonth, error) {
	var first *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(effective_from) FROM invoicing_basis_changes WHERE account_id = $1 AND basis = 'consumption'`,
		accountID).Scan(&first); err != nil {
		return nil, fmt.Errorf("invoicing: months: %w", err)
	}
	out := []InvoiceableMonth{}
	if first == nil {
		return out, nil
	}
	left, err := s.paidLeft(ctx, s.pool, accountID, 0)
	if err != nil {
		return nil, fmt.Errorf("invoicing: months: %w", err)
	}
	end := monthStart(s.now())
	start := monthStart(*first)
	if oldest := end.AddDate(0, -maxMonths, 0); start.Before(oldest) {
		start = oldest
	}
	if !start.Before(end) {
		return out, nil
	}
	consumed, err := s.consumed(ctx, accountID, start, end) // one pass over the months
	if err != nil {
		return nil, fmt.Errorf("invoicing: months: %w", err)
	}
	for m := end.AddDate(0, -1, 0); !m.Before(start); m = m.AddDate(0, -1, 0) {
		f, err := s.monthFigures(ctx, s.pool, accountID, m, consumed, left, 0)
		if errors.Is(err, ErrMonthNotInvoiceable) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("invoicing: months: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}

// lockConsumption takes the row lock of an account invoiced by consumption
// (after the account's invoicing lock): month invoices are checked against
// the cap under it, in the request's transaction.
func lockConsumption(ctx context.Context, tx pgx.Tx, accountID int64) error {
	if _, err := tx.Exec(ctx, `INSERT INTO invoicing_accounts (account_id) VALUES ($1) ON CONFLICT DO NOTHING`, accountID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT account_id FROM invoicing_accounts WHERE account_id = $1 FOR UPDATE`, accountID)
	return err
}

// checkMonth resolves a month request under the locks: amount 0 takes all
// that is left. Errors: ErrMonthNotInvoiceable, *ExceedsError.
func (s *Service) checkMonth(ctx context.Context, tx pgx.Tx, accountID int64, m time.Time, amount, excludeID int64) (int64, error) {
	if err := lockConsumption(ctx, tx, accountID); err != nil {
		return 0, err
	}
	left, err := s.paidLeft(ctx, tx, accountID, excludeID)
	if err != nil {
		return 0, err
	}
	f, err := s.monthFigures(ctx, tx, accountID, m, nil, left, excludeID)
	if err != nil {
		return 0, err
	}
	if amount == 0 {
		amount = f.AvailableFen
	}
	if amount == 0 || amount > f.AvailableFen {
		return 0, &ExceedsError{Month: f.Label(), RequestedFen: amount, AvailableFen: f.AvailableFen}
	}
	return amount, nil
}
