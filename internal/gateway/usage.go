package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/pricing"
)

// UsageEvent is one non-streaming call to charge directly.
type UsageEvent struct {
	IdempotencyKey string    `json:"idempotency_key"`
	Account        string    `json:"account"`
	Model          string    `json:"model"`
	InputTokens    int64     `json:"input_tokens"`
	OutputTokens   int64     `json:"output_tokens"`
	CacheHitTokens int64     `json:"cache_hit_tokens"`
	Requests       int64     `json:"requests"`
	OccurredAt     time.Time `json:"occurred_at"`
	SessionID      string    `json:"session_id"`
	// Project and Key label the call, as on a reservation.
	Project string `json:"project,omitempty"`
	Key     string `json:"key,omitempty"`
}

// UsageBatch is the body of POST /v1/usage/events.
type UsageBatch struct {
	Events []UsageEvent `json:"events"`
}

// Rejection says why one event of a batch was not charged. Code is one of
// the Reject* constants; the web layer fills Message from error.<code>.
type Rejection struct {
	Index   int    `json:"index"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// UsageResult counts a batch's outcome: events charged now, events charged
// before (same idempotency key and body), and the rejected ones.
type UsageResult struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// Rejection codes of usage events.
const (
	RejectInvalid              = "invalid_event"
	RejectTooOld               = "event_too_old"
	RejectInFuture             = "event_in_future"
	RejectUnknownAccount       = "unknown_account"
	RejectUnknownModel         = "unknown_model"
	RejectModelNotAllowed      = "model_not_allowed"
	RejectFrozen               = "account_frozen"
	RejectVerificationRequired = "verification_required"
	RejectIdempotencyConflict  = "idempotency_conflict"
	RejectBudgetExceeded       = "budget_exceeded"
	RejectNoRateCard           = "no_rate_card"
	RejectRetry                = "unavailable"
)

// usageWorkers apply a batch's events' rules and lookups concurrently
// (an account not cached yet costs queries); the charges then go to the
// ledger together (chargeEvents).
const usageWorkers = 16

// IngestUsage charges each event of the batch on its own, at the rate card
// in force when it occurred: one bad event never rejects the others.
// Events older than the late-event window or further ahead than the future
// tolerance are rejected with a reason. Errors (for the whole batch):
// ErrInvalidRequest (empty or more than MaxBatch events).
func (s *Service) IngestUsage(ctx context.Context, key Key, batch UsageBatch) (UsageResult, error) {
	if err := s.CheckUsageBatch(batch); err != nil {
		return UsageResult{}, err
	}
	now := s.now()
	outcome := s.chargeEvents(ctx, len(batch.Events), func(i int) (ledger.Mode, UsageEvent, time.Time) {
		return key.Mode, batch.Events[i], now
	})
	res := UsageResult{Rejected: []Rejection{}}
	for i, o := range outcome {
		switch o {
		case "":
			res.Accepted++
		case UsageDuplicate:
			res.Duplicates++
		default:
			res.Rejected = append(res.Rejected, Rejection{Index: i, Code: o})
		}
	}
	return res, nil
}

// UsageDuplicate is the outcome of an event charged before (same
// idempotency key, same body): nothing more is charged.
const UsageDuplicate = "duplicate"

// CheckUsageBatch checks a batch's shape: 1 to MaxBatch events. Errors:
// ErrInvalidRequest.
func (s *Service) CheckUsageBatch(batch UsageBatch) error {
	if n := len(batch.Events); n == 0 || n > s.opts.MaxBatch {
		return invalid("events", fmt.Sprintf("1 to %d events", s.opts.MaxBatch))
	}
	return nil
}

// CheckUsageEvent applies the rules of an event that need no database —
// its fields, the late-event window and the future tolerance, measured from
// receivedAt (when the platform took the event) — and answers "" or the
// Reject code. ChargeQueued applies the same rules again.
func (s *Service) CheckUsageEvent(ev UsageEvent, receivedAt time.Time) string {
	switch {
	case ev.IdempotencyKey == "" || len(ev.IdempotencyKey) > 200, ev.Account == "", ev.Model == "",
		!pricing.CountsInRange(ev.InputTokens, ev.OutputTokens, ev.CacheHitTokens),
		ev.Requests < 0, ev.Requests > pricing.MaxRequests, ev.OccurredAt.IsZero(),
		!ledger.ValidLabel(ev.Project), !ledger.ValidLabel(ev.Key):
		return RejectInvalid
	case ev.OccurredAt.Before(receivedAt.Add(-s.opts.LateEventWindow)):
		return RejectTooOld
	case ev.OccurredAt.After(receivedAt.Add(s.opts.FutureTolerance)):
		return RejectInFuture
	}
	return ""
}

// QueuedUsage is a usage event taken by the API earlier (queued in a
// stream) with the key mode it came with and when it was received.
type QueuedUsage struct {
	Mode       ledger.Mode `json:"mode"`
	Event      UsageEvent  `json:"event"`
	ReceivedAt time.Time   `json:"received_at"`
}

// ChargeQueued charges queued events exactly as IngestUsage charges a
// batch, concurrently, with each event's window rules measured from when it
// was received. It answers one outcome per event: "" charged now,
// UsageDuplicate, or a Reject code; RejectRetry is the only outcome worth
// trying again (Retryable). A repeat of an event (same idempotency key and
// body) is a duplicate, so redelivery charges once.
func (s *Service) ChargeQueued(ctx context.Context, events []QueuedUsage) []string {
	return s.chargeEvents(ctx, len(events), func(i int) (ledger.Mode, UsageEvent, time.Time) {
		return events[i].Mode, events[i].Event, events[i].ReceivedAt.UTC()
	})
}

// Retryable reports whether an event's outcome may change when it is tried
// again unchanged (the database or a dependency was unavailable).
func Retryable(outcome string) bool { return outcome == RejectRetry }

// chargeEvents charges events 0..n-1 (event gives each one's key mode,
// body and when it was received): first each event's rules and lookups, on
// usageWorkers goroutines, then every priced event in one
// ledger.ChargeMany, so the events of one pool are charged back to back in
// few transactions. It answers one outcome per event (see ChargeQueued).
func (s *Service) chargeEvents(ctx context.Context, n int, event func(i int) (ledger.Mode, UsageEvent, time.Time)) []string {
	outcome := make([]string, n)
	reqs := make([]ledger.ChargeRequest, n)
	priced := make([]bool, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(usageWorkers, n) {
		wg.Go(func() {
			for i := range next {
				mode, ev, now := event(i)
				reqs[i], outcome[i], priced[i] = s.usageCharge(ctx, mode, ev, now)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	var batch []ledger.ChargeRequest
	var of []int
	for i := range n {
		if priced[i] {
			batch = append(batch, reqs[i])
			of = append(of, i)
		}
	}
	if len(batch) == 0 {
		return outcome
	}
	for k, o := range s.ledger.ChargeMany(ctx, batch) {
		outcome[of[k]] = chargeOutcome(o.Result, o.Err)
	}
	return outcome
}

// usageCharge applies one event's rules and prices it: the ledger charge
// to make (priced), or the event's outcome without one — a rejection, or a
// free call's, recorded here.
func (s *Service) usageCharge(ctx context.Context, mode ledger.Mode, ev UsageEvent, now time.Time) (ledger.ChargeRequest, string, bool) {
	var none ledger.ChargeRequest
	if code := s.CheckUsageEvent(ev, now); code != "" {
		return none, code, false
	}
	a, err := s.account(ctx, mode, ev.Account)
	if errors.Is(err, ErrNotFound) {
		return none, RejectUnknownAccount, false
	}
	if err != nil {
		return none, RejectRetry, false
	}
	if err := s.modelAllowed(ctx, a, ev.Model); errors.Is(err, ErrModelNotAllowed) {
		return none, RejectModelNotAllowed, false
	} else if err != nil {
		return none, RejectRetry, false
	}
	q, err := s.quote(ctx, a, ev.Model, ev.OccurredAt)
	switch {
	case errors.Is(err, pricing.ErrNoRateCard):
		return none, RejectNoRateCard, false
	case errors.Is(err, pricing.ErrUnknownModel):
		return none, RejectUnknownModel, false
	case err != nil:
		return none, RejectRetry, false
	}
	price := q.Price
	if ev.Requests == 0 {
		ev.Requests = 1
	}
	amount := pricing.UsageCost(price, ev.InputTokens, ev.OutputTokens, ev.CacheHitTokens, ev.Requests)
	if !amount.IsPositive() { // a free call: nothing to charge, but recorded
		_, _, replayed, err := s.recordFree(ctx, a.acct, freeCall{key: "usage:" + ev.IdempotencyKey, hash: hashJSON(ev),
			model: ev.Model, session: ev.SessionID, version: q.Version, state: freeCommitted, in: ev.InputTokens,
			out: ev.OutputTokens, cache: ev.CacheHitTokens, requests: ev.Requests, outcome: OutcomeCompleted, at: ev.OccurredAt})
		switch {
		case errors.Is(err, ErrIdempotencyConflict):
			return none, RejectIdempotencyConflict, false
		case err != nil:
			return none, RejectRetry, false
		case replayed:
			return none, UsageDuplicate, false
		}
		return none, "", false
	}
	d := UsageDetail{InputTokens: ev.InputTokens, OutputTokens: ev.OutputTokens, CacheHitTokens: ev.CacheHitTokens,
		Requests: ev.Requests, RateCardVersion: q.Version, Outcome: OutcomeCompleted,
		AccountCardID: q.Card, AccountCardVersion: q.CardVersion}
	// Costed at the cost card in force when the call happened, as it is
	// priced: a retry of the event builds the same detail (the charge's
	// idempotency covers it).
	d = s.withCost(ctx, d, s.costVersion(ctx, ev.OccurredAt), ev.Model)
	detail := d.appendJSON(make([]byte, 0, 240))
	return ledger.ChargeRequest{AccountID: a.acct.ID, Amount: amount,
		IdempotencyKey: "usage:" + ev.IdempotencyKey, Model: ev.Model, SessionID: ev.SessionID,
		RequestID: ev.IdempotencyKey, OccurredAt: ev.OccurredAt, Detail: detail, Project: ev.Project, Key: ev.Key}, "", true
}

// chargeOutcome is an event's outcome from its ledger charge.
func chargeOutcome(res ledger.ChargeResult, err error) string {
	switch {
	case errors.Is(err, ledger.ErrIdempotencyConflict):
		return RejectIdempotencyConflict
	case errors.Is(err, ledger.ErrAccountFrozen):
		return RejectFrozen
	case errors.Is(err, ledger.ErrTrial):
		return RejectVerificationRequired
	case errors.Is(err, ledger.ErrBudgetExceeded):
		return RejectBudgetExceeded
	case err != nil:
		return RejectRetry
	case res.Replayed:
		return UsageDuplicate
	}
	return ""
}
