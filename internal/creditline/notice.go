package creditline

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// NoticeKind is one reminder or state notice of a bill.
type NoticeKind string

// The notices, each sent once per bill (credit_bill_notices).
const (
	NoticeIssued  NoticeKind = "issued"   // the bill was issued
	NoticeDueSoon NoticeKind = "due_soon" // ReminderDays before the due date
	NoticeOverdue NoticeKind = "overdue"  // past the due date, unpaid
	NoticeFrozen  NoticeKind = "frozen"   // past the grace period: the account is frozen
	NoticePaid    NoticeKind = "paid"     // paid: the line is back
)

// Notice is what a Notifier sends: the bill as it stands after the change.
type Notice struct {
	Kind NoticeKind
	Bill Bill
}

// WebhookType is the webhook event type of the notice (bill.issued, …).
func (n Notice) WebhookType() string { return "bill." + string(n.Kind) }

// Payload is the notice's webhook payload.
func (n Notice) Payload() map[string]any {
	return map[string]any{"bill_id": n.Bill.ID, "status": n.Bill.Status, "amount_fen": n.Bill.AmountFen,
		"amount": money(n.Bill.AmountFen), "credits": n.Bill.Credits.String(), "reference_code": n.Bill.ReferenceCode,
		"period_start": n.Bill.PeriodStart, "period_end": n.Bill.PeriodEnd, "due_at": n.Bill.DueAt}
}

// noticeTx records the notice once and, the first time, hands it to the
// Notifier in the same transaction.
func (s *Service) noticeTx(ctx context.Context, tx pgx.Tx, b Bill, kind NoticeKind) error {
	tag, err := tx.Exec(ctx, `INSERT INTO credit_bill_notices (bill_id, kind, sent_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		b.ID, kind, s.now())
	if err != nil {
		return fmt.Errorf("creditline: notice %s of bill %d: %w", kind, b.ID, err)
	}
	if tag.RowsAffected() == 0 || s.opt.Notify == nil {
		return nil
	}
	if err := s.opt.Notify.NotifyTx(ctx, tx, Notice{Kind: kind, Bill: b}); err != nil {
		return fmt.Errorf("creditline: notice %s of bill %d: %w", kind, b.ID, err)
	}
	return nil
}

// Notices lists the notices sent for a bill, in the order sent.
func (s *Service) Notices(ctx context.Context, billID int64) ([]NoticeKind, error) {
	rows, _ := s.pool.Query(ctx, `SELECT kind FROM credit_bill_notices WHERE bill_id = $1 ORDER BY sent_at, kind`, billID)
	out, err := pgx.CollectRows(rows, pgx.RowTo[NoticeKind])
	if err != nil {
		return nil, fmt.Errorf("creditline: notices: %w", err)
	}
	return out, nil
}
