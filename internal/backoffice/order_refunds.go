package backoffice

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// RequestOrderRefund records a customer's refund request of amount yuan of
// order orderNo for finance to approve, like RequestRefund, for an order
// whose refund payments has checked itself (a one-time product: refunded
// whole within its window, payments.CheckRefund), so the amount is not
// bounded by the account's unspent paid credit (a feature unlock has no
// lot). Approval goes through ApproveRefund like any refund request.
// Errors: ErrInvalidAmount, ErrNotRefundable (a bill payment),
// ErrRefundPending, ErrAccountNotFound.
func (s *Service) RequestOrderRefund(ctx context.Context, accountID int64, orderNo string, amount decimal.Decimal, reason, ip string) (RefundRequest, error) {
	var out RefundRequest
	orderNo = strings.TrimSpace(orderNo)
	if !amount.IsPositive() || !amount.Round(2).Equal(amount) || orderNo == "" {
		return out, ErrInvalidAmount
	}
	bal, err := s.ledger.Balance(ctx, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return out, ErrAccountNotFound
	}
	if err != nil {
		return out, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		out, err = s.requestOrderRefundTx(ctx, tx, accountID, orderNo, amount, reason, ip, bal.Available,
			map[string]any{"whole_order": true})
		return err
	})
	return out, err
}

// requestOrderRefundTx records a customer's request to refund amount of
// order orderNo (one open request per order) and its audit row, whose
// detail adds detail to the request's own fields; balance is the pool's,
// unchanged by a request. Errors: ErrNotRefundable, ErrRefundPending.
func (s *Service) requestOrderRefundTx(ctx context.Context, tx pgx.Tx, accountID int64, orderNo string, amount decimal.Decimal,
	reason, ip string, balance decimal.Decimal, detail map[string]any) (RefundRequest, error) {
	if err := refuseBillOrder(ctx, tx, accountID, orderNo); err != nil {
		return RefundRequest{}, err
	}
	rows, _ := tx.Query(ctx, `INSERT INTO refund_requests (account_id, order_no, amount, reason, requested_at)
VALUES ($1, $2, $3, $4, $5) RETURNING `+refundColumns, accountID, orderNo, amount, reason, s.now())
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[RefundRequest])
	if db.IsUniqueViolation(err, "refund_requests_open_order_key") {
		return r, fmt.Errorf("%w: %w", ErrRefundPending, field("", "refund_pending"))
	}
	if err != nil {
		return r, fmt.Errorf("backoffice: request order refund: %w", err)
	}
	detail["refund_id"], detail["order_no"], detail["amount_rmb"] = r.ID, r.OrderNo, amount
	_, err = Audit(ctx, tx, Entry{ActorKind: ActorCustomer, IP: ip, Action: ActionRefundRequested, AccountID: accountID,
		BalanceBefore: &balance, BalanceAfter: &balance, Reason: reason, Detail: detail})
	return r, err
}

// refuseBillOrder returns ErrNotRefundable when the account's order orderNo
// paid a credit line bill: it credited nothing, so no refund request may
// name it, whoever files it (the portal checks first; this is the rule).
func refuseBillOrder(ctx context.Context, q db.DBTX, accountID int64, orderNo string) error {
	if orderNo == "" {
		return nil
	}
	var bill bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payment_orders
WHERE account_id = $1 AND order_no = $2 AND purpose = 'bill')`, accountID, orderNo).Scan(&bill)
	if err != nil {
		return fmt.Errorf("backoffice: request refund %s: %w", orderNo, err)
	}
	if bill {
		return fmt.Errorf("backoffice: request refund %s: %w", orderNo, ErrNotRefundable)
	}
	return nil
}
