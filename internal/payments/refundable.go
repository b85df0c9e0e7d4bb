package payments

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
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

// Refundable returns, for each of orders (the account's), what may be
// refunded now in fen: the order's unrefunded amount (Order.RefundableFen)
// capped by what the credit left in its paid lot bought, since a refund
// never takes credit that was spent, expired or is held by a reservation.
// Orders that are not paid map to 0. It reads the account's lots once.
func (s *Service) Refundable(ctx context.Context, accountID int64, orders []Order) (map[string]int64, error) {
	out := make(map[string]int64, len(orders))
	lots, err := s.lotsByID(ctx, accountID, orders)
	if err != nil {
		return nil, err
	}
	for _, o := range orders {
		out[o.OrderNo] = 0
		if o.PaidLotID != nil && o.AccountID == accountID {
			out[o.OrderNo] = refundableFen(o, lots[*o.PaidLotID])
		}
	}
	return out, nil
}

// CheckRefund checks that amountFen may be refunded from the account's
// order orderNo now (the check a refund request gets before it is filed;
// the refund itself checks again when it runs) and returns the order.
// Errors: ErrInvalidArgument (amount not positive), ErrNotFound,
// ErrNotRefundable (not paid, or nothing left), *RefundLimitError.
func (s *Service) CheckRefund(ctx context.Context, accountID int64, orderNo string, amountFen int64) (Order, error) {
	if amountFen <= 0 {
		return Order{}, fmt.Errorf("payments: check refund: %w: amount must be positive", ErrInvalidArgument)
	}
	o, err := s.Order(ctx, accountID, orderNo)
	if err != nil {
		return Order{}, err
	}
	if o.RefundableFen() == 0 || o.PaidLotID == nil {
		return o, fmt.Errorf("payments: check refund %s: %w: order is %s", o.OrderNo, ErrNotRefundable, o.State)
	}
	m, err := s.Refundable(ctx, accountID, []Order{o})
	if err != nil {
		return o, err
	}
	if maxFen := m[o.OrderNo]; amountFen > maxFen {
		return o, &RefundLimitError{OrderNo: o.OrderNo, AmountFen: amountFen, MaxFen: maxFen}
	}
	return o, nil
}

// lotsByID reads the account's lots when any of orders has a paid lot.
func (s *Service) lotsByID(ctx context.Context, accountID int64, orders []Order) (map[int64]ledger.Lot, error) {
	need := false
	for _, o := range orders {
		need = need || o.PaidLotID != nil
	}
	if !need {
		return nil, nil
	}
	lots, err := s.ledger.Lots(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("payments: refundable: %w", err)
	}
	out := make(map[int64]ledger.Lot, len(lots))
	for _, l := range lots {
		out[l.ID] = l
	}
	return out, nil
}

// refundableFen is the most of o a refund may take, given its paid lot: all
// that is left of the order while none of the lot's unrefunded credit was
// used; otherwise the whole fen whose share of the order's credits (as
// refundCredits rounds it) fits in what the lot has left.
func refundableFen(o Order, lot ledger.Lot) int64 {
	left := o.RefundableFen()
	if left <= 0 || lot.ID == 0 || !lot.Remaining.IsPositive() || !o.Credits.IsPositive() {
		return 0
	}
	unrefunded := lot.Amount.Sub(lot.Refunded)
	if lot.Remaining.GreaterThanOrEqual(unrefunded) {
		return left
	}
	// Credits*fen/AmountFen <= Remaining, so its rounding (to the ledger's
	// scale, which Remaining already has) stays within Remaining.
	fen := lot.Remaining.Mul(decimal.NewFromInt(o.AmountFen)).Div(o.Credits).Floor().IntPart()
	if fen >= left {
		// The last refund takes all the unrefunded credit, more than is left.
		fen = left - 1
	}
	return max(fen, 0)
}
