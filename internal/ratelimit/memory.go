package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryOptions tunes the in-process limiter; the zero value is ready to use.
type MemoryOptions struct {
	// Now is the clock (time.Now); tests inject their own.
	Now func() time.Time
	// Shards is the number of independently locked key maps (64).
	Shards int
	// MaxKeysPerShard bounds memory (16,384 per shard, about 1M keys in all).
	// Keys whose buckets are full again are dropped first; if a shard is
	// still full, an arbitrary key is dropped, which forgets (never tightens)
	// that key's recent use.
	MaxKeysPerShard int
	// SweepEvery is how often a shard drops its idle keys (1 minute).
	SweepEvery time.Duration
}

// Memory is the in-process Limiter: a sharded map of buckets, each shard with
// its own mutex, so calls for different keys rarely contend. Buckets that
// have refilled completely carry no information and are evicted.
type Memory struct {
	now        func() time.Time
	seed       maphash.Seed
	shards     []shard
	maxKeys    int
	sweepEvery int64
}

type shard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep int64
	_         [40]byte // keep hot shards on separate cache lines
}

// NewMemory returns an in-process limiter.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Shards <= 0 {
		opts.Shards = 64
	}
	if opts.MaxKeysPerShard <= 0 {
		opts.MaxKeysPerShard = 16384
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = time.Minute
	}
	m := &Memory{
		now:        opts.Now,
		seed:       maphash.MakeSeed(),
		shards:     make([]shard, opts.Shards),
		maxKeys:    opts.MaxKeysPerShard,
		sweepEvery: int64(opts.SweepEvery),
	}
	for i := range m.shards {
		m.shards[i].buckets = make(map[string]*bucket)
	}
	return m
}

// Allow implements Limiter. It never returns an error other than ErrEmptyKey.
func (m *Memory) Allow(_ context.Context, key string, limit Limit, tokens int64) (Decision, error) {
	if key == "" {
		return Decision{}, ErrEmptyKey
	}
	if limit.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	now := m.now().UnixNano()
	sh := &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now-sh.lastSweep >= m.sweepEvery {
		sh.sweep(now)
	}
	b, ok := sh.buckets[key]
	if !ok {
		if len(sh.buckets) >= m.maxKeys {
			sh.sweep(now)
			for k := range sh.buckets { // still full: drop one arbitrary key
				if len(sh.buckets) < m.maxKeys {
					break
				}
				delete(sh.buckets, k)
			}
		}
		b = newBucket(limit, now)
		sh.buckets[key] = b
	}
	return b.take(limit, tokens, now), nil
}

// sweep drops the buckets that are full again: forgetting them changes no
// future decision.
func (sh *shard) sweep(now int64) {
	for k, b := range sh.buckets {
		if b.fullAt <= now {
			delete(sh.buckets, k)
		}
	}
	sh.lastSweep = now
}

// Len is the number of keys currently tracked (for tests and metrics).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		m.shards[i].mu.Lock()
		n += len(m.shards[i].buckets)
		m.shards[i].mu.Unlock()
	}
	return n
}

// Close implements io.Closer; the in-process limiter holds no resources.
func (m *Memory) Close() error { return nil }
