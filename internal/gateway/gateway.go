// Package gateway is the domain behind the JSON API an AI platform's gateway
// calls on every model call: service keys, account upserts with their
// limits, the reservation flow (rate limit → verification gate → rate card →
// ledger), usage batches, and the low-balance and expiry alerts.
//
// # Hot path
//
// POST /v1/reservations and its commit run on every model call, so each
// makes exactly one ledger call and no other database round trip for a
// verified account: the service key, the account (with its limits and
// verification) and the rate card are cached in memory for a few seconds,
// and the reservation id handed to the client is a signed token carrying
// the ledger reservation, the account, the rate-card version and the model
// (see reservationToken), so a commit needs no lookup either.
//
// # Verification gate
//
// An account that has not passed real-name verification (see Verifier)
// gets ratelimit.TrialLimit (capped by its own limits). It is also in the
// ledger's trial (ledger.Options.TrialCap, TRIAL_CREDIT_CAP): it may spend
// only granted credit (promo, plan, grace), and what it was charged plus
// what its open reservations hold may not pass the cap. The ledger checks
// and counts that in the transaction of each hold or charge, so it holds
// under any concurrency; a reservation or usage charge it refuses
// (ledger.ErrTrial) is answered ErrVerificationRequired, and a commit beyond
// its hold is charged up to the cap and the rest reported unpaid. A
// verification recorded through the Verifier ends the trial.
//
// # Alerts
//
// See alerts.go: a transactional outbox over the ledger's events (ledger.EventFeed).
package gateway

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

// Errors returned by this package (ledger and pricing errors pass through
// wrapped, so errors.Is(err, ledger.ErrInsufficientCredits) still works).
var (
	// ErrUnauthorized: no service key, an unknown one, or a revoked one.
	ErrUnauthorized = errors.New("gateway: invalid or missing service key")
	// ErrNotFound: no such account or reservation in the key's mode, or
	// no such service key.
	ErrNotFound = errors.New("gateway: not found")
	// ErrKeyRevoked: the service key was already revoked.
	ErrKeyRevoked = errors.New("gateway: service key already revoked")
	// ErrRateLimited: the account's RPM or TPM bucket is empty; the
	// *RateLimitedError carrying it says when to retry.
	ErrRateLimited = errors.New("gateway: rate limited")
	// ErrEnterpriseRateLimited is ErrRateLimited caused by the enterprise's
	// bucket, which all its sub-accounts' calls share.
	ErrEnterpriseRateLimited = fmt.Errorf("%w by the enterprise's limit", ErrRateLimited)
	// ErrVerificationRequired: the account is unverified and the call needs
	// paid credit or would pass the trial credit cap.
	ErrVerificationRequired = errors.New("gateway: real-name verification required")
	// ErrInvalidRequest: a field is missing or out of range; the
	// *fielderr.Errors wrapped with it names the field (code "invalid" with
	// the argument "reason", or the code of a key form field).
	ErrInvalidRequest = errors.New("gateway: invalid request")
	// ErrAccountConflict: PUT /v1/accounts asked to change an account's kind
	// or parent, which are fixed at creation.
	ErrAccountConflict = errors.New("gateway: account kind or parent cannot change")
	// ErrIdempotencyConflict: the idempotency key was used with another body.
	ErrIdempotencyConflict = errors.New("gateway: idempotency key reused with a different body")
	// ErrModelNotAllowed: the account's model allow-list, or its
	// enterprise's, does not name the model (internal/access). Waiting
	// does not change it: not retryable.
	ErrModelNotAllowed = errors.New("gateway: model not allowed for this account")
)

// RateLimitedError is ErrRateLimited with the wait before a retry and the
// bucket that refused: the account's own, or (Enterprise) the enterprise's
// that a sub-account's calls also count against.
type RateLimitedError struct {
	RetryAfter time.Duration
	Enterprise bool
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%v: retry after %s", e.Unwrap(), e.RetryAfter)
}

// Unwrap returns ErrEnterpriseRateLimited or ErrRateLimited.
func (e *RateLimitedError) Unwrap() error {
	if e.Enterprise {
		return ErrEnterpriseRateLimited
	}
	return ErrRateLimited
}

// RetryAfterSeconds is the Retry-After header value: whole seconds, at least 1.
func (e *RateLimitedError) RetryAfterSeconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// invalid is ErrInvalidRequest with the failure of field: code "invalid"
// and the reason, in English, for API clients and logs.
func invalid(field, reason string) error { return invalidCode(field, "invalid", reason) }

// invalidCode is invalid with a field code of its own.
func invalidCode(field, code, reason string, args ...string) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidRequest, reason, fielderr.One("gateway", field, code, append(args, "reason", reason)...))
}

// failures collects every failed field of one request, so that the answer
// names them all at once, each with its reason, as the forms do.
type failures struct {
	fields  *fielderr.Errors
	reasons []string
}

// check records field as failed with reason unless ok.
func (f *failures) check(ok bool, field, reason string) {
	if ok {
		return
	}
	if f.fields == nil {
		f.fields = fielderr.New("gateway")
	}
	if f.fields.Code(field) == "" {
		f.fields.Add(field, "invalid", "reason", reason)
		f.reasons = append(f.reasons, field+": "+reason)
	}
}

// err is ErrInvalidRequest naming every failed field, or nil.
func (f *failures) err() error {
	if f.fields.Empty() {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrInvalidRequest, strings.Join(f.reasons, "; "), f.fields)
}

// FieldCodes lists every field code this package reports, so the web layer
// can check each has a message.
var FieldCodes = []string{"invalid", "required", "too_long", "invalid_key_mode"}

// Options are the gateway's settings; zero values take the defaults named.
type Options struct {
	// Now is the clock (time.Now).
	Now func() time.Time
	// Secret signs reservation ids (required; the server's session secret).
	Secret []byte
	// ReservationTTL is how long a reservation holds credit (5 minutes).
	ReservationTTL time.Duration
	// LateEventWindow: usage events older than this are rejected (7 days).
	LateEventWindow time.Duration
	// FutureTolerance: usage events further ahead are rejected (5 minutes).
	FutureTolerance time.Duration
	// DefaultLimit applies to verified accounts without their own limits
	// (ratelimit.DefaultLimit); TrialLimit caps unverified ones
	// (ratelimit.TrialLimit).
	DefaultLimit, TrialLimit ratelimit.Limit
	// CacheTTL is how long keys, accounts and verification are cached (5 s).
	CacheTTL time.Duration
	// PortalBaseURL prefixes portal links: <PortalBaseURL>/portal/link/<token>.
	PortalBaseURL string
	// PortalLinkTTL is a portal link's lifetime (15 minutes).
	PortalLinkTTL time.Duration
	// MaxBatch is the most usage events one batch may carry (500).
	MaxBatch int
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = 5 * time.Minute
	}
	if o.LateEventWindow <= 0 {
		o.LateEventWindow = 7 * 24 * time.Hour
	}
	if o.FutureTolerance <= 0 {
		o.FutureTolerance = 5 * time.Minute
	}
	if o.DefaultLimit == (ratelimit.Limit{}) {
		o.DefaultLimit = ratelimit.DefaultLimit
	}
	if o.TrialLimit == (ratelimit.Limit{}) {
		o.TrialLimit = ratelimit.TrialLimit
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Second
	}
	if o.PortalLinkTTL <= 0 {
		o.PortalLinkTTL = 15 * time.Minute
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 500
	}
}

// InvalidField returns ErrInvalidRequest naming field, for the web layer's
// body-parsing failures.
func InvalidField(field, reason string) error { return invalid(field, reason) }
