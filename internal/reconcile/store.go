package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// LineStatus is where a stored statement line stands in the back office.
type LineStatus string

// Statement line statuses.
const (
	StatusUnmatched     LineStatus = "unmatched"       // in the queue for finance
	StatusMatched       LineStatus = "matched"         // paid its transfer order automatically
	StatusResolved      LineStatus = "resolved"        // finance credited it to an account
	StatusRefundToPayer LineStatus = "refund_to_payer" // to be sent back to the payer
	StatusRejected      LineStatus = "rejected"        // finance rejected it, with a reason
	StatusIgnored       LineStatus = "ignored"         // a debit: never matched
)

// StoredLine is an imported statement line with its matching status.
type StoredLine struct {
	ID            int64           `db:"id"`
	BankAccount   string          `db:"bank_account"`
	Serial        string          `db:"serial"`
	TradedAt      time.Time       `db:"traded_at"`
	Direction     Direction       `db:"direction"`
	Amount        decimal.Decimal `db:"amount"`
	PayerName     string          `db:"payer_name"`
	PayerAccount  string          `db:"payer_account"`
	Memo          string          `db:"memo"`
	SourceFile    string          `db:"source_file"`
	SourceRow     int             `db:"source_row"`
	ImportedAt    time.Time       `db:"imported_at"`
	Status        LineStatus      `db:"status"`
	MatchReason   Reason          `db:"match_reason"`
	ReferenceCode string          `db:"reference_code"`
	OrderNo       *string         `db:"order_no"`
	// BillID is the credit line bill the line paid (by the bill's
	// reference code) instead of an order.
	BillID            *int64     `db:"bill_id"`
	ResolvedAccountID *string    `db:"resolved_account_id"`
	ResolutionRef     string     `db:"resolution_ref"`
	ResolutionNote    string     `db:"resolution_note"`
	ResolvedBy        *string    `db:"resolved_by"`
	ResolvedAt        *time.Time `db:"resolved_at"`
}

// Line returns the stored line as a StatementLine, for MatchTransfer.
func (s StoredLine) Line() StatementLine {
	return StatementLine{
		BankAccount: s.BankAccount, SourceFile: s.SourceFile, Row: s.SourceRow, Serial: s.Serial, Date: s.TradedAt,
		PayerName: s.PayerName, PayerAccount: s.PayerAccount, Amount: s.Amount,
		Direction: s.Direction, Memo: s.Memo,
	}
}

const lineColumns = `id, bank_account, serial, traded_at, direction, amount, payer_name, payer_account,
	memo, source_file, source_row, imported_at, status, match_reason, reference_code, order_no, bill_id,
	resolved_account_id, resolution_ref, resolution_note, resolved_by, resolved_at`

const insertLineSQL = `
INSERT INTO bank_statement_lines
	(bank_account, serial, traded_at, direction, amount, payer_name, payer_account, memo, raw, source_file, source_row, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (bank_account, serial) DO NOTHING`

// ImportLines stores statement lines, skipping those whose serial number is
// already stored for the same bank account, so importing a file twice adds
// nothing. Credit lines enter the unmatched queue; debit lines are stored as
// ignored. It runs on db, which
// may be the caller's transaction; run it in one to make a file all-or-nothing.
//
// Errors: ErrNoBankAccount when a line lacks BankAccount; database errors.
func ImportLines(ctx context.Context, db db.DBTX, lines []StatementLine) (inserted, duplicates int, err error) {
	if len(lines) == 0 {
		return 0, 0, nil
	}
	batch := &pgx.Batch{}
	for _, l := range lines {
		if l.BankAccount == "" {
			return 0, 0, fmt.Errorf("reconcile: import row %d: %w", l.Row, ErrNoBankAccount)
		}
		raw, err := json.Marshal(l.RawRow)
		if err != nil {
			return 0, 0, fmt.Errorf("reconcile: import row %d: %w", l.Row, err)
		}
		status := StatusUnmatched
		if l.Direction != Credit {
			status = StatusIgnored
		}
		batch.Queue(insertLineSQL, l.BankAccount, l.Serial, l.Date, string(l.Direction), l.Amount,
			l.PayerName, l.PayerAccount, l.Memo, raw, l.SourceFile, l.Row, string(status))
	}
	br := db.SendBatch(ctx, batch)
	defer br.Close()
	for range lines {
		tag, err := br.Exec()
		if err != nil {
			return inserted, duplicates, fmt.Errorf("reconcile: import: %w", err)
		}
		if tag.RowsAffected() == 1 {
			inserted++
		} else {
			duplicates++
		}
	}
	return inserted, duplicates, br.Close()
}

// LineFilter selects stored lines; zero fields select everything.
type LineFilter struct {
	Status      LineStatus
	BankAccount string
	// Search matches payer name, payer account, memo or serial (substring).
	Search string
	Limit  int // default 200
}

// ListLines returns stored lines, newest transaction first.
func ListLines(ctx context.Context, db db.DBTX, f LineFilter) ([]StoredLine, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	q := `SELECT ` + lineColumns + ` FROM bank_statement_lines
	WHERE ($1 = '' OR status = $1)
	  AND ($2 = '' OR bank_account = $2)
	  AND ($3 = '' OR payer_name ILIKE '%' || $3 || '%' OR payer_account LIKE '%' || $3 || '%'
	       OR memo ILIKE '%' || $3 || '%' OR serial = $3)
	ORDER BY traded_at DESC, id DESC
	LIMIT $4`
	rows, err := db.Query(ctx, q, string(f.Status), f.BankAccount, f.Search, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("reconcile: list lines: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowToStructByName[StoredLine])
	if err != nil {
		return nil, fmt.Errorf("reconcile: list lines: %w", err)
	}
	return lines, nil
}

// GetLine returns one stored line. Errors: ErrNotFound.
func GetLine(ctx context.Context, db db.DBTX, id int64) (StoredLine, error) {
	return getLine(ctx, db, id, "")
}

// GetLineForUpdate returns one stored line and locks it until the caller's
// transaction ends, so two finance users cannot resolve it at once.
// Errors: ErrNotFound.
func GetLineForUpdate(ctx context.Context, tx db.DBTX, id int64) (StoredLine, error) {
	return getLine(ctx, tx, id, " FOR UPDATE")
}

func getLine(ctx context.Context, db db.DBTX, id int64, lock string) (StoredLine, error) {
	rows, err := db.Query(ctx, `SELECT `+lineColumns+` FROM bank_statement_lines WHERE id = $1`+lock, id)
	if err != nil {
		return StoredLine{}, fmt.Errorf("reconcile: get line: %w", err)
	}
	l, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[StoredLine])
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredLine{}, ErrNotFound
	}
	if err != nil {
		return StoredLine{}, fmt.Errorf("reconcile: get line: %w", err)
	}
	return l, nil
}

const recordMatchSQL = `
UPDATE bank_statement_lines
SET status = $2, match_reason = $3, reference_code = $4, order_no = $5, bill_id = $6
WHERE id = $1 AND status = 'unmatched'`

// RecordMatch stores the matcher's verdict on an unmatched line. A matched
// result moves the line to matched with its order; call it inside the
// transaction that credits the order, so the credit and the line commit
// together. Any other result keeps the line in the queue with its reason.
//
// Errors: ErrNotFound, ErrLineNotOpen (the line left the queue meanwhile),
// ErrOrderAlreadyMatched (another line already paid the order).
func RecordMatch(ctx context.Context, db db.DBTX, id int64, m MatchResult) error {
	status := StatusUnmatched
	var orderNo *string
	var billID *int64
	switch {
	case m.Matched() && m.Order.BillID != 0:
		status = StatusMatched
		billID = &m.Order.BillID
	case m.Matched():
		status = StatusMatched
		orderNo = &m.Order.OrderNo
	}
	tag, err := db.Exec(ctx, recordMatchSQL, id, string(status), string(m.Reason), m.Code, orderNo, billID)
	if isUnique(err, "bank_statement_lines_order_key") || isUnique(err, "bank_statement_lines_bill_key") {
		return fmt.Errorf("reconcile: record match of line %d: %w", id, ErrOrderAlreadyMatched)
	}
	if err != nil {
		return fmt.Errorf("reconcile: record match: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notOpen(ctx, db, id)
	}
	return nil
}

// Resolution is finance's decision on a line of the unmatched queue.
type Resolution struct {
	// Status is StatusResolved (credited to AccountID by a manual recharge),
	// StatusRefundToPayer or StatusRejected.
	Status LineStatus
	// AccountID is the customer account credited; required for resolved.
	AccountID string
	// OrderNo is the transfer order the line turned out to pay, if any.
	OrderNo string
	// Ref names what was created for it (a recharge or bank refund id).
	Ref string
	// Note is the reason, required.
	Note string
	// By identifies the staff member.
	By string
}

const resolveSQL = `
UPDATE bank_statement_lines
SET status = $2, resolved_account_id = NULLIF($3, ''), order_no = NULLIF($4, ''), resolution_ref = $5,
    resolution_note = $6, resolved_by = $7, resolved_at = $8
WHERE id = $1 AND status = 'unmatched'`

// ResolveLine takes a line out of the unmatched queue with finance's
// decision. Run it in the transaction that creates the manual recharge or
// the refund record.
//
// Errors: ErrInvalidResolution, ErrNotFound, ErrLineNotOpen.
func ResolveLine(ctx context.Context, db db.DBTX, id int64, r Resolution, now time.Time) error {
	switch {
	case r.Status != StatusResolved && r.Status != StatusRefundToPayer && r.Status != StatusRejected:
		return fmt.Errorf("%w: status %q", ErrInvalidResolution, r.Status)
	case r.Status == StatusResolved && r.AccountID == "":
		return fmt.Errorf("%w: an account is required", ErrInvalidResolution)
	case r.Note == "":
		return fmt.Errorf("%w: a reason is required", ErrInvalidResolution)
	case r.By == "":
		return fmt.Errorf("%w: the staff member is required", ErrInvalidResolution)
	}
	tag, err := db.Exec(ctx, resolveSQL, id, string(r.Status), r.AccountID, r.OrderNo, r.Ref, r.Note, r.By, now.UTC())
	if err != nil {
		return fmt.Errorf("reconcile: resolve line: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notOpen(ctx, db, id)
	}
	return nil
}

func notOpen(ctx context.Context, dbtx db.DBTX, id int64) error {
	if _, err := GetLine(ctx, dbtx, id); err != nil {
		return err
	}
	return ErrLineNotOpen
}

func isUnique(err error, constraint string) bool { return db.IsUniqueViolation(err, constraint) }
