// Package webhook tells platforms about their ledger accounts over HTTP:
// each account registers endpoints, and every event (a low balance, a lot
// about to expire …) is POSTed to each active endpoint as JSON, signed,
// retried with exponential backoff, and every attempt is logged in
// webhook_deliveries.
//
// # What a receiver gets
//
//	POST <endpoint url>
//	Content-Type: application/json
//	Credits-Event-Id: evt_…
//	Credits-Event-Type: balance.low
//	Credits-Signature: t=1763730000,v1=5f1c…
//
//	{"id":"evt_…","type":"balance.low","created_at":"2026-11-21T13:00:00Z","data":{…}}
//
// The body is byte-for-byte the same on every retry; only t and v1 change.
// v1 is the lowercase hex HMAC-SHA256, keyed with the endpoint's secret
// (the whsec_… string shown once at creation, used as is), of the
// timestamp, a dot, and the raw body: "<t>.<body>". Receivers verify with
// Verify (or the same few lines in their language), reject timestamps more
// than a few minutes away, answer 2xx quickly, and treat the event id as an
// idempotency key: delivery is at least once.
//
// # Retries
//
// Any answer other than 2xx (redirects included), a refused connection or a
// 10-second timeout is a failed attempt. Attempt n+1 is made about
// 2^(n-1) minutes after attempt n (±10 %, capped at 12 hours); after
// MaxAttempts attempts (12 by default, about a day) the delivery is given up.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// Errors returned by this package's operations.
var (
	ErrNotFound     = errors.New("webhook: endpoint not found")
	ErrInvalidURL   = errors.New("webhook: endpoint URL must be an absolute http(s) URL")
	ErrInvalidEvent = errors.New("webhook: event needs an account, a type and a JSON payload")
)

// DefaultMaxAttempts is how many times a delivery is tried before giving up.
const DefaultMaxAttempts = 12

// Endpoint is a URL an account receives its events at. The secret is not
// part of it: it is returned once, by CreateEndpoint and RotateSecret.
type Endpoint struct {
	ID        int64     `db:"id"`
	AccountID int64     `db:"account_id"`
	URL       string    `db:"url"`
	Active    bool      `db:"active"`
	CreatedAt time.Time `db:"created_at"`
}

// Delivery is one logged attempt to deliver an event to an endpoint.
type Delivery struct {
	ID            int64           `db:"id"`
	EndpointID    int64           `db:"endpoint_id"`
	EventID       string          `db:"event_id"`
	EventType     string          `db:"event_type"`
	Payload       json.RawMessage `db:"payload"`
	Attempt       int             `db:"attempt"`
	StatusCode    *int            `db:"status_code"`
	Error         *string         `db:"error"`
	NextAttemptAt *time.Time      `db:"next_attempt_at"`
	DeliveredAt   *time.Time      `db:"delivered_at"`
	CreatedAt     time.Time       `db:"created_at"`
}

// Event is something that happened to a ledger account.
type Event struct {
	// ID identifies the event to receivers; an event with the same ID is
	// delivered at most once per endpoint, so callers that may run twice
	// (a retried transaction, a sweep) should derive it from what caused
	// the event, e.g. "evt_low_balance_<account>_<topup entry>_20".
	// Empty: a random evt_<uuid>.
	ID        string
	AccountID int64
	Type      string // e.g. "balance.low", "lot.expiring"
	Payload   any    // marshalled to JSON as the body's "data"
}

// Options tune a Service.
type Options struct {
	// MaxAttempts per delivery (default DefaultMaxAttempts).
	MaxAttempts int
	// RequireHTTPS refuses plain-http endpoint URLs (set in production).
	RequireHTTPS bool
}

// Service registers endpoints and enqueues deliveries.
type Service struct {
	pool db.Querier
	jobs jobs.Inserter
	opts Options
}

// NewService returns a Service storing endpoints in pool and enqueueing
// deliveries with ins (the River client).
func NewService(pool db.Querier, ins jobs.Inserter, opts Options) *Service {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	return &Service{pool: pool, jobs: ins, opts: opts}
}

const insertEndpoint = `
INSERT INTO webhook_endpoints (account_id, url, secret)
VALUES ($1, $2, $3)
RETURNING id, account_id, url, active, created_at`

// CreateEndpoint registers url for the account's events and returns the
// endpoint with its signing secret, which is never shown again. It fails
// with ErrInvalidURL.
func (s *Service) CreateEndpoint(ctx context.Context, accountID int64, rawURL string) (Endpoint, string, error) {
	if err := s.checkURL(rawURL); err != nil {
		return Endpoint{}, "", err
	}
	secret := newSecret()
	rows, err := s.pool.Query(ctx, insertEndpoint, accountID, rawURL, secret)
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("webhook: create endpoint: %w", err)
	}
	ep, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Endpoint])
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("webhook: create endpoint: %w", err)
	}
	return ep, secret, nil
}

func (s *Service) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ErrInvalidURL
	}
	if s.opts.RequireHTTPS && u.Scheme != "https" {
		return fmt.Errorf("%w (https required)", ErrInvalidURL)
	}
	return nil
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

const listEndpoints = `
SELECT id, account_id, url, active, created_at
FROM webhook_endpoints WHERE account_id = $1 ORDER BY id`

// Endpoints lists the account's endpoints, active or not, oldest first.
func (s *Service) Endpoints(ctx context.Context, accountID int64) ([]Endpoint, error) {
	rows, err := s.pool.Query(ctx, listEndpoints, accountID)
	if err != nil {
		return nil, fmt.Errorf("webhook: list endpoints: %w", err)
	}
	eps, err := pgx.CollectRows(rows, pgx.RowToStructByName[Endpoint])
	if err != nil {
		return nil, fmt.Errorf("webhook: list endpoints: %w", err)
	}
	return eps, nil
}

// setActive is the platform's own switch (the API): turning an endpoint off
// is deleting it, which staff may not undo (desk.go).
const setActive = `
UPDATE webhook_endpoints
SET active = $3, disabled_by = CASE WHEN $3 THEN NULL ELSE 'api' END,
    disabled_at = CASE WHEN $3 THEN NULL ELSE coalesce(disabled_at, now()) END
WHERE id = $1 AND account_id = $2`

// SetActive enables or disables an endpoint of the account for the
// platform (the API); a disabled endpoint gets no new events and its
// pending retries are dropped. It fails with ErrNotFound.
func (s *Service) SetActive(ctx context.Context, accountID, endpointID int64, active bool) error {
	tag, err := s.pool.Exec(ctx, setActive, endpointID, accountID, active)
	if err != nil {
		return fmt.Errorf("webhook: set active: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

const rotateSecret = `UPDATE webhook_endpoints SET secret = $3 WHERE id = $1 AND account_id = $2`

// RotateSecret replaces the endpoint's signing secret and returns the new
// one (shown once); deliveries from now on are signed with it. It fails
// with ErrNotFound.
func (s *Service) RotateSecret(ctx context.Context, accountID, endpointID int64) (string, error) {
	secret := newSecret()
	tag, err := s.pool.Exec(ctx, rotateSecret, endpointID, accountID, secret)
	if err != nil {
		return "", fmt.Errorf("webhook: rotate secret: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return "", ErrNotFound
	}
	return secret, nil
}

const listDeliveries = `
SELECT d.id, d.endpoint_id, d.event_id, d.event_type, d.payload, d.attempt, d.status_code,
       d.error, d.next_attempt_at, d.delivered_at, d.created_at
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE e.account_id = $1 AND ($2 = 0 OR d.endpoint_id = $2)
ORDER BY d.id DESC LIMIT $3`

// Deliveries lists the account's latest delivery attempts, newest first,
// for one endpoint (endpointID > 0) or all of them.
func (s *Service) Deliveries(ctx context.Context, accountID, endpointID int64, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, listDeliveries, accountID, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("webhook: list deliveries: %w", err)
	}
	ds, err := pgx.CollectRows(rows, pgx.RowToStructByName[Delivery])
	if err != nil {
		return nil, fmt.Errorf("webhook: list deliveries: %w", err)
	}
	return ds, nil
}

// EnqueueTx delivers a new event of eventType with payload (any value that
// marshals to JSON) to each of the account's active endpoints, once tx
// commits; it works inside the caller's transaction and returns the
// generated event id. It fails with ErrInvalidEvent or a database error.
func (s *Service) EnqueueTx(ctx context.Context, tx pgx.Tx, accountID int64, eventType string, payload any) (string, error) {
	ev := Event{AccountID: accountID, Type: eventType, Payload: payload}
	if err := s.EnqueueEventTx(ctx, tx, &ev); err != nil {
		return "", err
	}
	return ev.ID, nil
}

const fanOut = `
SELECT e.id FROM webhook_endpoints e
WHERE e.account_id = $1 AND e.active
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.event_id = $2)
ORDER BY e.id`

// EnqueueEventTx is EnqueueTx with a caller-chosen event id (filled in
// when empty): an event already queued or delivered to an endpoint is not
// queued for it again. It works inside the caller's transaction and fails
// with ErrInvalidEvent or a database error.
func (s *Service) EnqueueEventTx(ctx context.Context, tx pgx.Tx, ev *Event) error {
	if ev.AccountID == 0 || strings.TrimSpace(ev.Type) == "" {
		return ErrInvalidEvent
	}
	data, err := json.Marshal(ev.Payload)
	if err != nil || ev.Payload == nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if ev.ID == "" {
		ev.ID = "evt_" + uuid.NewString()
	}
	rows, err := tx.Query(ctx, fanOut, ev.AccountID, ev.ID)
	if err != nil {
		return fmt.Errorf("webhook: enqueue: %w", err)
	}
	endpoints, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("webhook: enqueue: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, id := range endpoints {
		args := DeliverArgs{EndpointID: id, EventID: ev.ID, EventType: ev.Type, CreatedAt: now, Data: data}
		opts := args.InsertOpts()
		opts.MaxAttempts = s.opts.MaxAttempts
		if _, err := s.jobs.InsertTx(ctx, tx, args, &opts); err != nil {
			return fmt.Errorf("webhook: enqueue: %w", err)
		}
	}
	return nil
}
