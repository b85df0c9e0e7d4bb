// Package atonce runs a call many times at once, for the tests that prove a
// cache or a limit under a burst: how many calls failed, and whether they
// all returned within a bound.
package atonce

import (
	"sync"
	"sync/atomic"
	"time"
)

// Run starts n calls of fn at once and waits up to within for them all. It
// returns how many returned an error, and false when some had not returned
// by then (they are left running).
func Run(n int, within time.Duration, fn func() error) (failed int64, allReturned bool) {
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if fn() != nil {
				errs.Add(1)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return errs.Load(), true
	case <-time.After(within):
		return errs.Load(), false
	}
}
