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
//   - A call asking for more tokens than TPM is allowed when the token bucket
//     is full and leaves it in debt, so it is not refused forever and the
//     following calls wait for the debt to refill.
//   - A limit of zero (or less) means unlimited in that dimension.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
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
// seconds, in the Retry-After header).
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration
}

// Limiter decides whether a call by key may go ahead, and if so counts it.
//
// tokens is the call's token estimate for the TPM bucket (for a reservation:
// max_input_tokens + max_output_tokens); zero checks only RPM.
type Limiter interface {
	Allow(ctx context.Context, key string, limit Limit, tokens int64) (Decision, error)
}

// ErrEmptyKey is returned for an empty key: limiting "" would lump unrelated
// callers into one bucket.
var ErrEmptyKey = errors.New("ratelimit: empty key")

// Open returns the Redis limiter when redisURL is set (checking that the
// server answers), else an in-process Memory limiter. close releases it.
//
// Errors: an invalid URL or an unreachable server, wrapped with "ratelimit:".
func Open(ctx context.Context, redisURL string) (l Limiter, close func() error, err error) {
	if redisURL == "" {
		return NewMemory(MemoryOptions{}), func() error { return nil }, nil
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("ratelimit: REDIS_URL is not a valid redis:// URL: %w", err)
	}
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("ratelimit: cannot reach Redis at %s (%v): start it or unset REDIS_URL", opts.Addr, err)
	}
	return NewRedis(client, DefaultPrefix), client.Close, nil
}

const minute = float64(time.Minute)

// bucket is one key's state: the two levels at time last (unix nanoseconds).
type bucket struct {
	reqs, toks float64
	last       int64
	fullAt     int64 // when both buckets will be full again (idle = evictable)
	limit      Limit // the limit the levels were computed for
}

// take applies the bucket rules at now and reports the decision; b is
// updated in place (refilled, and debited when allowed).
func (b *bucket) take(limit Limit, tokens int64, now int64) Decision {
	// A dimension that was unlimited starts full when a limit appears.
	if b.limit.RPM <= 0 && limit.RPM > 0 {
		b.reqs = float64(limit.RPM)
	}
	if b.limit.TPM <= 0 && limit.TPM > 0 {
		b.toks = float64(limit.TPM)
	}
	b.limit = limit
	elapsed := float64(max(0, now-b.last))
	rpm, tpm := float64(limit.RPM), float64(limit.TPM)
	if limit.RPM > 0 {
		b.reqs = math.Min(rpm, b.reqs+elapsed*rpm/minute)
	}
	if limit.TPM > 0 {
		b.toks = math.Min(tpm, b.toks+elapsed*tpm/minute)
	}
	b.last = now

	var wait float64
	if limit.RPM > 0 && b.reqs < 1 {
		wait = (1 - b.reqs) * minute / rpm
	}
	if limit.TPM > 0 && tokens > 0 {
		need := math.Min(float64(tokens), tpm)
		if b.toks < need {
			wait = math.Max(wait, (need-b.toks)*minute/tpm)
		}
	}
	d := Decision{Allowed: wait == 0}
	if d.Allowed {
		if limit.RPM > 0 {
			b.reqs--
		}
		if limit.TPM > 0 && tokens > 0 {
			b.toks -= float64(tokens)
		}
	} else {
		d.RetryAfter = time.Duration(math.Ceil(wait))
	}

	var refill float64
	if limit.RPM > 0 {
		refill = (rpm - b.reqs) * minute / rpm
	}
	if limit.TPM > 0 {
		refill = math.Max(refill, (tpm-b.toks)*minute/tpm)
	}
	b.fullAt = now + int64(math.Ceil(refill))
	return d
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
