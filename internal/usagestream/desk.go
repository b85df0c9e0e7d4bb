package usagestream

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Audited actions of the dead-letter desk.
const (
	ActionReplayed  backoffice.Action = "usage_dead_letter_replayed"  // staff sent a dead-lettered usage event to be charged again
	ActionDiscarded backoffice.Action = "usage_dead_letter_discarded" // staff removed a dead-lettered usage event for good
)

// AuditActions are the actions this package audits (the audit page's filter).
var AuditActions = []backoffice.Action{ActionReplayed, ActionDiscarded}

// DeskRoles may list, replay and discard dead-lettered usage events:
// finance answers for what was (not) billed, admins run the system.
var DeskRoles = []auth.Role{auth.RoleFinance, auth.RoleAdmin}

// Desk is the back office's dead-letter desk: the list, and replay and
// discard, each audited.
type Desk struct {
	stream *Stream
	pool   db.Querier
}

// NewDesk returns the desk over the stream, auditing into pool's database.
func NewDesk(s *Stream, pool db.Querier) *Desk { return &Desk{stream: s, pool: pool} }

// List is one page of dead-lettered events (oldest first, after the
// sequence after), the sequence of the next page (0: none) and how many
// the stream holds. Errors: backoffice.ErrForbidden.
func (d *Desk) List(ctx context.Context, a backoffice.Actor, after uint64, limit int) ([]DeadLetter, uint64, uint64, error) {
	if !auth.HasAnyRole(a.User, DeskRoles...) {
		return nil, 0, 0, backoffice.ErrForbidden
	}
	n, err := d.stream.DeadLetterCount(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	out, next, err := d.stream.DeadLetters(ctx, after, limit)
	return out, next, n, err
}

// Replay sends one dead-lettered event to the usage stream again (Stream.Replay)
// and audits it. Errors: backoffice.ErrForbidden, ErrNotFound, ErrUnavailable.
func (d *Desk) Replay(ctx context.Context, a backoffice.Actor, seq uint64) (DeadLetter, error) {
	return d.act(ctx, a, seq, ActionReplayed, d.stream.Replay)
}

// Discard removes one dead-lettered event for good (Stream.Discard) and
// audits it with the whole event. Errors: backoffice.ErrForbidden,
// ErrNotFound, ErrUnavailable.
func (d *Desk) Discard(ctx context.Context, a backoffice.Actor, seq uint64) (DeadLetter, error) {
	return d.act(ctx, a, seq, ActionDiscarded, d.stream.Discard)
}

// act does the stream operation, then writes the audit row: NATS and the
// database share no transaction, so the row follows what was done.
func (d *Desk) act(ctx context.Context, a backoffice.Actor, seq uint64, action backoffice.Action,
	op func(context.Context, uint64) (DeadLetter, error)) (DeadLetter, error) {
	if !auth.HasAnyRole(a.User, DeskRoles...) {
		return DeadLetter{}, backoffice.ErrForbidden
	}
	dl, err := op(ctx, seq)
	if err != nil {
		return DeadLetter{}, err
	}
	ev := dl.Usage.Event
	ctx = context.WithoutCancel(ctx)
	err = db.InTx(ctx, d.pool, func(tx pgx.Tx) error {
		_, err := backoffice.Audit(ctx, tx, backoffice.Entry{ActorID: a.User.ID, ActorEmail: a.User.Email, IP: a.IP,
			Action: action, Reason: dl.Reason, Detail: map[string]any{"sequence": dl.Seq, "event_id": dl.ID, "reason": dl.Reason,
				"deliveries": dl.Deliveries, "mode": dl.Usage.Mode, "account": ev.Account, "idempotency_key": ev.IdempotencyKey,
				"model": ev.Model, "input_tokens": ev.InputTokens, "output_tokens": ev.OutputTokens,
				"cache_hit_tokens": ev.CacheHitTokens, "requests": ev.Requests, "occurred_at": ev.OccurredAt}})
		return err
	})
	return dl, err
}
