// Package ratelimit enforces requests-per-minute and tokens-per-minute limits
// per key (an account or sub-account) with token buckets. The gateway API
// checks it before any credit check and answers 429 with Retry-After.
//
// Two implementations share one behaviour: Memory (in-process, the default)
// and Redis (REDIS_URL set), which lets several server instances enforce one
// limit. Open picks between them.
//
// Bucket rules, for each dimension whose limit is positive:
//   - The bucket holds at most one minute's allowance (RPM requests, TPM
//     tokens) and refills continuously at that allowance per minute; a new
//     key starts full, so a burst of a full minute is allowed.
//   - A call is allowed only if every bucket can pay: one request, and
//     `tokens` tokens. Then both are debited together; otherwise neither is.
//   - A call counted against several keys at once (AllowAll: a sub-account
//     and its enterprise) is allowed only if every key's buckets can pay;
//     then all are debited, otherwise none is.
//   - A call asking for more tokens than TPM is allowed when the token bucket
//     is full and leaves it in debt, so it is not refused forever and the
//     following calls wait for the debt to refill.
//   - A limit of zero (or less) means unlimited in that dimension.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limit is the allowance for one key. Zero means unlimited in that dimension.
type Limit struct {
	RPM int64 // requests per minute
	TPM int64 // tokens per minute
}

// Unlimited reports whether neither dimension is limited.
func (l Limit) Unlimited() bool { return l.RPM <= 0 && l.TPM <= 0 }

// Decision is the answer for one call. When Allowed is false, RetryAfter is
// how long until the same call would be allowed (send it, rounded up to whole
// seconds, in the Retry-After header), and Refused is the index, among the
// checks given to AllowAll, of the key that needs that wait (0 for Allow).
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration
	Refused    int
}

// Check is one key and its limit, for AllowAll.
type Check struct {
	Key   string
	Limit Limit
}

// Limiter decides whether a call may go ahead, and if so counts it.
//
// tokens is the call's token estimate for the TPM bucket (for a reservation:
// max_input_tokens + max_output_tokens); zero checks only RPM.
type Limiter interface {
	// Allow decides for a call counted against one key.
	Allow(ctx context.Context, key string, limit Limit, tokens int64) (Decision, error)
	// AllowAll decides for a call counted against every key of checks at
	// once: allowed only if all of their buckets can pay, and then all are
	// debited; when refused, none is, and the Decision names the key with
	// the longest wait. The keys must differ.
	AllowAll(ctx context.Context, tokens int64, checks ...Check) (Decision, error)
}

var (
	// ErrEmptyKey is returned for an empty key: limiting "" would lump
	// unrelated callers into one bucket.
	ErrEmptyKey = errors.New("ratelimit: empty key")
	// ErrDuplicateKey is returned when AllowAll is given one key twice,
	// which would count the call twice against it.
	ErrDuplicateKey = errors.New("ratelimit: a key checked twice in one call")
)

// validate checks AllowAll's keys.
func validate(checks []Check) error {
	for i, c := range checks {
		if c.Key == "" {
			return ErrEmptyKey
		}
		for _, d := range checks[:i] {
			if d.Key == c.Key {
				return ErrDuplicateKey
			}
		}
	}
	return nil
}

// Open returns, when redisURL is set, the Redis limiter behind a Fallback to
// in-process buckets during a Redis outage (checking that the server answers
// at start: a wrong REDIS_URL stops the process instead of silently
// limiting per instance), else an in-process Memory limiter. close releases
// it.
//
// Errors: an invalid URL or an unreachable server, wrapped with "ratelimit:".
func Open(ctx context.Context, redisURL string, logger *slog.Logger) (l Limiter, close func() error, err error) {
	if redisURL == "" {
		return NewMemory(MemoryOptions{}), func() error { return nil }, nil
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("ratelimit: REDIS_URL is not a valid redis:// URL: %w", err)
	}
	// A rate-limit check sits in front of every reservation: a Redis that
	// stops answering must cost a call half a second once, not seconds on
	// every call (go-redis's defaults: 3 s reads, 3 retries).
	opts.DialTimeout = 500 * time.Millisecond
	opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	opts.MaxRetries = -1
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("ratelimit: cannot reach Redis at %s (%v): start it or unset REDIS_URL", opts.Addr, err)
	}
	f := NewFallback(NewRedis(client, DefaultPrefix), NewMemory(MemoryOptions{}),
		func(ctx context.Context) error { return client.Ping(ctx).Err() }, FallbackOptions{Logger: logger})
	return f, func() error { f.Close(); return client.Close() }, nil
}

const minute = float64(time.Minute)

// bucket is one key's state: the two levels at time last (unix nanoseconds).
type bucket struct {
	reqs, toks float64
	last       int64
	fullAt     int64 // when both buckets will be full again (idle = evictable)
	limit      Limit // the limit the levels were computed for
}

// take applies the bucket rules at now for a call against this bucket
// alone; b is updated in place (refilled, and debited when allowed).
func (b *bucket) take(limit Limit, tokens int64, now int64) Decision {
	b.refill(limit, now)
	wait := b.wait(limit, tokens)
	if wait == 0 {
		b.debit(limit, tokens)
	}
	b.settle(limit, now)
	return decision(wait, 0)
}

// refill brings the levels to now under limit.
func (b *bucket) refill(limit Limit, now int64) {
	// A dimension that was unlimited starts full when a limit appears.
	if b.limit.RPM <= 0 && limit.RPM > 0 {
		b.reqs = float64(limit.RPM)
	}
	if b.limit.TPM <= 0 && limit.TPM > 0 {
		b.toks = float64(limit.TPM)
	}
	b.limit = limit
	elapsed := float64(max(0, now-b.last))
	if limit.RPM > 0 {
		rpm := float64(limit.RPM)
		b.reqs = math.Min(rpm, b.reqs+elapsed*rpm/minute)
	}
	if limit.TPM > 0 {
		tpm := float64(limit.TPM)
		b.toks = math.Min(tpm, b.toks+elapsed*tpm/minute)
	}
	b.last = now
}

// wait is how long (nanoseconds) until the refilled bucket can pay for the
// call; zero when it can now.
func (b *bucket) wait(limit Limit, tokens int64) float64 {
	var wait float64
	if limit.RPM > 0 && b.reqs < 1 {
		wait = (1 - b.reqs) * minute / float64(limit.RPM)
	}
	if limit.TPM > 0 && tokens > 0 {
		tpm := float64(limit.TPM)
		need := math.Min(float64(tokens), tpm)
		if b.toks < need {
			wait = math.Max(wait, (need-b.toks)*minute/tpm)
		}
	}
	return wait
}

// debit takes the call from the bucket.
func (b *bucket) debit(limit Limit, tokens int64) {
	if limit.RPM > 0 {
		b.reqs--
	}
	if limit.TPM > 0 && tokens > 0 {
		b.toks -= float64(tokens)
	}
}

// settle records when the bucket will be full again (then it is evictable).
func (b *bucket) settle(limit Limit, now int64) {
	var refill float64
	if limit.RPM > 0 {
		rpm := float64(limit.RPM)
		refill = (rpm - b.reqs) * minute / rpm
	}
	if limit.TPM > 0 {
		tpm := float64(limit.TPM)
		refill = math.Max(refill, (tpm-b.toks)*minute/tpm)
	}
	b.fullAt = now + int64(math.Ceil(refill))
}

// decision is the Decision for the longest wait, that of check refused.
func decision(wait float64, refused int) Decision {
	if wait == 0 {
		return Decision{Allowed: true}
	}
	return Decision{RetryAfter: time.Duration(math.Ceil(wait)), Refused: refused}
}

// newBucket is a full bucket for limit.
func newBucket(limit Limit, now int64) *bucket {
	return &bucket{reqs: float64(max(0, limit.RPM)), toks: float64(max(0, limit.TPM)), last: now, limit: limit}
}

// Suggested limits. The API applies its settings (per-account rpm/tpm given
// in PUT /v1/accounts, else these) and passes the result to Allow.
var (
	// DefaultLimit applies to a verified account that set no limits.
	DefaultLimit = Limit{RPM: 600, TPM: 1_000_000}
	// TrialLimit applies to an account that has not passed real-name
	// verification: enough to try the product, not to run a business on it.
	TrialLimit = Limit{RPM: 20, TPM: 20_000}
)

// Min returns the tighter of two limits in each dimension (zero = unlimited),
// e.g. an account's own limit capped by the trial limit.
func Min(a, b Limit) Limit {
	tighter := func(x, y int64) int64 {
		switch {
		case x <= 0:
			return y
		case y <= 0:
			return x
		default:
			return min(x, y)
		}
	}
	return Limit{RPM: tighter(a.RPM, b.RPM), TPM: tighter(a.TPM, b.TPM)}
}
