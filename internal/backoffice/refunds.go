package backoffice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Refunder carries out an approved refund request (payments): a channel
// refund of the order, or a bank refund record, and the ledger refund of
// the paid lot. It runs on the approval's transaction and returns a
// reference to what it created (a refund order number).
type Refunder interface {
	StartRefundTx(ctx context.Context, tx pgx.Tx, r RefundRequest) (ref string, err error)
}

// RefundState is where a refund request stands.
type RefundState string

// Refund request states.
const (
	RefundRequested RefundState = "requested"
	RefundApproved  RefundState = "approved" // the Refunder started it
	RefundRejected  RefundState = "rejected"
	RefundDone      RefundState = "done" // the money went back
)

// RefundRequest is a customer's request to refund unconsumed paid credit.
type RefundRequest struct {
	ID             int64           `db:"id"`
	AccountID      int64           `db:"account_id"`
	OrderNo        string          `db:"order_no"`
	Amount         decimal.Decimal `db:"amount"` // yuan
	Reason         string          `db:"reason"`
	State          RefundState     `db:"state"`
	RequestedAt    time.Time       `db:"requested_at"`
	DecidedBy      *int64          `db:"decided_by"`
	DecidedAt      *time.Time      `db:"decided_at"`
	DecisionReason string          `db:"decision_reason"`
	RefundRef      string          `db:"refund_ref"`
	DoneAt         *time.Time      `db:"done_at"`
	// Bill is the credit line bill the order pays when the order is a
	// bill payment (nil otherwise; set by RefundRequests only). Such an
	// order credited nothing, so there is no top-up to refund.
	Bill *OrderBill `db:"-"`
}

const refundColumns = `id, account_id, order_no, amount, reason, state, requested_at, decided_by, decided_at,
	decision_reason, refund_ref, done_at`

// RequestRefund records a customer's refund request of amount yuan (of
// order orderNo, when given) for finance to approve. The amount may not
// exceed the account's unconsumed paid credit at the price paid for it.
// Errors: ErrInvalidAmount, ErrNotRefundable (the order paid a credit line
// bill), ErrRefundExceedsPaid, ErrRefundPending, ErrAccountNotFound.
func (s *Service) RequestRefund(ctx context.Context, accountID int64, orderNo string, amount decimal.Decimal, reason, ip string) (RefundRequest, error) {
	var out RefundRequest
	orderNo = strings.TrimSpace(orderNo)
	if !amount.IsPositive() || !amount.Round(2).Equal(amount) {
		return out, ErrInvalidAmount
	}
	bal, err := s.ledger.Balance(ctx, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return out, ErrAccountNotFound
	}
	if err != nil {
		return out, err
	}
	// A bill payment's purpose never changes: checked before the amount,
	// which it could never cover anyway.
	if err := refuseBillOrder(ctx, s.pool, accountID, orderNo); err != nil {
		return out, err
	}
	credits, err := ledger.CreditsForRMB(amount, s.opt.CreditPriceRMB)
	if err != nil {
		return out, err
	}
	// The unspent paid credit at the price paid for each lot, not today's.
	var unspentFen int64
	for _, lot := range bal.Lots {
		if lot.Kind != ledger.LotPaid {
			continue
		}
		price := ledger.RMBForCredits(lot.Amount, s.opt.CreditPriceRMB).Shift(2).IntPart()
		if lot.PaidFen != nil {
			price = *lot.PaidFen
		}
		unspentFen += ledger.FenShare(price, lot.Remaining, lot.Amount)
	}
	if amount.Shift(2).IntPart() > unspentFen {
		return out, ErrRefundExceedsPaid
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO refund_requests (account_id, order_no, amount, reason, requested_at)
VALUES ($1, $2, $3, $4, $5) RETURNING `+refundColumns, accountID, orderNo, amount, reason, s.now())
		r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[RefundRequest])
		if db.IsUniqueViolation(err, "refund_requests_open_order_key") {
			// A conflict, shown on the whole form (code refund_pending).
			return fmt.Errorf("%w: %w", ErrRefundPending, field("", "refund_pending"))
		}
		if err != nil {
			return fmt.Errorf("backoffice: request refund: %w", err)
		}
		out = r
		b := bal.Available
		_, err = Audit(ctx, tx, Entry{ActorKind: ActorCustomer, IP: ip, Action: ActionRefundRequested, AccountID: accountID,
			BalanceBefore: &b, BalanceAfter: &b, Reason: reason,
			Detail: map[string]any{"refund_id": r.ID, "order_no": r.OrderNo, "amount_rmb": amount, "credits": credits}})
		return err
	})
	return out, err
}

// RefundFilter narrows RefundRequests; zero fields do not filter.
type RefundFilter struct {
	State     RefundState
	AccountID int64
	Limit     int // default 200
}

// RefundRequests lists refund requests, oldest first (the finance queue:
// State RefundRequested; a customer's page: AccountID), each with the bill
// its order pays when that order is a bill payment.
func (s *Service) RefundRequests(ctx context.Context, f RefundFilter) ([]RefundRequest, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	rows, _ := s.pool.Query(ctx, `SELECT r.id, r.account_id, r.order_no, r.amount, r.reason, r.state, r.requested_at, r.decided_by,
	r.decided_at, r.decision_reason, r.refund_ref, r.done_at, `+orderBillColumns+`
FROM refund_requests r
LEFT JOIN payment_orders o ON o.order_no = r.order_no AND o.account_id = r.account_id
LEFT JOIN credit_bills b ON b.id = o.bill_id
WHERE ($1 = '' OR r.state = $1) AND ($2 = 0 OR r.account_id = $2)
ORDER BY r.requested_at, r.id LIMIT $3`, string(f.State), f.AccountID, f.Limit)
	reqs, err := pgx.CollectRows(rows, pgx.RowToStructByName[struct {
		RefundRequest
		orderBillRow
	}])
	if err != nil {
		return nil, fmt.Errorf("backoffice: refund requests: %w", err)
	}
	out := make([]RefundRequest, len(reqs))
	for i, r := range reqs {
		out[i] = r.RefundRequest
		out[i].Bill = r.bill()
	}
	return out, nil
}

func lockRefund(ctx context.Context, tx pgx.Tx, id int64) (RefundRequest, error) {
	rows, _ := tx.Query(ctx, `SELECT `+refundColumns+` FROM refund_requests WHERE id = $1 FOR UPDATE`, id)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[RefundRequest])
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrRefundNotFound
	}
	if err != nil {
		return r, fmt.Errorf("backoffice: refund request: %w", err)
	}
	return r, nil
}

// ApproveRefund approves a requested refund and starts it through the
// Refunder in the same transaction (its ledger refund included), audited
// with the balances. Finance only. Errors: ErrForbidden, ErrNoRefunder,
// ErrRefundNotFound, ErrRefundClosed, the Refunder's errors.
func (s *Service) ApproveRefund(ctx context.Context, id int64, actor Actor) (RefundRequest, error) {
	var out RefundRequest
	if err := actor.require(auth.RoleFinance); err != nil {
		return out, err
	}
	if s.opt.Refunder == nil {
		return out, ErrNoRefunder
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := lockRefund(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State != RefundRequested {
			return ErrRefundClosed
		}
		before, err := lockBalance(ctx, tx, r.AccountID)
		if err != nil {
			return err
		}
		ref, err := s.opt.Refunder.StartRefundTx(ctx, tx, r)
		if err != nil {
			return err
		}
		after, err := readBalance(ctx, tx, r.AccountID)
		if err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `UPDATE refund_requests SET state = 'approved', decided_by = $2, decided_at = $3, refund_ref = $4
WHERE id = $1 RETURNING `+refundColumns, id, actor.User.ID, s.now(), ref)
		if out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[RefundRequest]); err != nil {
			return fmt.Errorf("backoffice: approve refund: %w", err)
		}
		e := staffEntry(actor, ActionRefundApproved, r.AccountID)
		e.BalanceBefore, e.BalanceAfter = &before, &after
		e.Reason = r.Reason
		e.Detail = map[string]any{"refund_id": id, "order_no": r.OrderNo, "amount_rmb": r.Amount, "refund_ref": ref}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return out, err
}

// RejectRefund rejects a requested refund with a required reason, audited.
// Finance only. Errors: ErrForbidden, ErrReasonRequired, ErrRefundNotFound,
// ErrRefundClosed.
func (s *Service) RejectRefund(ctx context.Context, id int64, reason string, actor Actor) (RefundRequest, error) {
	var out RefundRequest
	if err := actor.require(auth.RoleFinance); err != nil {
		return out, err
	}
	if reason = strings.TrimSpace(reason); reason == "" {
		return out, ErrReasonRequired
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := lockRefund(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State != RefundRequested {
			return ErrRefundClosed
		}
		rows, _ := tx.Query(ctx, `UPDATE refund_requests SET state = 'rejected', decided_by = $2, decided_at = $3, decision_reason = $4
WHERE id = $1 RETURNING `+refundColumns, id, actor.User.ID, s.now(), reason)
		if out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[RefundRequest]); err != nil {
			return fmt.Errorf("backoffice: reject refund: %w", err)
		}
		bal, err := readBalance(ctx, tx, r.AccountID)
		if err != nil {
			return err
		}
		e := staffEntry(actor, ActionRefundRejected, r.AccountID)
		e.BalanceBefore, e.BalanceAfter = &bal, &bal
		e.Reason = reason
		e.Detail = map[string]any{"refund_id": id, "order_no": r.OrderNo, "amount_rmb": r.Amount}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return out, err
}

// MarkRefundDone records that an approved refund's money went back
// (payments calls it on the channel's refund notice; finance, for a bank
// refund, with the bank's reference). Idempotent on a done request.
// Errors: ErrRefundNotFound, ErrRefundClosed (not approved).
func (s *Service) MarkRefundDone(ctx context.Context, id int64, ref string, actor Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := lockRefund(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State == RefundDone {
			return nil
		}
		if r.State != RefundApproved {
			return ErrRefundClosed
		}
		if ref == "" {
			ref = r.RefundRef
		}
		if _, err := tx.Exec(ctx, `UPDATE refund_requests SET state = 'done', done_at = $2, refund_ref = $3 WHERE id = $1`,
			id, s.now(), ref); err != nil {
			return fmt.Errorf("backoffice: refund done: %w", err)
		}
		e := Entry{ActorKind: ActorSystem, Action: ActionRefundDone, AccountID: r.AccountID,
			Detail: map[string]any{"refund_id": id, "refund_ref": ref, "amount_rmb": r.Amount}}
		if actor.User.ID != 0 {
			e = staffEntry(actor, ActionRefundDone, r.AccountID)
			e.Detail = map[string]any{"refund_id": id, "refund_ref": ref, "amount_rmb": r.Amount}
		}
		_, err = Audit(ctx, tx, e)
		return err
	})
}

// MarkRefundDoneByRef closes the approved refund request whose refund
// reference is ref, when the payment channel accepted that refund
// (payments' OnRefunded). A refund no request started is not an error.
// Idempotent.
func (s *Service) MarkRefundDoneByRef(ctx context.Context, ref string) error {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM refund_requests WHERE refund_ref = $1`, ref).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backoffice: refund by reference: %w", err)
	}
	return s.MarkRefundDone(ctx, id, ref, Actor{})
}
