package payments

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/plans"
)

// UsePlans wires plan orders to subs, the subscriptions of internal/plans:
// it sets PlanOffer, PlanPaid, PlanRefund, RenewalOffer and PlanChange.
// app.Build wires the service so, and the package's tests too, so that they
// test the wiring that runs.
func (opts *Options) UsePlans(subs *plans.Subscriptions) {
	// A plan order is priced by the catalogue and, once paid, starts its
	// subscription in the payment's transaction.
	opts.PlanOffer = func(ctx context.Context, accountID int64, code, cycle string) (PlanOffer, error) {
		p, fen, err := subs.Offer(ctx, accountID, code, plans.Cycle(cycle))
		if errors.Is(err, plans.ErrAlreadySubscribed) {
			return PlanOffer{}, fmt.Errorf("%w: %w", ErrPlanInForce, err)
		}
		return PlanOffer{Code: p.Code, Version: p.Version, Cycle: cycle, PriceFen: fen}, err
	}
	opts.PlanPaid = func(ctx context.Context, tx pgx.Tx, o Order) error {
		if o.Purpose == PurposePlanUpgrade {
			_, err := subs.UpgradePaidTx(ctx, tx, plans.UpgradePaid{SubscriptionID: o.SubscriptionID,
				FromCode: o.FromPlanCode, FromVersion: o.FromPlanVersion, ToCode: o.PlanCode, ToVersion: o.PlanVersion,
				Cycle: plans.Cycle(o.PlanCycle), PriceFen: o.AmountFen, PricedAt: o.CreatedAt, OrderNo: o.OrderNo,
				Actor: "payments:" + string(o.Channel)})
			if errors.Is(err, plans.ErrUpgradeSuperseded) {
				return fmt.Errorf("%w: %w", ErrUpgradeSuperseded, err)
			}
			return err
		}
		if o.Purpose == PurposePlanRenewal {
			_, err := subs.RenewPaidTx(ctx, tx, plans.RenewPaid{SubscriptionID: o.SubscriptionID,
				PeriodStart: *o.PeriodStart, PlanCode: o.PlanCode, PlanVersion: o.PlanVersion, Cycle: plans.Cycle(o.PlanCycle),
				OrderNo: o.OrderNo, Actor: "payments:" + string(o.Channel)})
			if errors.Is(err, plans.ErrPeriodRenewed) {
				return fmt.Errorf("%w: %w", ErrRenewalSettled, err)
			}
			return err
		}
		_, _, err := subs.SubscribeTx(ctx, tx, plans.SubscribeRequest{AccountID: o.AccountID, PlanCode: o.PlanCode,
			PlanVersion: o.PlanVersion, Cycle: plans.Cycle(o.PlanCycle), Actor: "payments:" + string(o.Channel), Note: o.OrderNo})
		if errors.Is(err, plans.ErrAlreadySubscribed) {
			return fmt.Errorf("%w: %w", ErrPlanInForce, err)
		}
		return err
	}
	// A yearly plan's refund (approved in the refund queue) applies the
	// yearly refund rule, revokes the plan lots and ends the subscription
	// in the refund's transaction.
	// A paid upgrade's refund applies the upgrade refund rule, revokes the
	// upgrade's plan lot and puts the subscription back on the plan it came
	// from.
	opts.PlanRefund = func(ctx context.Context, tx pgx.Tx, o Order, maxFen int64, actor, reason string) (PlanRefunded, error) {
		if o.Purpose == PurposePlanUpgrade {
			r, err := subs.RefundUpgradeTx(ctx, tx, plans.RefundUpgrade{AccountID: o.AccountID, OrderNo: o.OrderNo,
				MaxFen: maxFen, Actor: "payments:" + actor, Note: reason})
			if errors.Is(err, plans.ErrNoUpgradeRefund) || errors.Is(err, plans.ErrNotFound) {
				return PlanRefunded{}, fmt.Errorf("%w: %w", ErrNotRefundable, err)
			}
			return PlanRefunded{Fen: r.RefundFen, Revoked: r.Revoked, OpID: r.OpID}, err
		}
		r, err := subs.RefundYearTx(ctx, tx, plans.RefundYear{AccountID: o.AccountID, OrderNo: o.OrderNo,
			MaxFen: maxFen, Actor: "payments:" + actor, Note: reason})
		if errors.Is(err, plans.ErrNoYearRefund) || errors.Is(err, plans.ErrNotFound) {
			return PlanRefunded{}, fmt.Errorf("%w: %w", ErrNotRefundable, err)
		}
		return PlanRefunded{Fen: r.RefundFen, Revoked: r.Revoked, OpID: r.OpID}, err
	}
	opts.RenewalOffer = func(ctx context.Context, accountID int64) (PlanOffer, error) {
		r, err := subs.RenewalOffer(ctx, accountID)
		if errors.Is(err, plans.ErrRenewalNotDue) {
			return PlanOffer{}, fmt.Errorf("%w: %w", ErrNoRenewalDue, err)
		}
		return PlanOffer{Code: r.PlanCode, Version: r.PlanVersion, Cycle: string(r.Cycle), PriceFen: r.PriceFen,
			SubscriptionID: r.SubscriptionID, PeriodStart: r.PeriodStart}, err
	}
	// A plan change needing no payment is made at once; an upgrade that
	// costs something is priced here and applied by PlanPaid once paid.
	opts.PlanChange = func(ctx context.Context, accountID int64, code, cycle string) (PlanOffer, error) {
		c, err := subs.ChangePlan(ctx, plans.ChangeRequest{AccountID: accountID, PlanCode: code,
			Cycle: plans.Cycle(cycle), Actor: "customer"})
		if err != nil || c.Applied {
			return PlanOffer{}, err
		}
		return PlanOffer{Code: c.To.Code, Version: c.To.Version, Cycle: string(c.ToCycle), PriceFen: c.PriceFen,
			SubscriptionID: c.SubscriptionID, FromPlanCode: c.From.Code, FromPlanVersion: c.From.Version}, nil
	}
}
