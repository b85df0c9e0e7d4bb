// Package snapshot keeps an in-memory value that is reloaded when stale,
// the way the rate card and the cost card schedules are cached.
package snapshot

import (
	"context"
	"sync"
	"sync/atomic"
)

// Refreshing holds a value reloaded when it is no longer fresh: one caller
// reloads while the others keep using the stale value; only the very first
// load (or one right after Forget) makes callers wait; a reload that fails
// keeps serving the last good value. The zero value is ready to use.
type Refreshing[T any] struct {
	snap    atomic.Pointer[T]
	loading sync.Mutex
}

// Forget drops the value, so the next Get loads it afresh (a writer sees
// its own change at once).
func (r *Refreshing[T]) Forget() { r.snap.Store(nil) }

// Get returns the value, reloading it with load (given the value it
// replaces, nil at first) when fresh reports it stale. Errors: load's,
// only when there is no value to fall back on.
func (r *Refreshing[T]) Get(ctx context.Context, fresh func(*T) bool, load func(context.Context, *T) (*T, error)) (*T, error) {
	v := r.snap.Load()
	if v != nil && fresh(v) {
		return v, nil
	}
	if v != nil {
		if !r.loading.TryLock() {
			return v, nil
		}
	} else {
		r.loading.Lock()
	}
	defer r.loading.Unlock()
	// Someone may have reloaded while we waited.
	if cur := r.snap.Load(); cur != nil && fresh(cur) {
		return cur, nil
	}
	next, err := load(ctx, r.snap.Load())
	if err != nil {
		if v != nil {
			return v, nil // keep serving the last good value
		}
		return nil, err
	}
	r.snap.Store(next)
	return next, nil
}
