package payments

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
)

// ActionReviewResolved is the audit action of a review settled from the
// back office's review queue (ResolveReviewAudited).
const ActionReviewResolved backoffice.Action = "order_review_resolved"

const sqlReviewQueue = `SELECT ` + orderColumns + ` FROM payment_orders
WHERE state = 'needs_review' AND ($1 = 0 OR id < $1) ORDER BY id DESC LIMIT $2`

// ReviewQueue lists the orders in needs_review, newest first, limit a page
// from before (an order id; 0 for the first page). next is the cursor of
// the following page, 0 when this is the last. Errors: database errors.
func (s *Service) ReviewQueue(ctx context.Context, before int64, limit int) (orders []Order, next int64, err error) {
	rows, _ := s.pool.Query(ctx, sqlReviewQueue, before, limit+1)
	orders, err = pgx.CollectRows(rows, pgx.RowToStructByName[Order])
	if err != nil {
		return nil, 0, fmt.Errorf("payments: review queue: %w", err)
	}
	if len(orders) > limit {
		orders = orders[:limit]
		next = orders[limit-1].ID
	}
	return orders, next, nil
}

const sqlReviewCount = `SELECT count(*) FROM payment_orders WHERE state = 'needs_review'`

// ReviewCount is how many orders wait in needs_review: the review queue's
// count on the back-office home. Errors: database errors.
func (s *Service) ReviewCount(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, sqlReviewCount).Scan(&n); err != nil {
		return 0, fmt.Errorf("payments: review count: %w", err)
	}
	return n, nil
}

// ResolveReviewAudited is ResolveReview for the back office: a finance
// staff member settles an order under review with a required reason, and
// the audit row commits in the same transaction as the settlement — so a
// repeat (a double click) that finds the order settled already writes
// nothing and reports resolved false. Like a refund approval it is one
// finance decision: the money only goes back to its payer or buys what the
// order quoted. Errors: backoffice.ErrForbidden, backoffice.ErrReasonRequired,
// and ResolveReview's.
func (s *Service) ResolveReviewAudited(ctx context.Context, orderNo string, accept bool, actor backoffice.Actor, reason string) (o Order, resolved bool, err error) {
	if !auth.HasAnyRole(actor.User, auth.RoleFinance) {
		return o, false, backoffice.ErrForbidden
	}
	if reason = strings.TrimSpace(reason); reason == "" {
		return o, false, backoffice.ErrReasonRequired
	}
	ref := fmt.Sprintf("staff:%d", actor.User.ID)
	o, err = s.resolveReview(ctx, orderNo, accept, ref, reason, func(tx pgx.Tx, o Order) error {
		resolved = true
		outcome := "refunded"
		if accept {
			outcome = "credited"
		}
		e := backoffice.Entry{ActorKind: backoffice.ActorStaff, ActorID: actor.User.ID, ActorEmail: actor.User.Email, IP: actor.IP,
			Action: ActionReviewResolved, AccountID: o.AccountID, Reason: reason,
			Detail: map[string]any{"order_no": o.OrderNo, "outcome": outcome, "review_reason": o.ReviewReason, "channel": o.Channel, "paid_fen": o.PaidFen}}
		_, err := backoffice.Audit(ctx, tx, e)
		return err
	})
	return o, resolved, err
}
