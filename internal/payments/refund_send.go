package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxRefundAttempts is how many failed calls to the channel a refund gets
// (one per sync run, a minute apart) before it waits for finance (RetryRefund).
const MaxRefundAttempts = 5

// refundAtChannel is what sending a pending refund needs, read without locks.
type refundAtChannel struct {
	ID        int64   `db:"id"`
	RefundNo  string  `db:"refund_no"`
	AmountFen int64   `db:"amount_fen"`
	Reason    string  `db:"reason"`
	State     string  `db:"state"`
	OrderNo   string  `db:"order_no"`
	TotalFen  int64   `db:"total_fen"`
	Channel   Channel `db:"channel"`
	Done      bool    `db:"done"`
	Attempts  int     `db:"attempts"`
}

// sqlFailedCalls counts a refund r's failed calls since finance last asked
// to retry; sqlRefunded says whether the channel accepted it.
const (
	sqlFailedCalls = `(SELECT count(*) FROM payment_refund_events e WHERE e.refund_id = r.id AND e.kind = 'attempt_failed'
  AND e.id > coalesce((SELECT max(x.id) FROM payment_refund_events x WHERE x.refund_id = r.id AND x.kind = 'retrying'), 0))::int`
	sqlRefunded = `EXISTS (SELECT 1 FROM payment_refund_events e WHERE e.refund_id = r.id AND e.kind = 'refunded')`
)

// sqlRefundAtChannel reads a refund with its order, whether the channel
// accepted it, and its failed calls since finance last asked to retry.
const sqlRefundAtChannel = `
SELECT r.id, r.refund_no, r.amount_fen, r.reason, r.state, o.order_no, o.amount_fen AS total_fen, o.channel,
       ` + sqlRefunded + ` AS done, ` + sqlFailedCalls + ` AS attempts
FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id
WHERE r.refund_no = $1`

const sqlRefundEvent = `INSERT INTO payment_refund_events (refund_id, kind, detail, actor, at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`

// readRefund reads the refund refundNo as SendRefund needs it. Errors:
// ErrNotFound.
func (s *Service) readRefund(ctx context.Context, refundNo string) (refundAtChannel, error) {
	rows, _ := s.pool.Query(ctx, sqlRefundAtChannel, refundNo)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[refundAtChannel])
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("payments: refund %s: %w", refundNo, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("payments: refund %s: %w", refundNo, err)
	}
	return r, nil
}

// state is where the refund stands at the channel.
func (r refundAtChannel) state() RefundState {
	switch {
	case r.State != string(RefundPending):
		return RefundState(r.State)
	case r.Done:
		return RefundDone
	case r.Attempts >= MaxRefundAttempts:
		return RefundFailed
	}
	return RefundPending
}

// SendRefund sends a pending refund to its channel and records the answer:
// refunded (then Options.OnRefunded runs), or a failed attempt. No lock is
// held during the call, so a slow channel delays nothing else; two senders
// racing send the same refund number, which the channel refunds once, and
// the refunded event is recorded once. It returns where the refund stands.
// Errors: ErrNotFound, and the channel's error (as ErrChannel) after
// recording the failed attempt.
func (s *Service) SendRefund(ctx context.Context, refundNo string) (RefundState, error) {
	r, err := s.readRefund(ctx, refundNo)
	if err != nil {
		return "", err
	}
	if st := r.state(); st != RefundPending {
		return st, nil
	}
	ch, err := s.channel(r.Channel)
	if err != nil {
		return RefundPending, err
	}
	callErr := ch.Refund(ctx, ChannelRefund{OutTradeNo: r.OrderNo, OutRefundNo: r.RefundNo, RefundFen: r.AmountFen, TotalFen: r.TotalFen, Reason: r.Reason})
	// The answer is recorded even when the caller's context ended meanwhile.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if callErr != nil {
		detail := map[string]any{"error": callErr.Error()}
		if _, err := s.pool.Exec(rec, sqlRefundEvent, r.ID, "attempt_failed", detail, "", s.now()); err != nil {
			return RefundPending, fmt.Errorf("payments: send refund %s: %w", refundNo, err)
		}
		r.Attempts++
		return r.state(), fmt.Errorf("payments: send refund %s: %w: %w", refundNo, ErrChannel, callErr)
	}
	tag, err := s.pool.Exec(rec, sqlRefundEvent, r.ID, "refunded", map[string]any{}, "", s.now())
	if err != nil {
		return RefundPending, fmt.Errorf("payments: send refund %s: %w", refundNo, err)
	}
	// Only the sender that recorded the completion announces it.
	if tag.RowsAffected() == 1 && s.opts.OnRefunded != nil {
		if err := s.opts.OnRefunded(rec, refundNo); err != nil {
			return RefundDone, fmt.Errorf("payments: refund %s accepted, but: %w", refundNo, err)
		}
	}
	return RefundDone, nil
}

// sqlPendingRefunds lists refunds still to send: pending, not refunded, and
// with attempts left.
const sqlPendingRefunds = `
SELECT r.refund_no FROM payment_refunds r
WHERE r.state = 'pending'
  AND NOT ` + sqlRefunded + `
  AND ` + sqlFailedCalls + ` < $1
ORDER BY r.id LIMIT $2`

// SendPendingRefunds sends every refund a crash or a failed call left
// pending (the sync job runs it each minute). It returns how many it sent
// and the first error.
func (s *Service) SendPendingRefunds(ctx context.Context, batch int) (int, error) {
	rows, _ := s.pool.Query(ctx, sqlPendingRefunds, MaxRefundAttempts, batch)
	nos, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("payments: pending refunds: %w", err)
	}
	var first error
	for _, no := range nos {
		if _, err := s.SendRefund(ctx, no); err != nil {
			s.opts.Logger.Warn("refund not sent", "refund_no", no, "error", err.Error())
			if first == nil {
				first = err
			}
		}
	}
	return len(nos), first
}

// RetryRefund gives a failed refund a new round of attempts (finance, after
// fixing what the channel refused) and sends it at once. Errors:
// ErrNotFound, ErrInvalidTransition (not failed), and SendRefund's.
func (s *Service) RetryRefund(ctx context.Context, refundNo, actor string) (RefundState, error) {
	r, err := s.readRefund(ctx, refundNo)
	if err != nil {
		return "", err
	}
	if r.state() != RefundFailed {
		return r.state(), fmt.Errorf("payments: retry refund %s: %w: it is %s", refundNo, ErrInvalidTransition, r.state())
	}
	if _, err := s.pool.Exec(ctx, sqlRefundEvent, r.ID, "retrying", map[string]any{}, actor, s.now()); err != nil {
		return "", err
	}
	return s.SendRefund(ctx, refundNo)
}

// RefundStatus is where a refund stands at its channel, by refund number.
// Errors: ErrNotFound.
func (s *Service) RefundStatus(ctx context.Context, refundNo string) (RefundState, error) {
	r, err := s.readRefund(ctx, refundNo)
	if err != nil {
		return "", err
	}
	return r.state(), nil
}

// UnsettledRefund is a channel refund the channel has not accepted yet.
type UnsettledRefund struct {
	RefundNo  string      `db:"refund_no"`
	OrderNo   string      `db:"order_no"`
	AccountID int64       `db:"account_id"`
	AmountFen int64       `db:"amount_fen"`
	CreatedAt time.Time   `db:"created_at"`
	Attempts  int         `db:"attempts"`
	LastError string      `db:"last_error"`
	State     RefundState `db:"-"` // pending (still tried) or failed (waits for RetryRefund)
}

// sqlUnsettledRefunds lists channel refunds without a refunded event, with
// their failed calls since the last retry and the last error.
const sqlUnsettledRefunds = `
SELECT r.refund_no, o.order_no, o.account_id, r.amount_fen, r.created_at,
       ` + sqlFailedCalls + ` AS attempts,
       coalesce((SELECT e.detail->>'error' FROM payment_refund_events e WHERE e.refund_id = r.id AND e.kind = 'attempt_failed'
          ORDER BY e.id DESC LIMIT 1), '') AS last_error
FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id
WHERE r.state = 'pending' AND NOT ` + sqlRefunded + `
ORDER BY r.id LIMIT $1`

// UnsettledRefunds lists the refunds still waiting for their channel,
// oldest first: finance sees them, and retries the failed ones.
func (s *Service) UnsettledRefunds(ctx context.Context, limit int) ([]UnsettledRefund, error) {
	rows, _ := s.pool.Query(ctx, sqlUnsettledRefunds, limit)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[UnsettledRefund])
	if err != nil {
		return nil, fmt.Errorf("payments: unsettled refunds: %w", err)
	}
	for i := range out {
		out[i].State = RefundPending
		if out[i].Attempts >= MaxRefundAttempts {
			out[i].State = RefundFailed
		}
	}
	return out, nil
}
