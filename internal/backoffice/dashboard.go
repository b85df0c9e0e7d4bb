package backoffice

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// WorkCounts is the work waiting in each back-office queue and the money
// that moved on one Asia/Shanghai day: what the back-office home shows.
type WorkCounts struct {
	UnmatchedLines      int
	PendingApprovals    int
	InvoicesToIssue     int
	RefundRequests      int
	VerificationsReview int
	// Day is the Asia/Shanghai day the money columns cover.
	Day time.Time
	// MoneyIn is the yuan paid into orders that day; MoneyOut the yuan refunded.
	MoneyIn, MoneyOut decimal.Decimal
}

const workCountsSQL = `
SELECT
  (SELECT count(*) FROM bank_statement_lines WHERE status = 'unmatched')::int,
  (SELECT count(*) FROM admin_approvals WHERE state = 'pending')::int,
  (SELECT count(*) FROM invoices WHERE state = 'requested')::int,
  (SELECT count(*) FROM refund_requests WHERE state IN ('requested', 'approved'))::int,
  (SELECT count(*) FROM verifications WHERE state = 'pending')::int,
  (SELECT coalesce(sum(amount_fen), 0) FROM payment_orders
     WHERE paid_at >= $1 AND paid_at < $2)::numeric / 100,
  (SELECT coalesce(sum(amount_fen), 0) FROM payment_refunds
     WHERE created_at >= $1 AND created_at < $2)::numeric / 100`

// WorkCounts counts the open queues and the money in and out of today
// (Asia/Shanghai). It only reads, so every staff role may see it; it returns
// only database errors.
func (s *Service) WorkCounts(ctx context.Context) (WorkCounts, error) {
	now := s.now().In(Shanghai)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, Shanghai)
	w := WorkCounts{Day: day}
	err := s.pool.QueryRow(ctx, workCountsSQL, day, day.AddDate(0, 0, 1)).Scan(
		&w.UnmatchedLines, &w.PendingApprovals, &w.InvoicesToIssue, &w.RefundRequests,
		&w.VerificationsReview, &w.MoneyIn, &w.MoneyOut)
	if err != nil {
		return WorkCounts{}, fmt.Errorf("backoffice: work counts: %w", err)
	}
	return w, nil
}
