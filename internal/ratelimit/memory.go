package ratelimit

import (
	"context"
	"hash/maphash"
	"slices"
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
	sh := &m.shards[m.shardIndex(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.bucket(key, limit, now, m.maxKeys, m.sweepEvery, nil).take(limit, tokens, now), nil
}

// AllowAll implements Limiter. The keys' shards are locked together, in
// index order so that concurrent calls cannot deadlock, and no other call
// sees one key debited and another not. It never returns an error other
// than ErrEmptyKey and ErrDuplicateKey.
func (m *Memory) AllowAll(_ context.Context, tokens int64, checks ...Check) (Decision, error) {
	if err := validate(checks); err != nil {
		return Decision{}, err
	}
	now := m.now().UnixNano()
	var idxBuf [4]int
	idx := idxBuf[:0]
	for _, c := range checks {
		if !c.Limit.Unlimited() {
			idx = append(idx, m.shardIndex(c.Key))
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		m.shards[i].mu.Lock()
	}
	defer func() {
		for _, i := range idx {
			m.shards[i].mu.Unlock()
		}
	}()
	// A sweep or an eviction must not drop a bucket this call holds.
	inCall := func(key string) bool {
		return slices.ContainsFunc(checks, func(c Check) bool { return c.Key == key })
	}
	var bucketBuf [4]*bucket
	buckets := bucketBuf[:0]
	var wait float64
	refused := 0
	for i, c := range checks {
		if c.Limit.Unlimited() {
			buckets = append(buckets, nil)
			continue
		}
		b := m.shards[m.shardIndex(c.Key)].bucket(c.Key, c.Limit, now, m.maxKeys, m.sweepEvery, inCall)
		b.refill(c.Limit, now)
		if w := b.wait(c.Limit, tokens); w > wait {
			wait, refused = w, i
		}
		buckets = append(buckets, b)
	}
	for i, b := range buckets {
		if b == nil {
			continue
		}
		if wait == 0 {
			b.debit(checks[i].Limit, tokens)
		}
		b.settle(checks[i].Limit, now)
	}
	return decision(wait, refused), nil
}

func (m *Memory) shardIndex(key string) int {
	return int(maphash.String(m.seed, key) % uint64(len(m.shards)))
}

// bucket is key's bucket, made full for limit if the key is new; the
// caller holds sh.mu. The shard is swept when due, and when it is full a
// key is dropped to make room, never one for which keep reports true.
func (sh *shard) bucket(key string, limit Limit, now int64, maxKeys int, sweepEvery int64, keep func(string) bool) *bucket {
	if now-sh.lastSweep >= sweepEvery {
		sh.sweep(now, keep)
	}
	b, ok := sh.buckets[key]
	if ok {
		return b
	}
	if len(sh.buckets) >= maxKeys {
		sh.sweep(now, keep)
		for k := range sh.buckets { // still full: drop one arbitrary key
			if len(sh.buckets) < maxKeys {
				break
			}
			if keep == nil || !keep(k) {
				delete(sh.buckets, k)
			}
		}
	}
	b = newBucket(limit, now)
	sh.buckets[key] = b
	return b
}

// sweep drops the buckets that are full again, but those keep reports:
// forgetting them changes no future decision.
func (sh *shard) sweep(now int64, keep func(string) bool) {
	for k, b := range sh.buckets {
		if b.fullAt <= now && (keep == nil || !keep(k)) {
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
