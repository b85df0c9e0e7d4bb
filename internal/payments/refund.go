package payments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// RefundRequest asks to refund part of a paid top-up. AccountID scopes the
// order (another account's order is ErrNotFound).
type RefundRequest struct {
	AccountID      int64
	OrderNo        string
	AmountFen      int64
	Reason         string
	Actor          string
	IdempotencyKey string
}

// RefundState says how the money goes back.
type RefundState string

// Refund states.
const (
	RefundDone    RefundState = "refunded" // the channel accepted the refund
	RefundManual  RefundState = "manual"   // a bank transfer order: finance pays it back by bank
	RefundPending RefundState = "pending"  // at the channel: sent after the ledger refund commits (SendRefund)
	RefundFailed  RefundState = "failed"   // MaxRefundAttempts calls failed; finance may retry (RetryRefund)
)

// Refund is one refund of a paid top-up.
type Refund struct {
	ID        int64           `db:"id"`
	OrderID   int64           `db:"order_id"`
	RefundNo  string          `db:"refund_no"`  // out_refund_no / out_request_no at the channel
	AmountFen int64           `db:"amount_fen"` // paid back
	Credits   decimal.Decimal `db:"credits"`    // removed from the order's paid lot
	Reason    string          `db:"reason"`
	Actor     string          `db:"actor"`
	State     RefundState     `db:"state"`
	LedgerOp  int64           `db:"ledger_op_id"`
	CreatedAt time.Time       `db:"created_at"`
	// The bonus lot's share (RefundQuote): revoked unspent credit, spent
	// credit charged for, and the fen kept back for it.
	BonusRevoked decimal.Decimal `db:"bonus_revoked"`
	BonusCharged decimal.Decimal `db:"bonus_charged"`
	BonusFen     int64           `db:"bonus_fen"`
	// Replayed is true when the idempotency key had been used: the first result.
	Replayed bool `db:"-"`
	// Order is the order after the refund.
	Order Order `db:"-"`
}

const refundColumns = `id, order_id, refund_no, amount_fen, credits, reason, actor, state, coalesce(ledger_op_id, 0) AS ledger_op_id, created_at,
	bonus_revoked, bonus_charged, bonus_fen`

// Refund pays back AmountFen of a paid top-up, limited to the unconsumed
// part of its paid lot, and takes back the same share of its bonus
// (RefundQuote; README, "Refunds and bonus"). In one transaction, with the
// order and the account's pool locked, it runs Options.BeforeRefund, writes
// the ledger refund that removes the credits the refund takes and revokes
// the bonus lot's unspent share in the same ledger operation, records the
// refund (pending at the channel; a bank transfer order is refunded by
// finance: state manual), and marks the order partially_refunded or
// refunded (refunded when the money paid back and the bonus deductions add
// up to the order). The channel is called after the commit, by SendRefund
// (the caller, at once) and by the sync job (whatever a crash left pending),
// with the refund number derived from the IdempotencyKey, which the channels
// treat as the same refund however often it is sent. Errors:
// ErrInvalidArgument, ErrNotFound, ErrNotRefundable, ErrRefundExceedsOrder,
// ErrIdempotencyConflict, *RefundLimitError (more than the paid lot has
// left to refund, net of the bonus deduction), ErrChannel,
// ErrChannelUnavailable, ledger errors, and whatever BeforeRefund returns.
//
// Refund itself sends a pending refund as soon as its transaction commits
// and returns the state the channel left it in (pending when the call
// failed: the sync job goes on trying; the error is then logged, not
// returned, since the refund stands).
func (s *Service) Refund(ctx context.Context, r RefundRequest) (Refund, error) {
	var out Refund
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.refundTx(ctx, tx, r)
		return err
	})
	if err != nil {
		return Refund{}, err
	}
	if out.State == RefundPending {
		st, err := s.SendRefund(ctx, out.RefundNo)
		if err != nil {
			s.opts.Logger.Warn("refund pending at the channel", "refund_no", out.RefundNo, "error", err.Error())
		}
		out.State = st
	}
	return out, nil
}

// refundTx is Refund on the caller's transaction tx (the back office's
// approval runs it inside its own).
func (s *Service) refundTx(ctx context.Context, tx pgx.Tx, r RefundRequest) (Refund, error) {
	var out Refund
	if r.OrderNo == "" || r.IdempotencyKey == "" || r.AmountFen <= 0 {
		return out, fmt.Errorf("payments: refund: %w: order number, positive amount and idempotency key are required", ErrInvalidArgument)
	}
	err := func() error {
		o, err := queryOrder(ctx, tx, sqlOrderByNoAccount+` FOR UPDATE`, r.OrderNo, r.AccountID)
		if err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT `+refundColumns+` FROM payment_refunds WHERE order_id = $1 AND idempotency_key = $2`, o.ID, r.IdempotencyKey)
		prev, err := pgx.CollectRows(rows, pgx.RowToStructByName[Refund])
		if err != nil {
			return err
		}
		if len(prev) > 0 {
			if prev[0].AmountFen != r.AmountFen {
				return ErrIdempotencyConflict
			}
			out, out.Replayed, out.Order = prev[0], true, o
			return nil
		}
		switch o.Purpose {
		case PurposePlan, PurposePlanRenewal, PurposePlanUpgrade:
			out, err = s.planRefundTx(ctx, tx, o, r)
			return err
		case PurposeProduct:
			out, err = s.productRefundTx(ctx, tx, o, r)
			return err
		}
		if (o.State != StatePaid && o.State != StatePartiallyRefunded) || o.PaidLotID == nil {
			return fmt.Errorf("%w: order is %s", ErrNotRefundable, o.State)
		}
		if left := o.RefundableFen(); r.AmountFen > left {
			return fmt.Errorf("%w: %d fen asked, %d fen left", ErrRefundExceedsOrder, r.AmountFen, left)
		}
		if s.opts.BeforeRefund != nil {
			if err := s.opts.BeforeRefund(ctx, tx, o, r.AmountFen); err != nil {
				return err
			}
		}
		bases, err := s.refundBases(ctx, tx, tx, []Order{o})
		if err != nil {
			return err
		}
		q, err := bases[o.ID].forFen(r.AmountFen)
		if err != nil {
			return err
		}
		refundNo := refundNumber(o.OrderNo, r.IdempotencyKey)
		lr := ledger.RefundRequest{
			LotID: *o.PaidLotID, Amount: q.Credits, Fen: q.GrossFen, IdempotencyKey: "topup-refund:" + refundNo,
			Actor: r.Actor, Reason: r.Reason, SourceRef: "payment_refund:" + refundNo,
		}
		var bonusLot *int64
		if o.PromoLotID != nil {
			bonusLot = o.PromoLotID
			lr.Bonus = &ledger.BonusRevocation{LotID: *o.PromoLotID, Revoked: q.BonusRevoked, Charged: q.BonusCharged, ChargedFen: q.BonusFen}
		}
		res, err := s.ledger.RefundTx(ctx, tx, lr)
		if err != nil {
			return err
		}
		// The channel is called by SendRefund after this commits: never
		// while the pool's ledger row is locked.
		state := RefundManual
		if o.Channel != ChannelBankTransfer {
			if _, err := s.channel(o.Channel); err != nil {
				return err
			}
			state = RefundPending
		}
		rows, _ = tx.Query(ctx, `INSERT INTO payment_refunds (order_id, refund_no, idempotency_key, amount_fen, credits, reason, actor, state, ledger_op_id, created_at,
	bonus_lot_id, bonus_revoked, bonus_charged, bonus_fen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING `+refundColumns,
			o.ID, refundNo, r.IdempotencyKey, r.AmountFen, q.Credits, r.Reason, r.Actor, state, res.OpID, s.now(),
			bonusLot, q.BonusRevoked, q.BonusCharged, q.BonusFen)
		if out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Refund]); err != nil {
			return err
		}
		const sqlRefunded = `UPDATE payment_orders SET refunded_fen = refunded_fen + $2, bonus_deducted_fen = bonus_deducted_fen + $3 WHERE id = $1`
		if _, err := tx.Exec(ctx, sqlRefunded, o.ID, r.AmountFen, q.BonusFen); err != nil {
			return err
		}
		o.RefundedFen += r.AmountFen
		o.BonusDeductedFen += q.BonusFen
		to := StatePartiallyRefunded
		if o.RefundedFen+o.BonusDeductedFen == o.AmountFen {
			to = StateRefunded
		}
		detail := map[string]any{"refund_no": refundNo, "amount_fen": r.AmountFen, "credits": q.Credits, "actor": r.Actor, "reason": r.Reason,
			"bonus_revoked": q.BonusRevoked, "bonus_charged": q.BonusCharged, "bonus_fen": q.BonusFen}
		if err := s.transition(ctx, tx, &o, to, CauseRefund, detail); err != nil {
			return err
		}
		if s.opts.TopUpRefunded != nil {
			before := bases[o.ID].paid.Refunded
			rc := RefundedCredits{Paid: bases[o.ID].paid.Amount, Before: before, After: before.Add(q.Credits)}
			if err := s.opts.TopUpRefunded(ctx, tx, o, refundNo, rc); err != nil {
				return err
			}
		}
		out.Order = o
		return nil
	}()
	if err != nil {
		return Refund{}, fmt.Errorf("payments: refund %s: %w", r.OrderNo, err)
	}
	return out, nil
}

// RefundedCredits is how much of a top-up's paid lot (Paid credits) its
// refunds have removed, before a refund and with it.
type RefundedCredits struct {
	Paid, Before, After decimal.Decimal
}

// planRefundTx refunds a plan, renewal or upgrade order on tx (the order
// locked): Options.PlanRefund applies the yearly refund rule and ends the
// subscription, or for an upgrade the upgrade refund rule and puts the
// subscription back on the plan it came from; the money goes back through the order's channel as for a
// top-up (pending until SendRefund), or by bank for a bank transfer.
func (s *Service) planRefundTx(ctx context.Context, tx pgx.Tx, o Order, r RefundRequest) (Refund, error) {
	if o.State != StatePaid || s.opts.PlanRefund == nil {
		return Refund{}, fmt.Errorf("%w: plan order is %s", ErrNotRefundable, o.State)
	}
	// RefundableFen is a top-up's (a plan order has no paid lot): the
	// plan's rule decides, within what was paid.
	if left := o.AmountFen - o.RefundedFen; r.AmountFen > left {
		return Refund{}, fmt.Errorf("%w: %d fen asked, %d fen left", ErrRefundExceedsOrder, r.AmountFen, left)
	}
	if s.opts.BeforeRefund != nil {
		if err := s.opts.BeforeRefund(ctx, tx, o, r.AmountFen); err != nil {
			return Refund{}, err
		}
	}
	pr, err := s.opts.PlanRefund(ctx, tx, o, r.AmountFen, r.Actor, r.Reason)
	if err != nil {
		return Refund{}, err
	}
	state := RefundManual
	if o.Channel != ChannelBankTransfer {
		if _, err := s.channel(o.Channel); err != nil {
			return Refund{}, err
		}
		state = RefundPending
	}
	refundNo := refundNumber(o.OrderNo, r.IdempotencyKey)
	rows, _ := tx.Query(ctx, `INSERT INTO payment_refunds (order_id, refund_no, idempotency_key, amount_fen, credits, reason, actor, state, ledger_op_id, created_at)
VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9) RETURNING `+refundColumns,
		o.ID, refundNo, r.IdempotencyKey, pr.Fen, r.Reason, r.Actor, state, pr.OpID, s.now())
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Refund])
	if err != nil {
		return Refund{}, err
	}
	// What the rule keeps (the months used, the excess credit) stays paid
	// and invoiceable; the subscription has ended, so no second refund of
	// the plan can follow (PlanRefund refuses it).
	const sqlRefunded = `UPDATE payment_orders SET refunded_fen = refunded_fen + $2 WHERE id = $1`
	if _, err := tx.Exec(ctx, sqlRefunded, o.ID, pr.Fen); err != nil {
		return Refund{}, err
	}
	o.RefundedFen += pr.Fen
	to := StatePartiallyRefunded
	if o.RefundedFen+o.BonusDeductedFen == o.AmountFen {
		to = StateRefunded
	}
	detail := map[string]any{"refund_no": refundNo, "amount_fen": pr.Fen, "plan_credits_revoked": pr.Revoked,
		"kept_fen": o.AmountFen - o.RefundedFen, "actor": r.Actor, "reason": r.Reason}
	if err := s.transition(ctx, tx, &o, to, CauseRefund, detail); err != nil {
		return Refund{}, err
	}
	out.Order = o
	return out, nil
}

// refundNumber derives the channel refund number from the order and the
// idempotency key, so a retried request repeats the same refund.
func refundNumber(orderNo, key string) string {
	sum := sha256.Sum256([]byte(orderNo + "\x00" + key))
	return "R" + orderNo[1:] + hex.EncodeToString(sum[:5])
}

// Refunds lists an order's refunds, oldest first.
func (s *Service) Refunds(ctx context.Context, orderID int64) ([]Refund, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+refundColumns+` FROM payment_refunds WHERE order_id = $1 ORDER BY id`, orderID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Refund])
	if err != nil {
		return nil, fmt.Errorf("payments: refunds: %w", err)
	}
	return out, nil
}
