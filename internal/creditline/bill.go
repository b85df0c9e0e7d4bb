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
	"github.com/seed75218f88/credits/internal/platform/format"
)

// Status is where a bill stands.
type Status string

// Bill states: open → paid, or open → overdue (past its due date) → frozen
// (past its grace period: the account is frozen) → paid.
const (
	StatusOpen    Status = "open"
	StatusOverdue Status = "overdue"
	StatusFrozen  Status = "frozen"
	StatusPaid    Status = "paid"
)

// How a bill was paid.
const (
	PaidByTransfer = "transfer" // a bank transfer with the bill's reference code, matched by finance
	PaidByQR       = "qr"       // a QR payment order with purpose bill
	PaidManually   = "manual"   // finance recorded a payment received otherwise
)

// Bill is the consumption of a credit line in one period (账单).
type Bill struct {
	ID            int64           `db:"id"`
	AccountID     int64           `db:"account_id"`
	PeriodStart   time.Time       `db:"period_start"`
	PeriodEnd     time.Time       `db:"period_end"`
	Credits       decimal.Decimal `db:"credits"`
	AmountFen     int64           `db:"amount_fen"`
	IssuedAt      time.Time       `db:"issued_at"`
	DueAt         time.Time       `db:"due_at"`
	GraceUntil    time.Time       `db:"grace_until"`
	Status        Status          `db:"status"`
	ReferenceCode string          `db:"reference_code"`
	PaidAt        *time.Time      `db:"paid_at"`
	PaidVia       string          `db:"paid_via"`
	PaidRef       string          `db:"paid_ref"`
	PaidBy        string          `db:"paid_by"`
	RestoreOp     *int64          `db:"restore_op"`
}

// Unpaid reports whether the bill is still to be paid.
func (b Bill) Unpaid() bool { return b.Status != StatusPaid }

const billColumns = `id, account_id, period_start, period_end, credits, amount_fen, issued_at, due_at, grace_until, status,
	reference_code, paid_at, paid_via, paid_ref, paid_by, restore_op`

// PeriodEnd is the end of the last billing period that ended at or before
// t: the latest billing day (00:00 Asia/Shanghai) not after t.
func PeriodEnd(billingDay int, t time.Time) time.Time {
	st := t.In(format.Shanghai)
	end := time.Date(st.Year(), st.Month(), billingDay, 0, 0, 0, 0, format.Shanghai)
	if end.After(t) {
		end = end.AddDate(0, -1, 0)
	}
	return end.UTC()
}

// Bills lists the account's bills, newest first. Errors: database errors.
func (s *Service) Bills(ctx context.Context, accountID int64) ([]Bill, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+billColumns+` FROM credit_bills WHERE account_id = $1 ORDER BY period_end DESC`, accountID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Bill])
	if err != nil {
		return nil, fmt.Errorf("creditline: bills: %w", err)
	}
	return out, nil
}

// Bill returns one bill of the account. Errors: ErrBillNotFound.
func (s *Service) Bill(ctx context.Context, accountID, billID int64) (Bill, error) {
	b, err := billOn(ctx, s.pool, billID, "")
	if err == nil && b.AccountID != accountID {
		return Bill{}, ErrBillNotFound
	}
	return b, err
}

// BillByReference finds the bill a bank transfer's reference code names.
// Errors: ErrBillNotFound.
func (s *Service) BillByReference(ctx context.Context, code string) (Bill, error) {
	return s.BillByReferenceTx(ctx, s.pool, code)
}

// BillByReferenceTx is BillByReference on q (a statement import's
// transaction).
func (s *Service) BillByReferenceTx(ctx context.Context, q db.DBTX, code string) (Bill, error) {
	rows, _ := q.Query(ctx, `SELECT `+billColumns+` FROM credit_bills WHERE reference_code = $1`, code)
	return collectBill(rows)
}

func billOn(ctx context.Context, q db.DBTX, id int64, lock string) (Bill, error) {
	rows, _ := q.Query(ctx, `SELECT `+billColumns+` FROM credit_bills WHERE id = $1`+lock, id)
	return collectBill(rows)
}

func collectBill(rows pgx.Rows) (Bill, error) {
	b, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Bill])
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrBillNotFound
	}
	if err != nil {
		return b, fmt.Errorf("creditline: bill: %w", err)
	}
	return b, nil
}

// CloseDue issues the bills of every line whose billing day has passed
// since its last bill, and returns how many it issued. Errors: those of
// CloseLine.
func (s *Service) CloseDue(ctx context.Context) (int, error) {
	rows, _ := s.pool.Query(ctx, `SELECT account_id FROM credit_lines ORDER BY account_id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("creditline: close: %w", err)
	}
	n := 0
	for _, id := range ids {
		b, issued, err := s.CloseLine(ctx, id)
		if err != nil {
			return n, err
		}
		if issued && b.ID != 0 {
			n++
		}
	}
	return n, nil
}

// CloseLine closes the account's billing period if its billing day has
// passed since the last close: the credit lot's consumption in the period
// becomes a bill (none when nothing was consumed) and the line is billed
// through the period's end. It holds the line's row and then the pool's
// lock, so consumption recorded after it reads has a later ledger time and
// falls in the next period; a second run (another job client) finds the
// period closed and does nothing: once per line per period. It reports
// whether this call closed the period. Errors: ErrNoLine, database errors.
func (s *Service) CloseLine(ctx context.Context, accountID int64) (Bill, bool, error) {
	var out Bill
	closed := false
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		out, closed = Bill{}, false
		line, err := lineOn(ctx, tx, accountID, " FOR UPDATE")
		if err != nil {
			return err
		}
		now := s.now()
		end := PeriodEnd(line.BillingDay, now)
		if !end.After(line.BilledThrough) {
			return nil
		}
		if _, _, err := ledger.LockPoolTx(ctx, tx, accountID); err != nil {
			return err
		}
		var credits decimal.Decimal
		if err := tx.QueryRow(ctx, sqlConsumed, accountID, line.LotID, line.BilledThrough, end).Scan(&credits); err != nil {
			return err
		}
		closed = true
		if _, err := tx.Exec(ctx, `UPDATE credit_lines SET billed_through = $2 WHERE account_id = $1`, accountID, end); err != nil {
			return err
		}
		if !credits.IsPositive() {
			return nil
		}
		fen := ledger.RMBForCredits(credits, s.opt.CreditPriceRMB).Shift(2).IntPart()
		due := end.AddDate(0, 0, line.TermsDays)
		rows, _ := tx.Query(ctx, `
INSERT INTO credit_bills (account_id, period_start, period_end, credits, amount_fen, issued_at, due_at, grace_until, status, reference_code)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9)
RETURNING `+billColumns, accountID, line.BilledThrough, end, credits, fen, now, due, due.AddDate(0, 0, line.GraceDays), newReference())
		if out, err = collectBill(rows); err != nil {
			return err
		}
		return s.noticeTx(ctx, tx, out, NoticeIssued)
	})
	if err != nil {
		return Bill{}, false, fmt.Errorf("creditline: close line %d: %w", accountID, err)
	}
	return out, closed, nil
}

// Advance moves every unpaid bill along its states at the service's clock
// and sends the reminders that are due: due_soon (ReminderDays before the
// due date), overdue (past the due date), frozen (past the grace period:
// the account is frozen). Each bill is handled in its own transaction,
// holding its row, and each notice goes out once. It returns how many
// bills changed state. Errors: database and ledger errors.
func (s *Service) Advance(ctx context.Context) (int, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id FROM credit_bills WHERE status <> 'paid' ORDER BY id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("creditline: advance: %w", err)
	}
	n := 0
	for _, id := range ids {
		changed, err := s.advanceBill(ctx, id)
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

func (s *Service) advanceBill(ctx context.Context, id int64) (bool, error) {
	changed := false
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		changed = false
		b, err := billOn(ctx, tx, id, " FOR UPDATE")
		if err != nil {
			return err
		}
		now := s.now()
		if b.Status == StatusOpen && !now.Before(b.DueAt.AddDate(0, 0, -s.opt.ReminderDays)) && now.Before(b.DueAt) {
			if err := s.noticeTx(ctx, tx, b, NoticeDueSoon); err != nil {
				return err
			}
		}
		next := b.Status
		switch {
		case b.Status == StatusOpen && !now.Before(b.GraceUntil), b.Status == StatusOverdue && !now.Before(b.GraceUntil):
			next = StatusFrozen
		case b.Status == StatusOpen && !now.Before(b.DueAt):
			next = StatusOverdue
		}
		if next == b.Status {
			return nil
		}
		changed = true
		if b.Status == StatusOpen {
			// a bill that skipped overdue (a late job run) still says so
			if err := s.noticeTx(ctx, tx, b, NoticeOverdue); err != nil {
				return err
			}
		}
		if next == StatusFrozen {
			if _, err := lineOn(ctx, tx, b.AccountID, " FOR UPDATE"); err != nil {
				return err
			}
			acc, err := ledger.AccountByID(ctx, tx, b.AccountID)
			if err != nil {
				return err
			}
			if acc.Status != ledger.StatusFrozen {
				if err := s.ledger.SetStatusTx(ctx, tx, b.AccountID, ledger.StatusFrozen, "system", "credit_bill_overdue"); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE credit_lines SET froze = true WHERE account_id = $1`, b.AccountID); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE credit_bills SET status = $2 WHERE id = $1`, b.ID, next); err != nil {
			return err
		}
		b.Status = next
		if next == StatusFrozen {
			return s.noticeTx(ctx, tx, b, NoticeFrozen)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("creditline: advance bill %d: %w", id, err)
	}
	return changed, nil
}

// Payment is a payment of a bill.
type Payment struct {
	BillID int64
	Via    string // PaidByTransfer, PaidByQR, PaidManually
	Ref    string // the statement line, payment order or note it came with
	Actor  string // who recorded it ("staff:<id>", "system")
}

// PayTx records a bill paid inside the caller's transaction (a QR order's
// completion, or finance matching a transfer): the bill becomes paid, the
// line gets the bill's credits back (one ledger restore keyed by the bill,
// so it happens once) and, when this line froze the account and no other
// of its bills is frozen, the account is active again. A repeat of the
// same payment (same via and ref) returns the paid bill; another payment
// of a paid bill is ErrBillPaid, so 64 concurrent payments restore once.
// Errors: ErrBillNotFound, ErrBillPaid, ledger errors.
func (s *Service) PayTx(ctx context.Context, tx pgx.Tx, p Payment) (Bill, error) {
	b, err := billOn(ctx, tx, p.BillID, " FOR UPDATE")
	if err != nil {
		return Bill{}, err
	}
	if b.Status == StatusPaid {
		if b.PaidVia == p.Via && b.PaidRef == p.Ref {
			return b, nil
		}
		return b, ErrBillPaid
	}
	if _, err := lineOn(ctx, tx, b.AccountID, " FOR UPDATE"); err != nil {
		return Bill{}, err
	}
	res, err := s.ledger.RestoreCreditTx(ctx, tx, ledger.RestoreRequest{AccountID: b.AccountID, Amount: b.Credits,
		SourceRef: "credit_bill:" + strconv.FormatInt(b.ID, 10), Actor: p.Actor, ReasonCode: "credit_bill_paid",
		IdempotencyKey: "credit_bill:" + strconv.FormatInt(b.ID, 10)})
	if err != nil {
		return Bill{}, fmt.Errorf("creditline: pay bill %d: %w", b.ID, err)
	}
	now := s.now()
	rows, _ := tx.Query(ctx, `
UPDATE credit_bills SET status = 'paid', paid_at = $2, paid_via = $3, paid_ref = $4, paid_by = $5, restore_op = $6
WHERE id = $1 RETURNING `+billColumns, b.ID, now, p.Via, p.Ref, p.Actor, res.OpID)
	if b, err = collectBill(rows); err != nil {
		return Bill{}, err
	}
	var unfreeze bool
	if err := tx.QueryRow(ctx, `
SELECT l.froze AND NOT EXISTS (SELECT 1 FROM credit_bills WHERE account_id = l.account_id AND status = 'frozen')
FROM credit_lines l WHERE l.account_id = $1`, b.AccountID).Scan(&unfreeze); err != nil {
		return Bill{}, fmt.Errorf("creditline: pay bill %d: %w", b.ID, err)
	}
	if unfreeze {
		if err := s.ledger.SetStatusTx(ctx, tx, b.AccountID, ledger.StatusActive, p.Actor, "credit_bill_paid"); err != nil {
			return Bill{}, fmt.Errorf("creditline: pay bill %d: %w", b.ID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE credit_lines SET froze = false WHERE account_id = $1`, b.AccountID); err != nil {
			return Bill{}, fmt.Errorf("creditline: pay bill %d: %w", b.ID, err)
		}
	}
	return b, s.noticeTx(ctx, tx, b, NoticePaid)
}

// Pay is PayTx in its own transaction.
func (s *Service) Pay(ctx context.Context, p Payment) (Bill, error) {
	var out Bill
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.PayTx(ctx, tx, p)
		return err
	})
	return out, err
}

// PeriodName names a billing period [start, end) briefly, as order lists
// label the bill an order pays: "2026-11" when it is one whole calendar
// month in Asia/Shanghai (billing day 1), else its first and last days,
// "2026-11-15 – 2026-12-14".
func PeriodName(start, end time.Time) string {
	s := start.In(format.Shanghai)
	if s.Day() == 1 && s.Hour() == 0 && s.Minute() == 0 && s.Second() == 0 && s.Nanosecond() == 0 &&
		s.AddDate(0, 1, 0).Equal(end) {
		return s.Format("2006-01")
	}
	return format.Date(start) + " – " + format.Date(end.AddDate(0, 0, -1))
}
