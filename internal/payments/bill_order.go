package payments

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// billPurchase is what a bill order's receipt says it paid: "授信账单" and
// the bill (Options.BillLabel, else its number) — no credits.
func (s *Service) billPurchase(ctx context.Context, o Order) (string, error) {
	if s.opts.BillLabel == nil {
		return fmt.Sprintf("授信账单 #%d", o.BillID), nil
	}
	label, err := s.opts.BillLabel(ctx, o.AccountID, o.BillID)
	if err != nil {
		return "", err
	}
	return "授信账单 " + label, nil
}

// PurposeBill: a credit line's bill (账单, internal/creditline), paid by
// Options.BillPaid; the order credits nothing.
const PurposeBill Purpose = "bill"

// billPayment is a bill order's title in the payer's payment app, before
// its amount.
const billPayment = "月结账单"

// ErrNoBillCheckout: bill orders are not wired (no BillOffer or BillPaid
// hook).
var ErrNoBillCheckout = errors.New("payments: bills cannot be paid here")

// ErrBillSettled: the bill is paid already (by another payment). The
// BillOffer hook returns it, so no order is made; the BillPaid hook returns
// it when a second order of one bill is paid, which goes to review (refund).
var ErrBillSettled = errors.New("payments: the bill is paid already")

// ReviewBillPaid is the review reason of a bill order paid after its bill
// was paid by another payment: the money came twice; staff refund it.
const ReviewBillPaid = "bill_paid"

// BillOffer is a bill as it can be paid now: which bill and its amount.
type BillOffer struct {
	BillID    int64
	AmountFen int64
}

// CreateBillOrder makes an order paying the account's credit line bill
// billID for exactly its amount (BillOffer), placed like a top-up's: a QR
// order (mode qr) or a phone order (mode phone, returned with the URL to
// pay at). Not by bank transfer: a transfer carries the bill's own
// reference code. Paying it pays the bill (BillPaid) in the payment's
// transaction. Errors: ErrBillSettled, ErrNoBillCheckout, errors of the
// BillOffer hook (no such bill), ErrInvalidArgument (no amount),
// ErrChannelUnavailable, ErrChannel.
func (s *Service) CreateBillOrder(ctx context.Context, accountID, billID int64, channel Channel, mode PayMode,
	payer PhonePayer) (Order, string, error) {
	if s.opts.BillOffer == nil || s.opts.BillPaid == nil {
		return Order{}, "", fmt.Errorf("payments: create bill order: %w", ErrNoBillCheckout)
	}
	if channel == ChannelBankTransfer {
		return Order{}, "", fmt.Errorf("payments: create bill order: %w: a bill is transferred with its own reference code", ErrChannelUnavailable)
	}
	offer, err := s.opts.BillOffer(ctx, accountID, billID)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create bill order: %w", err)
	}
	if offer.AmountFen <= 0 || offer.BillID != billID {
		return Order{}, "", fmt.Errorf("payments: create bill order: %w: bill %d has nothing to pay", ErrInvalidArgument, billID)
	}
	q := Quote{AmountFen: offer.AmountFen, Credits: decimal.Zero, BonusCredits: decimal.Zero}
	insert := func(mode PayMode) func() (Order, error) {
		return func() (Order, error) {
			return s.insertOrderFor(ctx, accountID, q, nil, nil, &offer, channel, mode, StateCreated, s.opts.OrderTTL)
		}
	}
	if mode == PayModePhone {
		ch, err := s.phoneChannel(channel)
		if err != nil {
			return Order{}, "", fmt.Errorf("payments: create bill order: %w", err)
		}
		return s.placeOrder(ctx, insert(PayModePhone), PayModePhone, phonePlacer(ctx, ch, s, payer))
	}
	ch, err := s.channel(channel)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create bill order: %w", err)
	}
	return s.placeOrder(ctx, insert(PayModeQR), PayModeQR, qrPlacer(ctx, ch, s))
}

// markBillPaid pays the order's bill through the BillPaid hook inside tx
// (a savepoint) and marks the order paid; when the bill was paid by
// another payment by now, the savepoint is undone and an open order goes
// to review instead (the money came twice: staff refund it). The order row
// is locked by the caller and the bill's payment is keyed by the order, so
// one order pays its bill once however often its payment is reported.
func (s *Service) markBillPaid(ctx context.Context, tx pgx.Tx, o *Order, tradeNo string, paidFen int64, cause string, detail map[string]any) error {
	if s.opts.BillPaid == nil {
		return fmt.Errorf("mark bill order %s paid: %w", o.OrderNo, ErrNoBillCheckout)
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	detail["bill_id"] = o.BillID
	now := s.now()
	paid := *o
	paid.ChannelTradeNo, paid.PaidAt, paid.PaidFen = tradeNo, &now, &paidFen
	hookErr := s.opts.BillPaid(ctx, sp, paid)
	if errors.Is(hookErr, ErrBillSettled) && o.State.Open() {
		if err := sp.Rollback(ctx); err != nil {
			return err
		}
		const sql = `UPDATE payment_orders SET review_reason = $2, channel_trade_no = $3, paid_fen = $4 WHERE id = $1`
		if _, err := tx.Exec(ctx, sql, o.ID, ReviewBillPaid, tradeNo, paidFen); err != nil {
			return err
		}
		o.ReviewReason, o.ChannelTradeNo, o.PaidFen = ReviewBillPaid, tradeNo, &paidFen
		detail["review"] = ReviewBillPaid
		return s.transition(ctx, tx, o, StateNeedsReview, cause, detail)
	}
	if hookErr != nil {
		_ = sp.Rollback(ctx)
		return hookErr
	}
	if err := sp.Commit(ctx); err != nil {
		return err
	}
	const sql = `UPDATE payment_orders SET channel_trade_no = $2, paid_at = $3, paid_fen = $4 WHERE id = $1`
	if _, err := tx.Exec(ctx, sql, o.ID, tradeNo, now, paidFen); err != nil {
		return err
	}
	o.ChannelTradeNo, o.PaidAt, o.PaidFen = tradeNo, &now, &paidFen
	return s.transition(ctx, tx, o, StatePaid, cause, detail)
}
