package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// DeliverArgs is the River job delivering one event to one endpoint. It is
// unique by (endpoint, event, replay) across every job state, so an event is
// never queued twice for an endpoint unless staff replay it.
type DeliverArgs struct {
	EndpointID int64           `json:"endpoint_id" river:"unique"`
	EventID    string          `json:"event_id" river:"unique"`
	EventType  string          `json:"event_type"`
	CreatedAt  time.Time       `json:"created_at"`
	Data       json.RawMessage `json:"data"`
	// Replay is 0 for the event's own delivery and n for the nth replay
	// staff asked for (ReplayTx): each replay is a job of its own, with the
	// same event id and body and a fresh signature. Omitted when 0, so the
	// uniqueness of a first delivery is what it always was.
	Replay int `json:"replay,omitempty" river:"unique"`
}

// Kind names the job in River's tables.
func (DeliverArgs) Kind() string { return "webhook_deliver" }

// InsertOpts puts deliveries on the webhook queue, unique per endpoint and
// event.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       jobs.QueueWebhook,
		MaxAttempts: DefaultMaxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: rivertype.JobStates()},
	}
}

// body is the JSON POSTed to the endpoint; it is the same on every attempt.
func (a DeliverArgs) body() ([]byte, error) {
	return json.Marshal(struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt time.Time       `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}{a.EventID, a.EventType, a.CreatedAt, a.Data})
}

// DelivererOptions tune a Deliverer; the zero value is right for production.
type DelivererOptions struct {
	// Backoff is the wait after failed attempt n (1-based) before the next
	// one (default DefaultBackoff).
	Backoff func(attempt int) time.Duration
	// AllowPrivateNetworks lets deliveries reach every special-purpose
	// address (loopback, private, carrier-grade NAT, link local, …: see
	// IsSpecialPurpose). Off by default so an endpoint URL cannot be used
	// to probe our own or the cloud's network; tests and local development
	// turn it on.
	AllowPrivateNetworks bool
	// Timeout per attempt (default 10 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// DefaultBackoff waits 2^(n-1) minutes after attempt n, at most 12 hours.
func DefaultBackoff(attempt int) time.Duration {
	if attempt > 10 {
		return 12 * time.Hour
	}
	return min(time.Minute<<(attempt-1), 12*time.Hour)
}

// Deliverer is the River worker for DeliverArgs. Register it with
// river.AddWorker(workers, webhook.NewDeliverer(pool, opts)).
type Deliverer struct {
	river.WorkerDefaults[DeliverArgs]
	db     db.DBTX
	client *http.Client
	opts   DelivererOptions
}

// NewDeliverer returns the delivery worker reading endpoints from and
// logging attempts to dbtx (the pool).
func NewDeliverer(dbtx db.DBTX, opts DelivererOptions) *Deliverer {
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dialer := &net.Dialer{Timeout: opts.Timeout}
	if !opts.AllowPrivateNetworks {
		dialer.Control = refuseSpecialPurpose
	}
	transport := &http.Transport{
		Proxy:               nil, // the address check must see the real destination
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: opts.Timeout,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Deliverer{db: dbtx, opts: opts, client: &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		// A redirect is a failed attempt: the platform must fix its URL.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var errPrivateAddress = errors.New("webhook: endpoint resolves to a private or special-purpose address")

const loadEndpoint = `SELECT url, secret, active FROM webhook_endpoints WHERE id = $1`

// logAttempt appends one attempt to the append-only webhook_deliveries.
// River numbers a job's attempts itself (it counts each fetch), so an
// attempt is logged once; should the same attempt ever be worked twice, its
// first record stands.
const logAttempt = `
INSERT INTO webhook_deliveries
    (endpoint_id, event_id, event_type, payload, attempt, status_code, error, next_attempt_at, delivered_at,
     replay, request_headers, response_body, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (endpoint_id, event_id, replay, attempt) DO NOTHING`

// ErrEndpointInactive cancels deliveries to a disabled or deleted endpoint.
var ErrEndpointInactive = errors.New("webhook: endpoint is disabled")

// Work makes one delivery attempt and logs it; a failed attempt returns an
// error so River retries it after NextRetry.
func (d *Deliverer) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	a := job.Args
	body, err := a.body()
	if err != nil {
		return river.JobCancel(fmt.Errorf("webhook: body: %w", err))
	}
	var endpointURL, secret string
	var active bool
	err = d.db.QueryRow(ctx, loadEndpoint, a.EndpointID).Scan(&endpointURL, &secret, &active)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !active {
		if err == nil {
			d.log(ctx, job, body, exchange{}, ErrEndpointInactive.Error(), nil, nil)
		}
		return river.JobCancel(ErrEndpointInactive)
	}
	if err != nil {
		return fmt.Errorf("webhook: load endpoint: %w", err)
	}

	ex, sendErr := d.post(ctx, endpointURL, secret, a, body)
	now := time.Now()
	if sendErr == nil {
		d.log(ctx, job, body, ex, "", nil, &now)
		return nil
	}
	var next *time.Time
	if job.Attempt < job.MaxAttempts {
		t := now.Add(d.backoff(job.ID, job.Attempt))
		next = &t
	}
	d.log(ctx, job, body, ex, sendErr.Error(), next, nil)
	if next == nil {
		d.opts.Logger.WarnContext(ctx, "webhook delivery given up",
			slog.Int64("endpoint_id", a.EndpointID), slog.String("event_id", a.EventID),
			slog.Int("attempts", job.Attempt), slog.String("error", sendErr.Error()))
	}
	return sendErr
}

// NextRetry schedules the next attempt by the exponential backoff (the same
// time Work logged as next_attempt_at, to the millisecond).
func (d *Deliverer) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	return time.Now().Add(d.backoff(job.ID, job.Attempt))
}

// Timeout bounds one attempt a little above the HTTP timeout.
func (d *Deliverer) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return d.opts.Timeout + 5*time.Second
}

// backoff adds a ±10 % jitter, fixed per job and attempt, so endpoints that
// failed together do not all retry in the same instant.
func (d *Deliverer) backoff(jobID int64, attempt int) time.Duration {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d", jobID, attempt)
	base := d.opts.Backoff(attempt)
	return base + time.Duration(float64(base)*(float64(h.Sum32()%2001)/10000-0.1))
}

// ResponseExcerptBytes is how much of an endpoint's answer an attempt keeps.
const ResponseExcerptBytes = 512

// exchange is what one attempt sent and got back, for the attempt log.
type exchange struct {
	headers  map[string]string // the request's headers, signature included
	status   *int              // nil: no HTTP answer
	excerpt  *string           // the answer's first ResponseExcerptBytes, as valid UTF-8
	duration *int64            // milliseconds from sending to the end of the excerpt
}

func (d *Deliverer) post(ctx context.Context, endpointURL, secret string, a DeliverArgs, body []byte) (exchange, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpointURL, bytes.NewReader(body))
	if err != nil {
		return exchange{}, fmt.Errorf("webhook: request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Credits-Webhooks/1")
	req.Header.Set("Credits-Event-Id", a.EventID)
	req.Header.Set("Credits-Event-Type", a.EventType)
	req.Header.Set(SignatureHeader, Sign(secret, time.Now(), body))
	ex := exchange{headers: map[string]string{}}
	for k := range req.Header {
		ex.headers[k] = req.Header.Get(k)
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		ex.duration = ptr(time.Since(start).Milliseconds())
		return ex, fmt.Errorf("webhook: post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseExcerptBytes))
	ex.duration = ptr(time.Since(start).Milliseconds())
	text := strings.ReplaceAll(strings.ToValidUTF8(string(snippet), "\uFFFD"), "\x00", "")
	ex.excerpt = &text
	status := resp.StatusCode
	ex.status = &status
	if status < 200 || status > 299 {
		return ex, fmt.Errorf("webhook: endpoint answered %d: %s", status, bytes.TrimSpace(snippet))
	}
	return ex, nil
}

func ptr[T any](v T) *T { return &v }

func (d *Deliverer) log(ctx context.Context, job *river.Job[DeliverArgs], body []byte, ex exchange, errText string, next, delivered *time.Time) {
	a := job.Args
	var errCol *string
	if errText != "" {
		errCol = &errText
	}
	var headers []byte
	if ex.headers != nil {
		headers, _ = json.Marshal(ex.headers)
	}
	if _, err := d.db.Exec(ctx, logAttempt, a.EndpointID, a.EventID, a.EventType, body, job.Attempt,
		ex.status, errCol, next, delivered, a.Replay, headers, ex.excerpt, ex.duration); err != nil {
		d.opts.Logger.ErrorContext(ctx, "webhook: cannot log delivery attempt",
			slog.Int64("endpoint_id", a.EndpointID), slog.String("event_id", a.EventID), slog.String("error", err.Error()))
	}
}
