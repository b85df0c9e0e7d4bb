package payments

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/ledger"
)

// StatementPayment is a bank statement line that finance credited to an
// account from the unmatched queue (a manual recharge): money that arrived
// without a transfer order the customer made, or without its reference code.
type StatementPayment struct {
	LineID       int64 // the bank_statement_lines row
	AccountID    int64 // the account credited
	AmountFen    int64 // what the line says arrived
	Serial       string
	PayerName    string
	PayerAccount string
	// Lot is the paid lot credited for the line, on the same transaction.
	Lot ledger.Lot
	// Actor is who credited it (e.g. "staff:12"), recorded with the transition.
	Actor string
}

const (
	sqlInsertStatementOrder = `
INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state, expires_at, created_at, updated_at,
                            bank_line_id, statement_serial, payer_name, payer_account)
VALUES ($1, $2, $3, $4, 'bank_transfer', 'created', $5, $5, $5, $6, $7, $8, $9)
ON CONFLICT ON CONSTRAINT payment_orders_bank_line_key DO NOTHING
RETURNING ` + orderColumns
	sqlLockOrderByBankLine = `SELECT ` + orderColumns + ` FROM payment_orders WHERE bank_line_id = $1 FOR UPDATE`
	sqlSetStatementPaid    = `
UPDATE payment_orders SET channel_trade_no = $2, paid_at = $3, paid_fen = $4, paid_lot_id = $5 WHERE id = $1`
)

// statementOrderNo is the order number of the order recorded from
// statement line lineID: "B", the date in Beijing time and the line id in
// at least 10 digits (B202611210000012345). Line ids are unique, and no
// other order number starts with B, so it never clashes.
func (s *Service) statementOrderNo(lineID int64) string {
	return fmt.Sprintf("B%s%010d", s.now().In(chinaTime).Format("20060102"), lineID)
}

// RecordStatementPaymentTx records p as a completed bank-transfer top-up
// order on the caller's transaction tx, which has credited p.Lot for it: an
// order made and paid at once (created → paid, cause bank_statement) with
// the lot as its paid lot and the lot's credits, no bonus and no reference
// code, naming the line, its serial and payer. From then on it is listed,
// invoiceable and refundable like any other paid top-up (a refund is paid
// back by finance, as for every bank transfer). The line is recorded once:
// recording it again returns the first order unchanged when it names the
// same account, amount and lot. Errors: ErrInvalidArgument (no line, amount
// or account; the lot is not a paid lot of that account), ErrAlreadyPaid
// (the line was recorded with another account, amount or lot), database
// errors.
func (s *Service) RecordStatementPaymentTx(ctx context.Context, tx pgx.Tx, p StatementPayment) (Order, error) {
	if err := p.check(); err != nil {
		return Order{}, fmt.Errorf("payments: record statement line %d: %w", p.LineID, err)
	}
	now := s.now()
	o, err := queryOrder(ctx, tx, sqlInsertStatementOrder, s.statementOrderNo(p.LineID), p.AccountID, p.AmountFen, p.Lot.Amount, now,
		p.LineID, p.Serial, p.PayerName, p.PayerAccount)
	if errors.Is(err, ErrNotFound) { // recorded before (ON CONFLICT DO NOTHING)
		return s.recordedStatementOrder(ctx, tx, p)
	}
	if isForeignKeyViolation(err) {
		return Order{}, fmt.Errorf("payments: record statement line %d: %w: no such line or account", p.LineID, ErrInvalidArgument)
	}
	if err != nil {
		return Order{}, fmt.Errorf("payments: record statement line %d: %w", p.LineID, err)
	}
	ref := "bank_line:" + strconv.FormatInt(p.LineID, 10)
	err = func() error {
		if err := s.record(ctx, tx, o.ID, nil, StateCreated, CauseCreate,
			map[string]any{"amount_fen": p.AmountFen, "channel": ChannelBankTransfer, "bank_line_id": p.LineID}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlSetStatementPaid, o.ID, ref, now, p.AmountFen, p.Lot.ID); err != nil {
			return err
		}
		o.ChannelTradeNo, o.PaidAt, o.PaidFen, o.PaidLotID = ref, &now, &p.AmountFen, &p.Lot.ID
		if err := s.transition(ctx, tx, &o, StatePaid, CauseBankStatement, map[string]any{
			"statement_ref": ref, "serial": p.Serial, "actor": p.Actor, "paid_lot_id": p.Lot.ID}); err != nil {
			return err
		}
		return s.topUpPaid(ctx, tx, o)
	}()
	if err != nil {
		return Order{}, fmt.Errorf("payments: record statement line %d: %w", p.LineID, err)
	}
	return o, nil
}

func (p StatementPayment) check() error {
	switch {
	case p.LineID <= 0, p.AccountID <= 0, p.AmountFen <= 0:
		return fmt.Errorf("%w: a statement line, an account and a positive amount are required", ErrInvalidArgument)
	case p.Lot.ID <= 0 || p.Lot.Kind != ledger.LotPaid || p.Lot.AccountID != p.AccountID || !p.Lot.Amount.IsPositive():
		return fmt.Errorf("%w: lot %d is not a paid lot of account %d", ErrInvalidArgument, p.Lot.ID, p.AccountID)
	}
	return nil
}

// recordedStatementOrder returns the order already recorded for p's line,
// if it records the same payment.
func (s *Service) recordedStatementOrder(ctx context.Context, tx pgx.Tx, p StatementPayment) (Order, error) {
	o, err := queryOrder(ctx, tx, sqlLockOrderByBankLine, p.LineID)
	if err != nil {
		return Order{}, fmt.Errorf("payments: record statement line %d: %w", p.LineID, err)
	}
	if o.AccountID != p.AccountID || o.AmountFen != p.AmountFen || o.PaidLotID == nil || *o.PaidLotID != p.Lot.ID {
		return o, fmt.Errorf("payments: record statement line %d: %w as %s", p.LineID, ErrAlreadyPaid, o.OrderNo)
	}
	return o, nil
}
