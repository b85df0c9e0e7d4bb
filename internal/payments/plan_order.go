package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Purpose is what an order buys (payment_orders.purpose).
type Purpose string

// The order purposes.
const (
	PurposeTopUp Purpose = "topup" // credits: a paid lot and maybe a bonus promo lot
	PurposePlan  Purpose = "plan"  // a plan subscription, started by Options.PlanPaid
	// PurposePlanRenewal: the next period of a subscription (SubscriptionID,
	// PeriodStart), renewed by Options.PlanPaid.
	PurposePlanRenewal Purpose = "plan_renewal"
	// PurposePlanUpgrade: the prorated difference of an upgrade of a
	// subscription (SubscriptionID) from FromPlanCode/FromPlanVersion to the
	// order's plan, applied by Options.PlanPaid.
	PurposePlanUpgrade Purpose = "plan_upgrade"
)

// IsPlan reports whether the order buys a plan, its renewal or an upgrade
// (no credits).
func (o Order) IsPlan() bool {
	return o.Purpose == PurposePlan || o.Purpose == PurposePlanRenewal || o.Purpose == PurposePlanUpgrade
}

// ErrPlanInForce: the account already has a plan in force, so it cannot buy
// another (changing plans comes later). The PlanOffer and PlanPaid hooks
// return it; a plan order paid anyway goes to review.
var ErrPlanInForce = errors.New("payments: the account already has a plan in force")

// ErrRenewalSettled: the period a renewal order pays was renewed already
// (by another order) or the subscription can no longer be renewed. The
// PlanPaid hook returns it; the order goes to review (refund).
var ErrRenewalSettled = errors.New("payments: the period was renewed already")

// ErrUpgradeSuperseded: the subscription an upgrade order was priced for
// changed before it was paid (another upgrade applied first, the period
// ended, the plan was canceled). The PlanPaid hook returns it; the order
// goes to review (refund).
var ErrUpgradeSuperseded = errors.New("payments: the upgrade was superseded")

// ErrNoRenewalDue: the account has no renewal to pay now (RenewalOffer).
var ErrNoRenewalDue = errors.New("payments: no renewal due")

// ErrNoPlanCheckout: plan orders are not wired (no PlanOffer or PlanPaid hook).
var ErrNoPlanCheckout = errors.New("payments: plans cannot be bought")

// PlanOffer is a plan as an account may buy it now: the version its price
// comes from, the cycle (monthly or yearly) and the price in fen.
type PlanOffer struct {
	Code     string
	Version  int
	Cycle    string
	PriceFen int64
	// SubscriptionID and PeriodStart are set for a renewal: the
	// subscription and the start of the period the order pays.
	SubscriptionID int64
	PeriodStart    time.Time
	// FromPlanCode and FromPlanVersion are set for an upgrade (with
	// SubscriptionID): the plan in force it was priced from.
	FromPlanCode    string
	FromPlanVersion int
}

// ReviewPlanInForce is the review reason of a plan order paid for an
// account that had a plan in force by then.
const ReviewPlanInForce = "plan_in_force"

// ReviewRenewalSettled is the review reason of a renewal order paid for a
// period renewed already (two orders for one period both paid) or a
// subscription no longer renewable.
const ReviewRenewalSettled = "renewal_settled"

// ReviewUpgradeSuperseded is the review reason of an upgrade order paid
// after the subscription changed (ErrUpgradeSuperseded).
const ReviewUpgradeSuperseded = "upgrade_superseded"

// ChangePlan changes the account's plan to code in cycle through the
// PlanChange hook: a change that needs no payment (a downgrade scheduled
// for the period's end, an upgrade costing nothing) is made by the hook and
// a zero Order is returned; an upgrade that costs something becomes an
// order of purpose plan_upgrade for its prorated price, placed like
// CreatePlanOrder (QR or phone; not bank transfer: its price holds for the
// instant it was computed). Paying it applies the upgrade (PlanPaid).
// Errors: errors of the PlanChange hook (plans' refusals), ErrNoPlanCheckout,
// ErrChannelUnavailable, ErrChannel, ErrInvalidArgument.
func (s *Service) ChangePlan(ctx context.Context, accountID int64, code, cycle string, channel Channel, mode PayMode,
	payer PhonePayer) (Order, string, error) {
	if s.opts.PlanChange == nil || s.opts.PlanPaid == nil {
		return Order{}, "", fmt.Errorf("payments: change plan: %w", ErrNoPlanCheckout)
	}
	offer, err := s.opts.PlanChange(ctx, accountID, code, cycle)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: change plan: %w", err)
	}
	if offer.PriceFen == 0 {
		return Order{}, "", nil
	}
	if channel == ChannelBankTransfer {
		return Order{}, "", fmt.Errorf("payments: change plan: %w: upgrades are paid by WeChat Pay or Alipay", ErrChannelUnavailable)
	}
	if offer.FromPlanCode == "" || offer.SubscriptionID == 0 {
		return Order{}, "", fmt.Errorf("payments: change plan: %w: the upgrade names no subscription", ErrInvalidArgument)
	}
	return s.createPlanOrder(ctx, accountID, offer, channel, mode, payer)
}

// CreatePlanOrder makes an order for the account to buy plan code for one
// cycle, priced by the PlanOffer hook, and places it like a top-up: a QR
// order (mode qr), a WeChat Pay H5 / Alipay WAP order (mode phone, returned
// with the URL to pay at) or a bank transfer order (channel bank_transfer).
// The order credits no lot; paying it starts the subscription (PlanPaid).
// Errors: ErrPlanInForce, ErrNoPlanCheckout, errors of the PlanOffer hook
// (an unknown plan), ErrInvalidArgument (a free plan, no such account),
// ErrChannelUnavailable, ErrChannel.
func (s *Service) CreatePlanOrder(ctx context.Context, accountID int64, code, cycle string, channel Channel, mode PayMode,
	payer PhonePayer) (Order, string, error) {
	if s.opts.PlanOffer == nil || s.opts.PlanPaid == nil {
		return Order{}, "", fmt.Errorf("payments: create plan order: %w", ErrNoPlanCheckout)
	}
	offer, err := s.opts.PlanOffer(ctx, accountID, code, cycle)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create plan order: %w", err)
	}
	return s.createPlanOrder(ctx, accountID, offer, channel, mode, payer)
}

// CreateRenewalOrder makes an order paying the account's due renewal (its
// subscription's next period, priced by the RenewalOffer hook), placed like
// CreatePlanOrder. Paying it renews the subscription (PlanPaid). Errors:
// ErrNoRenewalDue, ErrNoPlanCheckout, ErrChannelUnavailable, ErrChannel.
func (s *Service) CreateRenewalOrder(ctx context.Context, accountID int64, channel Channel, mode PayMode, payer PhonePayer) (Order, string, error) {
	if s.opts.RenewalOffer == nil || s.opts.PlanPaid == nil {
		return Order{}, "", fmt.Errorf("payments: create renewal order: %w", ErrNoPlanCheckout)
	}
	offer, err := s.opts.RenewalOffer(ctx, accountID)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create renewal order: %w", err)
	}
	if offer.SubscriptionID == 0 || offer.PeriodStart.IsZero() {
		return Order{}, "", fmt.Errorf("payments: create renewal order: %w", ErrNoRenewalDue)
	}
	return s.createPlanOrder(ctx, accountID, offer, channel, mode, payer)
}

// createPlanOrder places a plan or renewal order for offer.
func (s *Service) createPlanOrder(ctx context.Context, accountID int64, offer PlanOffer, channel Channel, mode PayMode,
	payer PhonePayer) (Order, string, error) {
	code := offer.Code
	if offer.PriceFen <= 0 {
		return Order{}, "", fmt.Errorf("payments: create plan order: %w: plan %s costs nothing", ErrInvalidArgument, code)
	}
	q := Quote{AmountFen: offer.PriceFen, Credits: decimal.Zero, BonusCredits: decimal.Zero}
	if channel == ChannelBankTransfer {
		if !s.BankAccount().Configured() {
			return Order{}, "", fmt.Errorf("payments: create plan order: %w: no receiving bank account", ErrChannelUnavailable)
		}
		o, err := s.insertOrder(ctx, accountID, q, &offer, ChannelBankTransfer, PayModeQR, StatePending, s.opts.TransferTTL)
		if err != nil {
			return Order{}, "", fmt.Errorf("payments: create plan order: %w", err)
		}
		return o, "", nil
	}
	if mode == PayModePhone {
		ch, err := s.phoneChannel(channel)
		if err != nil {
			return Order{}, "", fmt.Errorf("payments: create plan order: %w", err)
		}
		return s.createChannelOrder(ctx, accountID, q, &offer, channel, PayModePhone, phonePlacer(ctx, ch, s, payer))
	}
	ch, err := s.channel(channel)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create plan order: %w", err)
	}
	return s.createChannelOrder(ctx, accountID, q, &offer, channel, PayModeQR, qrPlacer(ctx, ch, s))
}

// markPlanPaid starts the plan order's subscription through the PlanPaid
// hook inside tx (a savepoint) and marks the order paid; when the account
// has a plan in force by now, the savepoint is undone and an open order goes
// to review instead (the money came; staff refund it or settle it by hand).
// The order row is locked by the caller, so a plan order starts one
// subscription however often its payment is reported.
func (s *Service) markPlanPaid(ctx context.Context, tx pgx.Tx, o *Order, tradeNo string, paidFen int64, cause string, detail map[string]any) error {
	if s.opts.PlanPaid == nil {
		return fmt.Errorf("mark plan order %s paid: %w", o.OrderNo, ErrNoPlanCheckout)
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	hookErr := s.opts.PlanPaid(ctx, sp, *o)
	if (errors.Is(hookErr, ErrPlanInForce) || errors.Is(hookErr, ErrRenewalSettled) || errors.Is(hookErr, ErrUpgradeSuperseded)) && o.State.Open() {
		if err := sp.Rollback(ctx); err != nil {
			return err
		}
		reason := ReviewPlanInForce
		switch {
		case errors.Is(hookErr, ErrRenewalSettled):
			reason = ReviewRenewalSettled
		case errors.Is(hookErr, ErrUpgradeSuperseded):
			reason = ReviewUpgradeSuperseded
		}
		const sql = `UPDATE payment_orders SET review_reason = $2, channel_trade_no = $3, paid_fen = $4 WHERE id = $1`
		if _, err := tx.Exec(ctx, sql, o.ID, reason, tradeNo, paidFen); err != nil {
			return err
		}
		o.ReviewReason, o.ChannelTradeNo, o.PaidFen = reason, tradeNo, &paidFen
		detail["review"] = reason
		return s.transition(ctx, tx, o, StateNeedsReview, cause, detail)
	}
	if hookErr != nil {
		_ = sp.Rollback(ctx)
		return hookErr
	}
	if err := sp.Commit(ctx); err != nil {
		return err
	}
	now := s.now()
	const sql = `UPDATE payment_orders SET channel_trade_no = $2, paid_at = $3, paid_fen = $4 WHERE id = $1`
	if _, err := tx.Exec(ctx, sql, o.ID, tradeNo, now, paidFen); err != nil {
		return err
	}
	o.ChannelTradeNo, o.PaidAt, o.PaidFen = tradeNo, &now, &paidFen
	detail["plan"] = fmt.Sprintf("%s:%d:%s", o.PlanCode, o.PlanVersion, o.PlanCycle)
	return s.transition(ctx, tx, o, StatePaid, cause, detail)
}
