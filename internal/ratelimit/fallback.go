package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Fallback is the Limiter used with REDIS_URL: the shared Redis buckets
// while Redis answers, this process's own buckets while it does not, so a
// Redis outage degrades limits to per-instance ones instead of refusing
// every reservation. A failed call marks Redis down (logged once per change
// of state); from then on calls go straight to the local buckets, without
// waiting on Redis, while a probe pings Redis every ProbeEvery and switches
// back when it answers. Local buckets start full when an outage begins, so
// during one a key may get up to one extra minute's allowance per instance.
type Fallback struct {
	shared *Redis
	local  *Memory
	ping   func(context.Context) error
	opts   FallbackOptions
	up     atomic.Bool
	mu     sync.Mutex // serialises state changes and their log lines
	stop   chan struct{}
	done   chan struct{}
}

// FallbackOptions tune a Fallback; zero values take the defaults.
type FallbackOptions struct {
	// ProbeEvery is how often a down Redis is pinged (default 1 s).
	ProbeEvery time.Duration
	// ProbeTimeout bounds each ping (default 500 ms).
	ProbeTimeout time.Duration
	Logger       *slog.Logger
}

// NewFallback returns a limiter over shared and local, with Redis taken as
// up; ping checks Redis (the client's Ping). Close stops its probe.
func NewFallback(shared *Redis, local *Memory, ping func(context.Context) error, opts FallbackOptions) *Fallback {
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = time.Second
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &Fallback{shared: shared, local: local, ping: ping, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	f.up.Store(true)
	go f.probe()
	return f
}

// SharedStoreUp reports whether calls currently go to Redis (the
// ratelimit_shared_store_up gauge).
func (f *Fallback) SharedStoreUp() bool { return f.up.Load() }

// Allow implements Limiter.
func (f *Fallback) Allow(ctx context.Context, key string, limit Limit, tokens int64) (Decision, error) {
	return f.AllowAll(ctx, tokens, Check{Key: key, Limit: limit})
}

// AllowAll implements Limiter: Redis while it is up, else the local
// buckets. It never returns a Redis error, only ErrEmptyKey and
// ErrDuplicateKey, or the caller's own cancellation.
func (f *Fallback) AllowAll(ctx context.Context, tokens int64, checks ...Check) (Decision, error) {
	if err := validate(checks); err != nil {
		return Decision{}, err
	}
	if f.up.Load() {
		d, err := f.shared.AllowAll(ctx, tokens, checks...)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return Decision{}, err // the caller gave up: no verdict on Redis
		}
		f.setUp(false, err)
	}
	return f.local.AllowAll(ctx, tokens, checks...)
}

func (f *Fallback) setUp(up bool, cause error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.up.Load() == up {
		return
	}
	f.up.Store(up)
	if up {
		f.opts.Logger.Info("rate limits: Redis answers again; limits are shared between instances again")
	} else {
		f.opts.Logger.Error("rate limits: Redis does not answer; limiting in this process until it does", "err", cause)
	}
}

// probe pings Redis while it is down and marks it up when it answers.
func (f *Fallback) probe() {
	defer close(f.done)
	t := time.NewTicker(f.opts.ProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			if f.up.Load() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), f.opts.ProbeTimeout)
			err := f.ping(ctx)
			cancel()
			if err == nil {
				f.setUp(true, nil)
			}
		}
	}
}

// Close stops the probe (the Redis client is closed by its owner).
func (f *Fallback) Close() error {
	close(f.stop)
	<-f.done
	return nil
}
