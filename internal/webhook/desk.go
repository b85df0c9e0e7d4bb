package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Errors of the staff desk (desk.go).
var (
	// ErrDeliveryNotFound: no such delivery attempt.
	ErrDeliveryNotFound = errors.New("webhook: delivery not found")
	// ErrEndpointDeleted: the platform deleted the endpoint through the API;
	// staff may not turn it back on (the platform registers a new one).
	ErrEndpointDeleted = errors.New("webhook: endpoint was deleted by the platform")
)

// Who turned an endpoint off (webhook_endpoints.disabled_by).
const (
	DisabledByAPI   = "api"   // the platform deleted it (DELETE /v1/accounts/{id}/webhooks/{id})
	DisabledByStaff = "staff" // staff disabled it in the back office
)

// HealthDays is how many days back an endpoint's success rate looks.
const HealthDays = 7

// EndpointHealth is an endpoint as staff see it, with how its deliveries
// went: the share of attempts in the last HealthDays days that were
// delivered, its last success and failure, the failed attempts since its
// last success, and the deliveries waiting in the job queue.
type EndpointHealth struct {
	ID                  int64      `db:"id"`
	AccountID           int64      `db:"account_id"`
	URL                 string     `db:"url"`
	Active              bool       `db:"active"`
	DisabledBy          *string    `db:"disabled_by"`
	DisabledAt          *time.Time `db:"disabled_at"`
	CreatedAt           time.Time  `db:"created_at"`
	Attempts            int64      `db:"attempts"`  // in the last HealthDays days
	Delivered           int64      `db:"delivered"` // of those
	LastSuccess         *time.Time `db:"last_success"`
	LastFailure         *time.Time `db:"last_failure"`
	ConsecutiveFailures int64      `db:"consecutive_failures"`
	Queued              int64      `db:"queued"`
}

// SuccessPercent is Delivered ÷ Attempts in whole percent, rounded down;
// ok is false without attempts in the period.
func (h EndpointHealth) SuccessPercent() (percent int, ok bool) {
	if h.Attempts == 0 {
		return 0, false
	}
	return int(h.Delivered * 100 / h.Attempts), true
}

// The health of endpoints: attempts logged because the endpoint was
// disabled ($2, ErrEndpointInactive's text) are not failures of the
// receiver, so they count nowhere. Queued counts River's jobs for the
// endpoint that have not finished.
const healthColumns = `
SELECT e.id, e.account_id, e.url, e.active, e.disabled_by, e.disabled_at, e.created_at,
       h.attempts, h.delivered, ls.at AS last_success, lf.at AS last_failure,
       (SELECT count(*) FROM webhook_deliveries d
         WHERE d.endpoint_id = e.id AND d.delivered_at IS NULL AND d.error IS DISTINCT FROM $2
           AND d.created_at > coalesce(ls.created_at, '-infinity')) AS consecutive_failures,
       (SELECT count(*) FROM river_job j
         WHERE j.kind = 'webhook_deliver' AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
           AND (j.args->>'endpoint_id')::bigint = e.id) AS queued
FROM webhook_endpoints e
CROSS JOIN LATERAL (
    SELECT count(*) AS attempts, count(d.delivered_at) AS delivered FROM webhook_deliveries d
    WHERE d.endpoint_id = e.id AND d.created_at > $1 AND d.error IS DISTINCT FROM $2) h
LEFT JOIN LATERAL (
    SELECT d.delivered_at AS at, d.created_at FROM webhook_deliveries d
    WHERE d.endpoint_id = e.id AND d.delivered_at IS NOT NULL ORDER BY d.created_at DESC LIMIT 1) ls ON true
LEFT JOIN LATERAL (
    SELECT d.created_at AS at FROM webhook_deliveries d
    WHERE d.endpoint_id = e.id AND d.delivered_at IS NULL AND d.error IS DISTINCT FROM $2
    ORDER BY d.created_at DESC LIMIT 1) lf ON true`

const listHealth = healthColumns + `
WHERE ($3::bigint = 0 OR e.account_id = $3) AND ($4::bigint = 0 OR e.id < $4)
ORDER BY e.id DESC LIMIT $5`

const oneHealth = healthColumns + ` WHERE e.id = $3`

// EndpointFilter narrows the staff desk's endpoint list.
type EndpointFilter struct {
	AccountID int64 // 0: every account
	Before    int64 // keyset cursor: endpoints with a smaller id (0: from the newest)
	Limit     int   // default 50, at most 200
}

// EndpointsHealth lists endpoints of every account (or one), newest first,
// each with its health at now.
func (s *Service) EndpointsHealth(ctx context.Context, f EndpointFilter, now time.Time) ([]EndpointHealth, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	rows, err := s.pool.Query(ctx, listHealth, now.AddDate(0, 0, -HealthDays), ErrEndpointInactive.Error(), f.AccountID, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("webhook: endpoints health: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[EndpointHealth])
	if err != nil {
		return nil, fmt.Errorf("webhook: endpoints health: %w", err)
	}
	return out, nil
}

// EndpointHealthOf is one endpoint with its health at now. It fails with
// ErrNotFound.
func (s *Service) EndpointHealthOf(ctx context.Context, id int64, now time.Time) (EndpointHealth, error) {
	rows, err := s.pool.Query(ctx, oneHealth, now.AddDate(0, 0, -HealthDays), ErrEndpointInactive.Error(), id)
	if err != nil {
		return EndpointHealth{}, fmt.Errorf("webhook: endpoint health: %w", err)
	}
	h, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[EndpointHealth])
	if errors.Is(err, pgx.ErrNoRows) {
		return EndpointHealth{}, ErrNotFound
	}
	if err != nil {
		return EndpointHealth{}, fmt.Errorf("webhook: endpoint health: %w", err)
	}
	return h, nil
}

// Attempt is one logged delivery attempt with what was sent and answered.
// RequestHeaders, ResponseBody and DurationMS are nil for attempts logged
// before they were kept (and the first two for attempts that got no answer).
type Attempt struct {
	ID             int64             `db:"id"`
	EventID        string            `db:"event_id"`
	EventType      string            `db:"event_type"`
	Payload        json.RawMessage   `db:"payload"`
	Replay         int               `db:"replay"`
	Attempt        int               `db:"attempt"`
	StatusCode     *int              `db:"status_code"`
	Error          *string           `db:"error"`
	NextAttemptAt  *time.Time        `db:"next_attempt_at"`
	DeliveredAt    *time.Time        `db:"delivered_at"`
	CreatedAt      time.Time         `db:"created_at"`
	RequestHeaders map[string]string `db:"request_headers"`
	ResponseBody   *string           `db:"response_body"`
	DurationMS     *int              `db:"duration_ms"`
	LastID         int64             `db:"last_id"`
}

// EventDeliveries is one event's attempts to one endpoint, the replays'
// too, newest first.
type EventDeliveries struct {
	EventID   string
	EventType string
	Attempts  []Attempt
	// Replays is how many replays staff asked for (some may still wait).
	Replays int
}

const eventLog = `
WITH ev AS (
    SELECT event_id, max(id) AS last_id FROM webhook_deliveries WHERE endpoint_id = $1
    GROUP BY event_id HAVING $2::bigint = 0 OR max(id) < $2
    ORDER BY last_id DESC LIMIT $3)
SELECT d.id, d.event_id, d.event_type, d.payload, d.replay, d.attempt, d.status_code, d.error,
       d.next_attempt_at, d.delivered_at, d.created_at, d.request_headers, d.response_body, d.duration_ms, ev.last_id
FROM ev JOIN webhook_deliveries d ON d.endpoint_id = $1 AND d.event_id = ev.event_id
ORDER BY ev.last_id DESC, d.replay DESC, d.attempt DESC`

const replayCounts = `
SELECT event_id, max(replay) FROM webhook_replays WHERE endpoint_id = $1 AND event_id = ANY($2) GROUP BY event_id`

// EventLog lists the endpoint's events, the one attempted last first, each
// with every attempt (replays' too); before is a keyset cursor (the
// LastID of the last event of the previous page, 0 for the first page).
// It returns the cursor of the next page (0: none).
func (s *Service) EventLog(ctx context.Context, endpointID, before int64, limit int) ([]EventDeliveries, int64, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	rows, err := s.pool.Query(ctx, eventLog, endpointID, before, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("webhook: event log: %w", err)
	}
	attempts, err := pgx.CollectRows(rows, pgx.RowToStructByName[Attempt])
	if err != nil {
		return nil, 0, fmt.Errorf("webhook: event log: %w", err)
	}
	var out []EventDeliveries
	var ids []string
	for _, a := range attempts {
		if len(out) == 0 || out[len(out)-1].EventID != a.EventID {
			out = append(out, EventDeliveries{EventID: a.EventID, EventType: a.EventType})
			ids = append(ids, a.EventID)
		}
		out[len(out)-1].Attempts = append(out[len(out)-1].Attempts, a)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Attempts[0].LastID
	}
	rows, err = s.pool.Query(ctx, replayCounts, endpointID, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("webhook: event log: %w", err)
	}
	counts := map[string]int{}
	var id string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { counts[id] = n; return nil }); err != nil {
		return nil, 0, fmt.Errorf("webhook: event log: %w", err)
	}
	for i := range out {
		out[i].Replays = counts[out[i].EventID]
	}
	return out, next, nil
}

// Replay is a replay staff asked for: the nth redelivery of an event to
// one endpoint.
type Replay struct {
	ID         int64
	EndpointID int64
	AccountID  int64
	EventID    string
	EventType  string
	Number     int
}

const lockDelivery = `
SELECT d.endpoint_id, d.event_id, d.event_type, d.payload, e.account_id, e.active
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.id = $1
FOR UPDATE OF e`

const insertReplay = `
INSERT INTO webhook_replays (endpoint_id, event_id, replay, delivery_id, requested_by)
SELECT $1, $2, coalesce(max(replay), 0) + 1, $3, $4 FROM webhook_replays WHERE endpoint_id = $1 AND event_id = $2
RETURNING id, replay`

// ReplayTx queues the event of delivery attempt deliveryID again to its
// endpoint, as a new job: the same event id, type, creation time and data
// (so the body is the same JSON, and receivers that dedupe by event id
// drop it if they had it), signed afresh when sent. requestedBy is the
// staff user. It works inside the caller's transaction (which audits it)
// and locks the endpoint's row, so concurrent replays are numbered one
// after another. It fails with ErrDeliveryNotFound, ErrEndpointInactive
// (a disabled endpoint gets nothing, replays included) or a database error.
func (s *Service) ReplayTx(ctx context.Context, tx pgx.Tx, deliveryID, requestedBy int64) (Replay, error) {
	var r Replay
	var payload []byte
	var active bool
	err := tx.QueryRow(ctx, lockDelivery, deliveryID).Scan(&r.EndpointID, &r.EventID, &r.EventType, &payload, &r.AccountID, &active)
	if errors.Is(err, pgx.ErrNoRows) {
		return Replay{}, ErrDeliveryNotFound
	}
	if err != nil {
		return Replay{}, fmt.Errorf("webhook: replay: %w", err)
	}
	if !active {
		return Replay{}, ErrEndpointInactive
	}
	var sent struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt time.Time       `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(payload, &sent); err != nil {
		return Replay{}, fmt.Errorf("webhook: replay: stored payload: %w", err)
	}
	if err := tx.QueryRow(ctx, insertReplay, r.EndpointID, r.EventID, deliveryID, requestedBy).Scan(&r.ID, &r.Number); err != nil {
		return Replay{}, fmt.Errorf("webhook: replay: %w", err)
	}
	args := DeliverArgs{EndpointID: r.EndpointID, EventID: r.EventID, EventType: r.EventType,
		CreatedAt: sent.CreatedAt.UTC(), Data: sent.Data, Replay: r.Number}
	opts := args.InsertOpts()
	opts.MaxAttempts = s.opts.MaxAttempts
	if _, err := s.jobs.InsertTx(ctx, tx, args, &opts); err != nil {
		return Replay{}, fmt.Errorf("webhook: replay: %w", err)
	}
	return r, nil
}

const setActiveByStaff = `
UPDATE webhook_endpoints
SET active = $2, disabled_by = CASE WHEN $2 THEN NULL ELSE 'staff' END,
    disabled_at = CASE WHEN $2 THEN NULL ELSE now() END
WHERE id = $1
RETURNING id, account_id, url, active, created_at`

const lockEndpoint = `SELECT active, disabled_by FROM webhook_endpoints WHERE id = $1 FOR UPDATE`

// SetActiveTx disables (active false) or re-enables an endpoint for staff
// and returns it and whether anything changed; a disabled endpoint gets no
// new events, and its queued deliveries are cancelled when they come up.
// It works inside the caller's transaction (which audits it). It fails with
// ErrNotFound, ErrEndpointDeleted (re-enabling an endpoint the platform
// deleted) or a database error.
func (s *Service) SetActiveTx(ctx context.Context, tx pgx.Tx, endpointID int64, active bool) (Endpoint, bool, error) {
	var was bool
	var by *string
	err := tx.QueryRow(ctx, lockEndpoint, endpointID).Scan(&was, &by)
	if errors.Is(err, pgx.ErrNoRows) {
		return Endpoint{}, false, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, false, fmt.Errorf("webhook: set active: %w", err)
	}
	if active && by != nil && *by == DisabledByAPI {
		return Endpoint{}, false, ErrEndpointDeleted
	}
	changed := was != active
	q, args := setActiveByStaff, []any{endpointID, active}
	if !changed {
		q, args = `SELECT id, account_id, url, active, created_at FROM webhook_endpoints WHERE id = $1`, []any{endpointID}
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return Endpoint{}, false, fmt.Errorf("webhook: set active: %w", err)
	}
	ep, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Endpoint])
	if err != nil {
		return Endpoint{}, false, fmt.Errorf("webhook: set active: %w", err)
	}
	return ep, changed, nil
}
