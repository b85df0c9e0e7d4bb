package readahead

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// One read per entry runs at a time, however many calls start one, and it
// outlives the call that started it.
func TestOneReadPerEntryAtATime(t *testing.T) {
	var g Group
	var reads, ended atomic.Int64
	gate := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.Start(ctx, "a", func(ctx context.Context) {
				reads.Add(1)
				<-gate
				if ctx.Err() != nil {
					ended.Add(1)
				}
			})
		}()
	}
	wg.Wait() // Start never waits for the read
	cancel()  // the calls are over
	require.True(t, g.Running("a"))
	g.Start(context.Background(), "b", func(context.Context) { reads.Add(1) })
	close(gate)
	require.Eventually(t, func() bool { return !g.Running("a") && !g.Running("b") }, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 2, reads.Load(), "one read of a, one of b")
	require.Zero(t, ended.Load(), "the read of a was not ended with the calls")
	g.Start(context.Background(), "a", func(context.Context) { reads.Add(1) })
	require.Eventually(t, func() bool { return reads.Load() == 3 }, 5*time.Second, time.Millisecond, "a is read again once the last read ended")
}
