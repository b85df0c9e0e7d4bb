package admin

import "time"

// UsageDLQView is /admin/usage-dlq: the usage events the queue could not
// charge (usage through NATS JetStream), oldest first, with replay and
// discard. Configured is false when the server runs without NATS_URL.
type UsageDLQView struct {
	Frame      Frame
	Configured bool
	Flash      string
	Total      uint64
	Rows       []UsageDLQRow
	NextURL    string
	FirstURL   string
}

// UsageDLQRow is one dead-lettered event. Reason is a rejection code
// (admin.usage_dlq.reason.<code> names it).
type UsageDLQRow struct {
	Seq        uint64
	Reason     string
	Deliveries uint64
	FailedAt   time.Time
	Live       bool // the key's mode: live, or test (sandbox)
	Account    string
	Model      string
	Key        string // the event's idempotency key
	Input      int64
	Output     int64
	CacheHit   int64
	OccurredAt time.Time
	Decoded    bool // false: the message was not a usage event
}
