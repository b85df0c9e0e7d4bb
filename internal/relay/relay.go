// Package relay is the OpenAI-compatible gateway (`credits gateway`): a
// stateless process that takes OpenAI API calls made with a customer's API
// key (sk-…), bills each one through the gateway domain (rate limit →
// reserve → forward → settle; internal/gateway, internal/ledger) and
// forwards it to one of the upstreams staff configure, failing over before
// the first byte and skipping an upstream that keeps failing (a circuit
// breaker).
//
// # Billing a call
//
// The hold is the model's price for the input tokens estimated with the
// o200k_base tokenizer (tiktoken-go/tokenizer, vocabularies embedded) plus
// max_tokens (or Options.DefaultMaxOutput) output tokens. The charge is the
// upstream's reported usage: streaming calls are forwarded with
// stream_options.include_usage forced on, and the usage chunk is taken out
// again for a client that did not ask for it. Tokens are counted here only
// when the upstream reports none (a stream cut short): the input estimate
// and the output text as the tokenizer counts it. cached_tokens are priced at
// the model's cache-hit rate.
//
// Outcomes: a client that goes away mid-stream does not stop the call: the
// upstream is read to its end (bounded by the upstream's timeout) and what it
// produced is charged; an upstream error before any output charges nothing
// and releases the hold; an upstream cut after partial output charges what
// was produced; only a gateway killed mid-stream, or a settle still failing
// after Options.SettleRetry (Unsettled), leaves the hold to the ledger's
// reservation sweep (RESERVATION_TTL, RESERVATION_EXPIRED_POLICY). A charge
// never exceeds what was produced and a hold is never left behind.
//
// While no database primary answers (a failover), a call that needs a hold
// answers 503 with Retry-After and reaches no upstream, reads stand in on
// the standby (Options.Reader), and a settle is tried again until a
// primary takes it (Options.SettleRetry). A reserve whose answer was lost
// (its connection cut, or our context ended, after it may have reached the
// server) answers 503 too, and is made again in the background with the
// same idempotency key, so the gateway learns the hold it may have made,
// and released: the sweep never gets it, so its policy never charges a
// call that did not go upstream.
package relay

import (
	"errors"
	"time"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Errors returned by this package.
var (
	// ErrInvalidKey: no API key, an unknown, revoked or expired one.
	ErrInvalidKey = errors.New("relay: invalid API key")
	// ErrNotFound: no such key (of this account) or upstream.
	ErrNotFound = errors.New("relay: not found")
	// ErrKeyRevoked: the key was already revoked.
	ErrKeyRevoked = errors.New("relay: API key already revoked")
	// ErrModelNotAllowed: the key's allow-list does not name the model.
	ErrModelNotAllowed = errors.New("relay: model not allowed for this key")
	// ErrModelNotFound: no upstream serves the model, or it has no price.
	ErrModelNotFound = errors.New("relay: model not found")
	// ErrUpstream: every upstream failed before answering.
	ErrUpstream = errors.New("relay: upstream unavailable")
	// ErrBadRequest: the request body is not a valid call.
	ErrBadRequest = errors.New("relay: invalid request")
	// ErrTooLarge: the request body is over Options.MaxRequestBytes.
	ErrTooLarge = errors.New("relay: request body too large")
)

// Options are the gateway's settings; zero values take the defaults named.
type Options struct {
	// Now is the clock (time.Now).
	Now func() time.Time
	// Reader, when set, sends the key list of a portal page pinned to the
	// standby there (db.Reader); authentication and revocation read the
	// primary. The gateway pins each call with it (Handler), so while no
	// primary answers its reads stand in on the standby.
	Reader *db.Reader
	// KeyCacheTTL is how long a verified API key is trusted before it is
	// read again (1 s): a revoked key stops working on every gateway
	// process within it.
	KeyCacheTTL time.Duration
	// UpstreamTTL is how long the upstream list is cached (2 s).
	UpstreamTTL time.Duration
	// MaxRequestBytes bounds a request body (4 MiB).
	MaxRequestBytes int64
	// MaxResponseBytes bounds a non-streaming upstream answer and the text
	// of a stream kept for counting (16 MiB).
	MaxResponseBytes int64
	// DefaultMaxOutput is the output tokens held when a call names no
	// max_tokens (4096); OutputDefaults overrides it per public model.
	DefaultMaxOutput int64
	OutputDefaults   map[string]int64
	// BreakerFailures is how many consecutive failures open an upstream's
	// circuit (5); BreakerOpen is how long it stays open (30 s).
	BreakerFailures uint32
	BreakerOpen     time.Duration
	// NoSpeculation turns off the speculative start: by default a call of
	// an account whose last reserve succeeded within SpeculationWindow (a
	// minute) is sent upstream while its hold is being reserved, so the
	// reserve's round trip hides behind the upstream's first token. Nothing
	// reaches the client before the hold is made; a call whose reserve is
	// refused is cancelled upstream at once (what the upstream processed by
	// then is the platform's cost, never the customer's).
	NoSpeculation     bool
	SpeculationWindow time.Duration
	// SettleRetry is how long a commit or release that finds no primary
	// (a failover), or the release of a reserve whose answer was lost, is
	// tried again in the background before the hold is left to the
	// ledger's sweep (2 min).
	SettleRetry time.Duration
	// Observe, when set, is told of every stream that reached its client
	// how long the gateway itself kept it from its first token (Overhead).
	Observe func(Overhead)
}

// Overhead is the gateway's own part of a stream's time to first token,
// stage by stage. What the upstream takes is not in it; the hold's wait
// is counted whole even where an upstream that sends its headers early
// would have hidden part of it behind its first token (so it never reads
// low).
type Overhead struct {
	// BeforeUpstream: from the request's arrival until the upstream that
	// answered had it written (key, body, rate limit, failed upstreams).
	BeforeUpstream time.Duration
	// HoldWait: the upstream had answered and the hold was not yet made
	// (a speculative start's reserve still running).
	HoldWait time.Duration
	// FirstEvent: from reading the upstream's first event to writing it to
	// the client.
	FirstEvent time.Duration
}

// Total is the gateway's whole part of the time to first token.
func (o Overhead) Total() time.Duration { return o.BeforeUpstream + o.HoldWait + o.FirstEvent }

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeyCacheTTL <= 0 {
		o.KeyCacheTTL = time.Second
	}
	if o.UpstreamTTL <= 0 {
		o.UpstreamTTL = 2 * time.Second
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 4 << 20
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 16 << 20
	}
	if o.DefaultMaxOutput <= 0 {
		o.DefaultMaxOutput = 4096
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = 30 * time.Second
	}
	if o.SettleRetry <= 0 {
		o.SettleRetry = 2 * time.Minute
	}
	if o.SpeculationWindow <= 0 {
		o.SpeculationWindow = time.Minute
	}
}
