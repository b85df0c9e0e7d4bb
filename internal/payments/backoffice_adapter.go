package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/reconcile"
	"github.com/seed75218f88/credits/internal/refcode"
)

// BackOffice is the payments side of the back office: it satisfies
// backoffice.TransferOrders, backoffice.OrderLookup,
// backoffice.ChannelOrders and backoffice.Refunder over the payment orders.
type BackOffice struct {
	s *Service
	// VerifiedPayer returns the verified company name of an account (""
	// when none); statement matching then requires the payer to be that
	// company. Nil skips the payer check.
	VerifiedPayer func(ctx context.Context, accountID int64) (string, error)
}

// BackOffice returns the adapters the back office is built with.
func (s *Service) BackOffice() *BackOffice { return &BackOffice{s: s} }

var (
	_ backoffice.TransferOrders = (*BackOffice)(nil)
	_ backoffice.OrderLookup    = (*BackOffice)(nil)
	_ backoffice.ChannelOrders  = (*BackOffice)(nil)
	_ backoffice.Refunder       = (*BackOffice)(nil)
)

// OpenOrderByCode returns the bank-transfer order with reference code code,
// paid or not, read on tx; ok is false when no transfer order has it (or
// the code's check character is wrong).
func (b *BackOffice) OpenOrderByCode(ctx context.Context, tx db.DBTX, code string) (backoffice.TransferOrder, bool, error) {
	var out backoffice.TransferOrder
	code = refcode.Normalize(code)
	if !refcode.Valid(code) {
		return out, false, nil
	}
	o, err := queryOrder(ctx, tx, sqlOrderByReference, code)
	if errors.Is(err, ErrNotFound) {
		return out, false, nil
	}
	if err != nil {
		return out, false, fmt.Errorf("payments: order by reference %s: %w", code, err)
	}
	if o.Channel != ChannelBankTransfer {
		return out, false, nil
	}
	out = backoffice.TransferOrder{AccountID: o.AccountID, OpenOrder: reconcile.OpenOrder{
		OrderNo: o.OrderNo, Code: o.ReferenceCode, Amount: o.AmountYuan(), Paid: o.State.Paid(),
	}}
	if out.VerifiedPayer, err = b.VerifiedPayerOf(ctx, o.AccountID); err != nil {
		return out, false, err
	}
	return out, true, nil
}

// VerifiedPayerOf returns the company a transfer for the account must come
// from: its verified company name, "" when none (or VerifiedPayer is not
// wired). Statement matching asks it for transfer orders and credit line
// bills alike.
func (b *BackOffice) VerifiedPayerOf(ctx context.Context, accountID int64) (string, error) {
	if b.VerifiedPayer == nil {
		return "", nil
	}
	name, err := b.VerifiedPayer(ctx, accountID)
	if err != nil {
		return "", fmt.Errorf("payments: verified payer of %d: %w", accountID, err)
	}
	return name, nil
}

// CompleteTx completes the transfer order orderNo because statement line
// statementRef paid it, crediting its lots on tx, once
// (CompleteTransferOrder).
func (b *BackOffice) CompleteTx(ctx context.Context, tx pgx.Tx, orderNo, statementRef, actor string) error {
	o, err := queryOrder(ctx, tx, sqlOrderByNo, orderNo)
	if err != nil {
		return fmt.Errorf("payments: complete transfer %s: %w", orderNo, err)
	}
	_, err = b.s.CompleteTransferOrder(ctx, tx, o.ID, statementRef, actor)
	return err
}

// openTransfersOfAccount is an account's bank-transfer orders awaiting
// payment, newest first (payment_orders_account_idx).
const openTransfersOfAccount = `SELECT ` + orderColumns + ` FROM payment_orders
WHERE account_id = $1 AND channel = 'bank_transfer' AND state IN ('created', 'pending')
ORDER BY created_at DESC, id DESC LIMIT 20`

// OpenOrdersOf lists the account's bank-transfer orders awaiting payment
// (at most 20, newest first), for finance choosing whom an unmatched
// statement line paid.
func (b *BackOffice) OpenOrdersOf(ctx context.Context, accountID int64) ([]backoffice.TransferOrder, error) {
	rows, err := b.s.pool.Query(ctx, openTransfersOfAccount, accountID)
	if err != nil {
		return nil, fmt.Errorf("payments: open transfer orders: %w", err)
	}
	orders, err := pgx.CollectRows(rows, pgx.RowToStructByName[Order])
	if err != nil {
		return nil, fmt.Errorf("payments: open transfer orders: %w", err)
	}
	out := make([]backoffice.TransferOrder, len(orders))
	for i, o := range orders {
		out[i] = backoffice.TransferOrder{AccountID: o.AccountID, OpenOrder: reconcile.OpenOrder{
			OrderNo: o.OrderNo, Code: o.ReferenceCode, Amount: o.AmountYuan()}}
	}
	return out, nil
}

// AccountByOrderNo returns the ledger account of an order (the support
// lookup by order number).
func (b *BackOffice) AccountByOrderNo(ctx context.Context, orderNo string) (int64, bool, error) {
	o, err := b.s.OrderByNo(ctx, orderNo)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return o.AccountID, true, nil
}

// OrderRecords returns every payment and refund we recorded through channel
// with its time in [from, to): payments by paid_at (the amount paid),
// refunds the channel accepted by their creation time.
func (b *BackOffice) OrderRecords(ctx context.Context, channel reconcile.Channel, from, to time.Time) ([]reconcile.OrderRecord, error) {
	const q = `
SELECT order_no, '' AS refund_no, coalesce(paid_fen, amount_fen) AS fen, 'paid' AS status
FROM payment_orders WHERE channel = $1 AND paid_at >= $2 AND paid_at < $3
UNION ALL
SELECT o.order_no, r.refund_no, r.amount_fen, 'refund'
FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id
WHERE o.channel = $1 AND r.created_at >= $2 AND r.created_at < $3
  AND (r.state = $4 OR EXISTS (SELECT 1 FROM payment_refund_events e WHERE e.refund_id = r.id AND e.kind = 'refunded'))
ORDER BY 1, 2`
	var out []reconcile.OrderRecord
	rows, err := b.s.pool.Query(ctx, q, string(channel), from, to, string(RefundDone))
	if err != nil {
		return nil, fmt.Errorf("payments: order records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r reconcile.OrderRecord
		var fen int64
		var status string
		if err := rows.Scan(&r.OutTradeNo, &r.RefundNo, &fen, &status); err != nil {
			return nil, fmt.Errorf("payments: order records: %w", err)
		}
		r.Channel, r.Amount, r.Status = channel, decimal.New(fen, -2), reconcile.BillStatus(status)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payments: order records: %w", err)
	}
	return out, nil
}

// StartRefundTx carries out an approved refund request on the back office's
// transaction: a refund of the order it names (or, without one, of the
// account's newest paid top-up with enough left — never a plan or product
// order, which are refunded by their own rules), through the order's
// channel or, for a bank transfer, as a manual bank refund. It returns the
// refund number. Errors: as Refund, ErrNotRefundable when no top-up covers
// the amount.
func (b *BackOffice) StartRefundTx(ctx context.Context, tx pgx.Tx, r backoffice.RefundRequest) (string, error) {
	fen := r.Amount.Shift(2).IntPart()
	orderNo := r.OrderNo
	if orderNo == "" {
		const q = `SELECT order_no FROM payment_orders
WHERE account_id = $1 AND purpose = 'topup' AND state IN ('paid', 'partially_refunded')
  AND amount_fen - refunded_fen - bonus_deducted_fen >= $2
ORDER BY paid_at DESC, id DESC LIMIT 1`
		err := tx.QueryRow(ctx, q, r.AccountID, fen).Scan(&orderNo)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("payments: refund request %d: %w: no paid top-up covers %d fen", r.ID, ErrNotRefundable, fen)
		}
		if err != nil {
			return "", fmt.Errorf("payments: refund request %d: %w", r.ID, err)
		}
	}
	out, err := b.s.refundTx(ctx, tx, RefundRequest{AccountID: r.AccountID, OrderNo: orderNo, AmountFen: fen,
		Reason: r.Reason, Actor: "backoffice", IdempotencyKey: "refund-request:" + strconv.FormatInt(r.ID, 10)})
	if err != nil {
		return "", err
	}
	return out.RefundNo, nil
}

// RecordLineTx records a statement line finance credited to an account as
// a completed bank-transfer top-up order on tx, once
// (RecordStatementPaymentTx), and returns its order number.
func (b *BackOffice) RecordLineTx(ctx context.Context, tx pgx.Tx, p backoffice.LinePayment) (string, error) {
	fen := p.Line.Amount.Shift(2)
	if !fen.IsInteger() {
		return "", fmt.Errorf("payments: record statement line %d: %w: %s is not whole fen", p.Line.ID, ErrInvalidArgument, p.Line.Amount)
	}
	o, err := b.s.RecordStatementPaymentTx(ctx, tx, StatementPayment{LineID: p.Line.ID, AccountID: p.AccountID, AmountFen: fen.IntPart(),
		Serial: p.Line.Serial, PayerName: p.Line.PayerName, PayerAccount: p.Line.PayerAccount, Lot: p.Lot, Actor: p.Actor})
	if err != nil {
		return "", err
	}
	return o.OrderNo, nil
}

// sqlPlanFees reads the paid plan orders (new plans, renewals, upgrades) of
// live accounts paid before $1, with the money each refund paid back and
// when (the refund's approval, as for a top-up's).
const sqlPlanFees = `
SELECT o.order_no, o.purpose, coalesce(o.plan_cycle, ''), o.amount_fen, o.paid_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('at', r.created_at, 'fen', r.amount_fen) ORDER BY r.id)
                 FROM payment_refunds r WHERE r.order_id = o.id), '[]') AS refunds
FROM payment_orders o
JOIN ledger_account_view a ON a.id = o.account_id AND a.mode = 'live'
WHERE (o.purpose IN ('plan', 'plan_renewal', 'plan_upgrade') OR (o.purpose = 'product' AND o.credits = 0))
  AND o.paid_at IS NOT NULL AND o.paid_at < $1
  AND o.state IN ('paid', 'partially_refunded', 'refunded')
ORDER BY o.paid_at, o.id`

// PlanFees lists the paid plan orders of live accounts paid before
// `before`, for the revenue report, with the one-time product orders that
// deliver no credits (a model pack is a paid lot, valued like a top-up);
// their periods are the plans' and the products' to say (Start and End are
// left zero here).
func (b *BackOffice) PlanFees(ctx context.Context, before time.Time) ([]backoffice.PlanFee, error) {
	rows, err := b.s.pool.Query(ctx, sqlPlanFees, before)
	if err != nil {
		return nil, fmt.Errorf("payments: plan fees: %w", err)
	}
	var out []backoffice.PlanFee
	var f backoffice.PlanFee
	var refunds []byte
	_, err = pgx.ForEachRow(rows, []any{&f.OrderNo, &f.Purpose, &f.Cycle, &f.Fen, &f.PaidAt, &refunds}, func() error {
		var rs []struct {
			At  time.Time `json:"at"`
			Fen int64     `json:"fen"`
		}
		if err := json.Unmarshal(refunds, &rs); err != nil {
			return err
		}
		g := f
		g.PaidAt = g.PaidAt.UTC()
		g.Refunds = nil
		for _, r := range rs {
			g.Refunds = append(g.Refunds, backoffice.PlanFeeRefund{At: r.At.UTC(), Fen: r.Fen})
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("payments: plan fees: %w", err)
	}
	return out, nil
}
