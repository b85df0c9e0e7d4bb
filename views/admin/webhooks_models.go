package admin

import "time"

// WebhooksView is /admin/webhooks: every endpoint (or one account's), newest
// first, each with its health, a page at a time.
type WebhooksView struct {
	Frame     Frame
	Account   string // the account filter as typed
	Errors    Errors
	Endpoints []WebhookEndpointRow
	NextURL   string
	FirstURL  string
}

// WebhookEndpointRow is one endpoint with its health. State is "active",
// "disabled" (by staff) or "deleted" (by the platform, through the API).
type WebhookEndpointRow struct {
	ID        int64
	AccountID int64
	URL       string
	State     string
	CreatedAt time.Time
	// StateAt is when it was disabled or deleted (nil when active).
	StateAt *time.Time
	Health  WebhookHealth
}

// WebhookHealth is how an endpoint's deliveries went: the share of the last
// 7 days' attempts delivered (HasRate false without attempts), its last
// success and failure, the failed attempts since the last success, and the
// deliveries waiting in the queue.
type WebhookHealth struct {
	HasRate             bool
	SuccessPercent      int
	Attempts, Delivered int64
	LastSuccess         *time.Time
	LastFailure         *time.Time
	ConsecutiveFailures int64
	Queued              int64
}

// WebhookView is /admin/webhooks/{id}: the endpoint, its health, the switch
// and one page of its events with every attempt.
type WebhookView struct {
	Frame    Frame
	Endpoint WebhookEndpointRow
	Events   []WebhookEvent
	Flash    string
	NextURL  string
	FirstURL string
}

// WebhookEvent is one event sent to the endpoint: its attempts newest
// first (replays' too), and the attempt a replay starts from.
type WebhookEvent struct {
	EventID   string
	EventType string
	Replays   int
	// ReplayFrom is the delivery attempt a replay copies (the newest).
	ReplayFrom int64
	Attempts   []WebhookAttempt
}

// WebhookAttempt is one delivery attempt: what was sent, what came back
// and how long it took. Status is 0 without an HTTP answer; Replay is 0 for
// the event's own delivery.
type WebhookAttempt struct {
	ID         int64
	Replay     int
	Attempt    int
	At         time.Time
	Status     int
	Delivered  bool
	Error      string
	DurationMS *int
	NextAt     *time.Time
	Headers    []WebhookHeader // nil: not kept (attempts before headers were logged)
	Body       string
	Response   *string
}

// WebhookHeader is one request header as sent.
type WebhookHeader struct{ Name, Value string }
