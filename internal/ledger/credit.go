package ledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// A postpaid credit line (授信) is one lot of kind LotCredit in its pool,
// spent after every other lot. Its amount is the line and its remaining the
// unused line, so the pool's balance (the sum of its lots) includes what is
// left of the line: the pool may spend down to minus its line, and every
// other rule (budgets, trial, allocations, plans) applies as before. What
// the account owns is the balance less the line — negative while it is in
// debt (Balance.Own). internal/creditline owns the line's terms and its
// bills; the ledger keeps only the lot and its events.

// CreditLineRequest sets an account's credit line to Line credits.
type CreditLineRequest struct {
	AccountID      int64
	Line           decimal.Decimal
	SourceRef      string // the line change or approval
	Actor          string
	ReasonCode     string
	IdempotencyKey string
}

// CreditLineResult is the credit lot after the change and the change of
// the line (0 when the line was already Line).
type CreditLineResult struct {
	OpID     int64           `json:"op_id"`
	Lot      Lot             `json:"lot"`
	Delta    decimal.Decimal `json:"delta"`
	Replayed bool            `json:"replayed"`
}

const (
	sqlCreditLine    = `SELECT ledger_credit_line($1::jsonb)`
	sqlCreditRestore = `SELECT ledger_credit_restore($1::jsonb)`
)

// SetCreditLineTx creates or changes the credit line of an account that is
// its own pool, inside the caller's transaction tx (so the line's terms and
// its lot change together): one credit_line event on the credit lot for
// the difference. Raising the line raises what may be spent at once;
// lowering it is refused below what is used of it, and a Line of 0 closes
// an unused line (the lot stays, empty). Errors: ErrInvalidAmount,
// ErrNoCreditLine (0 for a pool without a line), ErrMissingIdempotencyKey, ErrNotFound,
// ErrInvalidArgument (a sub-account), ErrCreditLineInUse (as
// *ShortfallError with what is used), ErrIdempotencyConflict.
func (l *Ledger) SetCreditLineTx(ctx context.Context, tx pgx.Tx, r CreditLineRequest) (CreditLineResult, error) {
	var res CreditLineResult
	amount, err := checkAmount(r.Line)
	if r.Line.IsZero() {
		amount, err = decimal.Zero, nil // closes the line
	}
	if err != nil {
		return res, fmt.Errorf("ledger: credit line: %w", err)
	}
	if r.IdempotencyKey == "" {
		return res, fmt.Errorf("ledger: credit line: %w", ErrMissingIdempotencyKey)
	}
	p := l.stamp(payload{"account_id": r.AccountID, "amount": amount.String(), "source_ref": r.SourceRef,
		"actor": r.Actor, "reason_code": r.ReasonCode}, r.IdempotencyKey, "credit_line", r.AccountID, amount.String())
	raw, err := l.execTx(ctx, tx, sqlCreditLine, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: credit line: %w", err)
	}
	return res, nil
}

// RestoreRequest gives Amount credits of an account's credit line back.
type RestoreRequest struct {
	AccountID      int64
	Amount         decimal.Decimal
	SourceRef      string // the bill paid
	Actor          string
	ReasonCode     string
	IdempotencyKey string
}

// RestoreResult is the credit lot after a restore.
type RestoreResult struct {
	OpID     int64 `json:"op_id"`
	Lot      Lot   `json:"lot"`
	Replayed bool  `json:"replayed"`
}

// RestoreCreditTx gives back Amount of the account's credit line (a bill
// was paid) inside the caller's transaction: one credit_restore event that
// raises the credit lot's remaining. The same key replays, so a payment
// noticed twice restores once. Errors: ErrInvalidAmount,
// ErrMissingIdempotencyKey, ErrNotFound, ErrInvalidArgument,
// ErrNoCreditLine, ErrCreditRestoreExceeds (as *ShortfallError with what
// is used), ErrIdempotencyConflict.
func (l *Ledger) RestoreCreditTx(ctx context.Context, tx pgx.Tx, r RestoreRequest) (RestoreResult, error) {
	var res RestoreResult
	amount, err := checkAmount(r.Amount)
	if err != nil {
		return res, fmt.Errorf("ledger: credit restore: %w", err)
	}
	if r.IdempotencyKey == "" {
		return res, fmt.Errorf("ledger: credit restore: %w", ErrMissingIdempotencyKey)
	}
	p := l.stamp(payload{"account_id": r.AccountID, "amount": amount.String(), "source_ref": r.SourceRef,
		"actor": r.Actor, "reason_code": r.ReasonCode}, r.IdempotencyKey, "credit_restore", r.AccountID, amount.String(), r.SourceRef)
	raw, err := l.execTx(ctx, tx, sqlCreditRestore, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: credit restore: %w", err)
	}
	return res, nil
}
