package payments

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// RefundLimitError says a refund asks for more than a top-up has left to
// refund; it matches ErrRefundExceedsOrder.
type RefundLimitError struct {
	OrderNo   string
	AmountFen int64 // asked
	MaxFen    int64 // what may be refunded now (0: nothing)
}

func (e *RefundLimitError) Error() string {
	return fmt.Sprintf("payments: refund of %d fen from %s exceeds the %d fen left to refund", e.AmountFen, e.OrderNo, e.MaxFen)
}

// Is matches ErrRefundExceedsOrder.
func (e *RefundLimitError) Is(target error) bool { return target == ErrRefundExceedsOrder }

// Unwrap gives forms the failure of the field "amount" (code
// refund_amount_max with the argument max as money), or of the whole form
// when nothing is left (refund_nothing_left).
func (e *RefundLimitError) Unwrap() error {
	if e.MaxFen <= 0 {
		return errNothingLeft
	}
	return fielderr.One("payments", "amount", "refund_amount_max", "max", money(e.MaxFen))
}

// Field failures of a refund request, next to ErrInvalidArgument and
// ErrNotRefundable.
var (
	errNothingLeft  = fielderr.One("payments", "", "refund_nothing_left")
	errRefundAmount = fielderr.One("payments", "amount", "refund_amount_invalid")
	// errBillPayment: a credit line bill's payment bought no credit.
	errBillPayment = fielderr.One("payments", "", "bill_not_refundable")
)

// FieldCodes lists every field code this package reports, so the web layer
// can check each has a message.
var FieldCodes = []string{"amount_out_of_range", "refund_amount_max", "refund_nothing_left", "refund_amount_invalid", "bill_not_refundable",
	"topup_channel_unavailable", "topup_channel_failed"}

// RefundQuote is what a refund of a top-up does (README, "Refunds and
// bonus"): it removes Credits from the paid lot, worth GrossFen at the
// price paid for that lot; it revokes the same share of the bonus lot
// granted with it, BonusRevoked from what is unspent, and charges for
// BonusCharged already spent at the paid lot's price (BonusFen); Fen =
// GrossFen − BonusFen goes back to the customer.
type RefundQuote struct {
	OrderNo      string
	Fen          int64
	GrossFen     int64
	Credits      decimal.Decimal
	BonusCredits decimal.Decimal // the bonus lot's amount (zero: no bonus)
	BonusRevoked decimal.Decimal
	BonusCharged decimal.Decimal
	BonusFen     int64
}

// RefundQuotes returns, for each of orders (the account's), the largest
// refund it allows now: Fen is what may be paid back (zero when nothing
// can be: not paid, refunded, or its paid lot spent, expired or held by
// reservations), and the bonus figures say what that refund would take
// back. It reads the lots once.
func (s *Service) RefundQuotes(ctx context.Context, accountID int64, orders []Order) (map[string]RefundQuote, error) {
	out := make(map[string]RefundQuote, len(orders))
	var mine []Order
	for _, o := range orders {
		out[o.OrderNo] = RefundQuote{OrderNo: o.OrderNo}
		if o.Purpose == PurposeProduct && o.AccountID == accountID {
			q, viaLot, ok := s.productQuote(o)
			if ok && !viaLot {
				out[o.OrderNo] = q
			}
			if !ok || !viaLot {
				continue
			}
		}
		if o.AccountID == accountID && o.PaidLotID != nil && o.RefundableFen() > 0 {
			mine = append(mine, o)
		}
	}
	if len(mine) == 0 {
		return out, nil
	}
	bases, err := s.refundBases(ctx, s.pool, nil, mine)
	if err != nil {
		return nil, err
	}
	for _, o := range mine {
		if b, ok := bases[o.ID]; ok {
			out[o.OrderNo] = b.largest()
		}
	}
	return out, nil
}

// Refundable returns, for each of orders (the account's), what may be
// refunded now in fen: RefundQuotes' Fen.
func (s *Service) Refundable(ctx context.Context, accountID int64, orders []Order) (map[string]int64, error) {
	q, err := s.RefundQuotes(ctx, accountID, orders)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(q))
	for no, r := range q {
		out[no] = r.Fen
	}
	return out, nil
}

// CheckRefund checks that amountFen may be refunded from the account's
// order orderNo now (the check a refund request gets before it is filed;
// the refund itself checks again when it runs) and returns the order.
// Errors: ErrInvalidArgument (amount not positive, or no refund pays back
// exactly that much), ErrNotFound, ErrNotRefundable (not paid, nothing
// left, or a credit line bill's payment), *RefundLimitError.
func (s *Service) CheckRefund(ctx context.Context, accountID int64, orderNo string, amountFen int64) (Order, error) {
	if amountFen <= 0 {
		return Order{}, fmt.Errorf("payments: check refund: %w: %w: amount must be positive", ErrInvalidArgument, errRefundAmount)
	}
	o, err := s.Order(ctx, accountID, orderNo)
	if err != nil {
		return Order{}, err
	}
	if o.Purpose == PurposeProduct {
		return o, s.checkProductRefund(ctx, o, amountFen)
	}
	if o.Purpose == PurposeBill {
		return o, fmt.Errorf("payments: check refund %s: %w: %w", o.OrderNo, ErrNotRefundable, errBillPayment)
	}
	if o.RefundableFen() == 0 || o.PaidLotID == nil {
		return o, fmt.Errorf("payments: check refund %s: %w: %w: order is %s", o.OrderNo, ErrNotRefundable, errNothingLeft, o.State)
	}
	bases, err := s.refundBases(ctx, s.pool, nil, []Order{o})
	if err != nil {
		return o, err
	}
	if _, err := bases[o.ID].forFen(amountFen); err != nil {
		if errors.Is(err, ErrInvalidArgument) {
			err = fmt.Errorf("%w: %w", err, errRefundAmount)
		}
		return o, fmt.Errorf("payments: check refund %s: %w", o.OrderNo, err)
	}
	return o, nil
}

// refundBasis is what refunds of one top-up are computed from.
type refundBasis struct {
	order     Order
	paid      ledger.LotValue // the paid lot's position at its price
	remaining decimal.Decimal // the paid lot's credit not held: what may be refunded
	held      decimal.Decimal // the paid lot's credit held by open reservations
	bonusLot  int64           // 0: no bonus
	bonus     decimal.Decimal // the bonus lot's amount
	bonusLeft decimal.Decimal // unspent and not held: what may be revoked
	// bonusSpent is the bonus credit spent (or held by reservations) that
	// no refund has charged for yet.
	bonusSpent decimal.Decimal
}

// refundBases reads what refunds of orders (paid, with a paid lot) are
// computed from; with tx it locks the lots' pools first, so that the
// figures hold until tx ends.
func (s *Service) refundBases(ctx context.Context, q db.DBTX, tx pgx.Tx, orders []Order) (map[int64]refundBasis, error) {
	var ids, orderIDs []int64
	for _, o := range orders {
		ids = append(ids, *o.PaidLotID)
		if o.PromoLotID != nil {
			ids = append(ids, *o.PromoLotID)
		}
		orderIDs = append(orderIDs, o.ID)
	}
	var lots map[int64]ledger.LotUsage
	var err error
	if tx != nil {
		lots, err = s.ledger.LotUsageTx(ctx, tx, ids)
	} else {
		lots, err = s.ledger.LotUsage(ctx, ids)
	}
	if err != nil {
		return nil, fmt.Errorf("payments: refundable: %w", err)
	}
	const sqlCharged = `SELECT order_id, sum(bonus_charged) FROM payment_refunds WHERE order_id = ANY ($1) GROUP BY 1`
	charged := map[int64]decimal.Decimal{}
	rows, _ := q.Query(ctx, sqlCharged, orderIDs)
	var id int64
	var sum decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&id, &sum}, func() error { charged[id] = sum; return nil }); err != nil {
		return nil, fmt.Errorf("payments: refundable: %w", err)
	}
	out := make(map[int64]refundBasis, len(orders))
	for _, o := range orders {
		lot, ok := lots[*o.PaidLotID]
		if !ok {
			continue
		}
		price := o.AmountFen // a lot credited before lots had a price
		if lot.PaidFen != nil {
			price = *lot.PaidFen
		}
		b := refundBasis{order: o, paid: ledger.NewLotValue(lot.Lot, price, lot.Held), remaining: lot.Remaining, held: lot.Held}
		if o.PromoLotID != nil {
			if bl, ok := lots[*o.PromoLotID]; ok {
				b.bonusLot, b.bonus, b.bonusLeft = bl.ID, bl.Amount, bl.Remaining
				spent := bl.Amount.Sub(bl.Remaining).Sub(bl.Expired).Sub(bl.Refunded).Sub(charged[o.ID])
				b.bonusSpent = decimal.Max(spent, decimal.Zero)
			}
		}
		out[o.ID] = b
	}
	return out, nil
}

// maxGross is the most fen of the paid lot's price a refund may take now:
// with nothing held, all it has left (the refund empties the lot);
// otherwise the most whose credits fit in what is not held. Never more than
// the order has left.
func (b refundBasis) maxGross() int64 {
	if !b.remaining.IsPositive() {
		return 0
	}
	g := b.paid.Left()
	if b.held.IsPositive() {
		g = ledger.FenShare(b.paid.PaidFen, b.paid.Refunded.Add(b.remaining), b.paid.Amount) - b.paid.RefundedFen
		for g > 0 && b.credits(g).GreaterThan(b.remaining) {
			g--
		}
	}
	return max(min(g, b.order.RefundableFen()), 0)
}

// empties says whether a refund of gross fen takes the whole lot.
func (b refundBasis) empties(gross int64) bool { return b.held.IsZero() && gross == b.paid.Left() }

// credits is what a refund of gross fen removes from the paid lot: refunds
// convert fen to credits on their own cumulative axis (all refunds of the
// lot together take CreditsForFen of all their fen), and the refund that
// empties the lot takes what is left.
func (b refundBasis) credits(gross int64) decimal.Decimal {
	if b.empties(gross) {
		return b.remaining
	}
	return ledger.CreditsForFen(b.paid.RefundedFen+gross, b.paid.PaidFen, b.paid.Amount).Sub(b.paid.Refunded)
}

// bonusShare is the part of the bonus that goes with refunded credits of
// the paid lot: bonus × refunded ÷ the lot, rounded once; all of it when
// the whole lot is refunded.
func (b refundBasis) bonusShare(refunded decimal.Decimal) decimal.Decimal {
	if refunded.GreaterThanOrEqual(b.paid.Amount) {
		return b.bonus
	}
	return ledger.Round(b.bonus.Mul(refunded).Div(b.paid.Amount))
}

// plan is the refund that takes gross fen of the paid lot's price; ok is
// false when there is none (nothing to remove, more than is left, or
// nothing to pay back once the spent bonus is charged).
func (b refundBasis) plan(gross int64) (q RefundQuote, ok bool) {
	q = RefundQuote{OrderNo: b.order.OrderNo, GrossFen: gross, BonusCredits: b.bonus}
	if gross <= 0 || gross > b.maxGross() {
		return q, false
	}
	q.Credits = b.credits(gross)
	if !q.Credits.IsPositive() || q.Credits.GreaterThan(b.remaining) || (q.Credits.Equal(b.remaining) && !b.empties(gross) && b.held.IsZero()) {
		return q, false
	}
	if b.bonusLot != 0 {
		due := b.bonusShare(b.paid.Refunded.Add(q.Credits)).Sub(b.bonusShare(b.paid.Refunded))
		q.BonusRevoked = decimal.Min(due, b.bonusLeft)
		q.BonusCharged = decimal.Min(due.Sub(q.BonusRevoked), b.bonusSpent)
		q.BonusFen = ledger.FenShare(b.paid.PaidFen, q.BonusCharged, b.paid.Amount)
	}
	q.Fen = gross - q.BonusFen
	return q, q.Fen > 0
}

// largest is the largest refund possible now (a zero Fen when none).
func (b refundBasis) largest() RefundQuote {
	q, ok := b.plan(b.maxGross())
	if !ok {
		return RefundQuote{OrderNo: b.order.OrderNo, BonusCredits: b.bonus}
	}
	return q
}

// forFen is the refund that pays back exactly fen. What is paid back grows
// with the fen taken of the lot's price, one fen at a time at most (the
// bonus charged grows more slowly while the bonus is under 100 % of the
// paid credit), so the smallest gross paying back fen or more pays back
// exactly fen. Errors: *RefundLimitError, ErrNotRefundable (nothing
// left), ErrInvalidArgument (no refund pays back exactly fen).
func (b refundBasis) forFen(fen int64) (RefundQuote, error) {
	top := b.largest()
	switch {
	case top.Fen == 0:
		return top, fmt.Errorf("%w: nothing left to refund", ErrNotRefundable)
	case fen > top.Fen:
		return top, &RefundLimitError{OrderNo: b.order.OrderNo, AmountFen: fen, MaxFen: top.Fen}
	}
	lo, hi := int64(1), top.GrossFen
	for lo < hi {
		mid := lo + (hi-lo)/2
		if q, ok := b.plan(mid); ok && q.Fen >= fen {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	q, ok := b.plan(lo)
	if !ok || q.Fen != fen {
		return q, fmt.Errorf("%w: no refund pays back exactly %d fen", ErrInvalidArgument, fen)
	}
	return q, nil
}

// RefundableNowFen is what a customer may still ask back from a top-up, in
// fen: the largest refund the lots allow now (quoteFen, RefundQuotes' Fen),
// less what open refund requests already ask for (requestedFen), and never
// more than the order has left once its invoiced amount (invoicedFen: an
// invoice must be reversed before that part is refunded) is set aside.
// Never negative.
func RefundableNowFen(o Order, quoteFen, invoicedFen, requestedFen int64) int64 {
	left := min(quoteFen-requestedFen, o.RefundableFen()-invoicedFen-requestedFen)
	return max(left, 0)
}
