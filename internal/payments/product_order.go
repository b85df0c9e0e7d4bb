package payments

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// PurposeProduct: a one-time product (internal/products), delivered by
// Options.ProductPaid; a model pack also credits a paid lot.
const PurposeProduct Purpose = "product"

// ErrNoProductCheckout: product orders are not wired (no ProductOffer or
// ProductPaid hook).
var ErrNoProductCheckout = errors.New("payments: products cannot be bought")

// ErrRefundWindowClosed: the product order's refund window has passed (or
// the product is not refundable); the *RefundWindowError says until when.
var ErrRefundWindowClosed = errors.New("payments: the refund window has closed")

// ProductOffer is a product as an account may buy it now: the version its
// price comes from, the price in fen, a model pack's Credits with their
// validity in days after payment (CreditDays, 0: never expire), and the
// refund window in days after payment (RefundDays, 0: not refundable).
type ProductOffer struct {
	Code       string
	Version    int
	PriceFen   int64
	Credits    decimal.Decimal
	CreditDays int
	RefundDays int
}

// RefundWindowError says a product order can no longer be refunded: Until
// is when its window closed (zero: the product was never refundable). It
// matches ErrRefundWindowClosed and gives forms the failure of the whole
// form (code refund_window_closed, argument until in Asia/Shanghai, or
// refund_not_offered).
type RefundWindowError struct {
	OrderNo string
	Until   time.Time
}

func (e *RefundWindowError) Error() string {
	if e.Until.IsZero() {
		return fmt.Sprintf("payments: %s: the product is not refundable", e.OrderNo)
	}
	return fmt.Sprintf("payments: %s: the refund window closed at %s", e.OrderNo, e.Until.UTC().Format(time.RFC3339))
}

// Is matches ErrRefundWindowClosed.
func (e *RefundWindowError) Is(target error) bool { return target == ErrRefundWindowClosed }

// Unwrap gives forms the message.
func (e *RefundWindowError) Unwrap() error {
	if e.Until.IsZero() {
		return fielderr.One("payments", "", "refund_not_offered")
	}
	return fielderr.One("payments", "", "refund_window_closed", "until", e.Until.In(format.Shanghai).Format("2006-01-02 15:04"))
}

// ProductFieldCodes are the form codes product refunds report, beside FieldCodes.
var ProductFieldCodes = []string{"refund_window_closed", "refund_not_offered", "refund_product_whole"}

// RefundUntil is the end of a paid product order's refund window: its
// payment plus ProductRefundDays whole days (24 h each). ok is false for
// an order that is not a paid product order or whose product is not
// refundable.
func (o Order) RefundUntil() (until time.Time, ok bool) {
	if o.Purpose != PurposeProduct || o.PaidAt == nil || o.ProductRefundDays <= 0 {
		return time.Time{}, false
	}
	return o.PaidAt.Add(time.Duration(o.ProductRefundDays) * 24 * time.Hour), true
}

// refundWindowOpen checks a product order's window at now.
func (o Order) refundWindowOpen(now time.Time) error {
	until, ok := o.RefundUntil()
	if !ok {
		return &RefundWindowError{OrderNo: o.OrderNo}
	}
	if now.After(until) {
		return &RefundWindowError{OrderNo: o.OrderNo, Until: until}
	}
	return nil
}

// CreateProductOrder makes an order for the account to buy one-time
// product code, priced by the ProductOffer hook, placed like a top-up: a QR
// order (mode qr), a phone order (mode phone, returned with the URL to pay
// at) or a bank transfer order (channel bank_transfer). A model pack's
// order carries its credits (credited as a paid lot when paid); paying any
// product order delivers its entitlement (ProductPaid). Errors:
// ErrNoProductCheckout, errors of the ProductOffer hook (an unknown
// product), ErrInvalidArgument (no price, no such account),
// ErrChannelUnavailable, ErrChannel.
func (s *Service) CreateProductOrder(ctx context.Context, accountID int64, code string, channel Channel, mode PayMode,
	payer PhonePayer) (Order, string, error) {
	if s.opts.ProductOffer == nil || s.opts.ProductPaid == nil {
		return Order{}, "", fmt.Errorf("payments: create product order: %w", ErrNoProductCheckout)
	}
	offer, err := s.opts.ProductOffer(ctx, accountID, code)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create product order: %w", err)
	}
	if offer.PriceFen <= 0 || offer.Credits.IsNegative() {
		return Order{}, "", fmt.Errorf("payments: create product order: %w: product %s has no price", ErrInvalidArgument, code)
	}
	q := Quote{AmountFen: offer.PriceFen, Credits: offer.Credits, BonusCredits: decimal.Zero}
	insert := func(ch Channel, mode PayMode, state State, ttl time.Duration) (Order, error) {
		return s.insertPurposeOrder(ctx, accountID, q, nil, &offer, ch, mode, state, ttl)
	}
	if channel == ChannelBankTransfer {
		if !s.BankAccount().Configured() {
			return Order{}, "", fmt.Errorf("payments: create product order: %w: no receiving bank account", ErrChannelUnavailable)
		}
		o, err := insert(ChannelBankTransfer, PayModeQR, StatePending, s.opts.TransferTTL)
		if err != nil {
			return Order{}, "", fmt.Errorf("payments: create product order: %w", err)
		}
		return o, "", nil
	}
	if mode == PayModePhone {
		ch, err := s.phoneChannel(channel)
		if err != nil {
			return Order{}, "", fmt.Errorf("payments: create product order: %w", err)
		}
		return s.placeOrder(ctx, func() (Order, error) { return insert(channel, PayModePhone, StateCreated, s.opts.OrderTTL) },
			PayModePhone, phonePlacer(ctx, ch, s, payer))
	}
	ch, err := s.channel(channel)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create product order: %w", err)
	}
	return s.placeOrder(ctx, func() (Order, error) { return insert(channel, PayModeQR, StateCreated, s.opts.OrderTTL) },
		PayModeQR, qrPlacer(ctx, ch, s))
}

// productPurchase names what a product order buys: "商品 deepseek-pack".
func productPurchase(o Order) string { return "商品 " + o.ProductCode }

// markProductPaid marks a product order paid inside tx with the order
// locked: a model pack's credits become a paid lot priced at paidFen that
// expires ProductLotDays after now, then ProductPaid delivers the
// entitlement, all in tx. The ledger key derives from the order number and
// the entitlement is unique per order, so the order delivers once.
func (s *Service) markProductPaid(ctx context.Context, tx pgx.Tx, o *Order, tradeNo string, paidFen int64, actor, cause string,
	detail map[string]any) error {
	if s.opts.ProductPaid == nil {
		return fmt.Errorf("mark product order %s paid: %w", o.OrderNo, ErrNoProductCheckout)
	}
	now := s.now()
	var lot *int64
	if o.Credits.IsPositive() {
		var exp *time.Time
		if o.ProductLotDays > 0 {
			t := now.AddDate(0, 0, o.ProductLotDays)
			exp = &t
		}
		res, err := s.ledger.CreditTx(ctx, tx, ledger.CreditRequest{
			AccountID: o.AccountID, Kind: ledger.LotPaid, Amount: o.Credits, ExpiresAt: exp, EventType: ledger.EventPurchase,
			SourceRef: "payment_order:" + o.OrderNo, Actor: actor, ReasonCode: "model_pack", IdempotencyKey: "product:" + o.OrderNo,
			PaidFen: paidFen,
		})
		if err != nil {
			return err
		}
		lot = &res.Lot.ID
		detail["paid_lot_id"] = res.Lot.ID
	}
	const sql = `UPDATE payment_orders SET channel_trade_no = $2, paid_at = $3, paid_fen = $4, paid_lot_id = $5 WHERE id = $1`
	if _, err := tx.Exec(ctx, sql, o.ID, tradeNo, now, paidFen, lot); err != nil {
		return err
	}
	o.ChannelTradeNo, o.PaidAt, o.PaidFen, o.PaidLotID = tradeNo, &now, &paidFen, lot
	if err := s.opts.ProductPaid(ctx, tx, *o); err != nil {
		return err
	}
	detail["product"] = o.ProductCode + ":" + strconv.Itoa(o.ProductVersion)
	return s.transition(ctx, tx, o, StatePaid, cause, detail)
}

// productQuote is the refund a product order allows now, before its lot
// is read: ok is false when none (not paid, refunded already, or its window
// closed); viaLot says a model pack's refund is computed from its paid lot
// (refundBasis.largest: spent credits are kept at the price paid).
func (s *Service) productQuote(o Order) (q RefundQuote, viaLot, ok bool) {
	q = RefundQuote{OrderNo: o.OrderNo}
	if o.State != StatePaid || o.RefundedFen > 0 || o.refundWindowOpen(s.now()) != nil {
		return q, false, false
	}
	if o.PaidLotID != nil {
		return q, true, true
	}
	q.Fen, q.GrossFen, q.Credits = o.AmountFen, o.AmountFen, decimal.Zero
	return q, false, true
}

// productRefundFen is the whole refund of a product order now.
func (s *Service) productRefundFen(ctx context.Context, tx pgx.Tx, o Order) (RefundQuote, error) {
	if err := o.refundWindowOpen(s.now()); err != nil {
		return RefundQuote{}, err
	}
	q, viaLot, ok := s.productQuote(o)
	if !ok {
		return q, fmt.Errorf("%w: %w: order is %s", ErrNotRefundable, errNothingLeft, o.State)
	}
	if !viaLot {
		return q, nil
	}
	var bases map[int64]refundBasis
	var err error
	if tx != nil {
		bases, err = s.refundBases(ctx, tx, tx, []Order{o})
	} else {
		bases, err = s.refundBases(ctx, s.pool, nil, []Order{o})
	}
	if err != nil {
		return q, err
	}
	q = bases[o.ID].largest()
	if q.Fen <= 0 {
		return q, fmt.Errorf("%w: %w: the model pack's credits are spent", ErrNotRefundable, errNothingLeft)
	}
	return q, nil
}

// checkProductRefund is CheckRefund for a product order: refunded whole,
// within its window.
func (s *Service) checkProductRefund(ctx context.Context, o Order, amountFen int64) error {
	q, err := s.productRefundFen(ctx, nil, o)
	if err != nil {
		return fmt.Errorf("payments: check refund %s: %w", o.OrderNo, err)
	}
	if amountFen != q.Fen {
		return fmt.Errorf("payments: check refund %s: %w: %w", o.OrderNo, ErrInvalidArgument,
			fielderr.One("payments", "amount", "refund_product_whole", "amount", money(q.Fen)))
	}
	return nil
}

// productRefundTx refunds a product order whole inside tx (the order
// locked by the caller): within its window, a model pack's unspent paid
// lot is refunded at the price paid (spent credits kept back, as for a
// top-up), and ProductRefunded revokes the entitlement, in tx. The
// refund's idempotency key (checked by the caller) and the state paid →
// refunded make it happen once.
func (s *Service) productRefundTx(ctx context.Context, tx pgx.Tx, o Order, r RefundRequest) (Refund, error) {
	var out Refund
	q, err := s.productRefundFen(ctx, tx, o)
	if err != nil {
		return out, err
	}
	if r.AmountFen != q.Fen {
		return out, fmt.Errorf("%w: a product is refunded whole: %d fen, not %d", ErrInvalidArgument, q.Fen, r.AmountFen)
	}
	if s.opts.BeforeRefund != nil {
		if err := s.opts.BeforeRefund(ctx, tx, o, r.AmountFen); err != nil {
			return out, err
		}
	}
	refundNo := refundNumber(o.OrderNo, r.IdempotencyKey)
	var opID *int64
	credits := decimal.Zero
	if o.PaidLotID != nil {
		res, err := s.ledger.RefundTx(ctx, tx, ledger.RefundRequest{
			LotID: *o.PaidLotID, Amount: q.Credits, Fen: q.GrossFen, IdempotencyKey: "product-refund:" + refundNo,
			Actor: r.Actor, Reason: r.Reason, SourceRef: "payment_refund:" + refundNo,
		})
		if err != nil {
			return out, err
		}
		opID, credits = &res.OpID, q.Credits
	}
	state := RefundManual
	if o.Channel != ChannelBankTransfer {
		if _, err := s.channel(o.Channel); err != nil {
			return out, err
		}
		state = RefundPending
	}
	rows, _ := tx.Query(ctx, `INSERT INTO payment_refunds (order_id, refund_no, idempotency_key, amount_fen, credits, reason, actor, state,
	ledger_op_id, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+refundColumns,
		o.ID, refundNo, r.IdempotencyKey, r.AmountFen, credits, r.Reason, r.Actor, state, opID, s.now())
	if out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Refund]); err != nil {
		return out, err
	}
	if _, err := tx.Exec(ctx, `UPDATE payment_orders SET refunded_fen = refunded_fen + $2 WHERE id = $1`, o.ID, r.AmountFen); err != nil {
		return out, err
	}
	o.RefundedFen += r.AmountFen
	if s.opts.ProductRefunded != nil {
		if err := s.opts.ProductRefunded(ctx, tx, o, refundNo); err != nil {
			return out, err
		}
	}
	to := StateRefunded
	if o.RefundedFen < o.AmountFen {
		to = StatePartiallyRefunded // a model pack's spent credits were kept back
	}
	detail := map[string]any{"refund_no": refundNo, "amount_fen": r.AmountFen, "credits": credits, "actor": r.Actor, "reason": r.Reason,
		"product": o.ProductCode, "entitlement": "revoked"}
	if err := s.transition(ctx, tx, &o, to, CauseRefund, detail); err != nil {
		return out, err
	}
	out.Order = o
	return out, nil
}
