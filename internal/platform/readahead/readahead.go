// Package readahead reads cached entries again ahead of their expiry, in
// the background and at most once per entry at a time, so the calls that
// find an entry past half its time are still served from the cache and
// none of them waits on the database (the gateway's keys, upstream list
// and accounts).
package readahead

import (
	"context"
	"sync"
	"time"
)

// Timeout bounds a background read.
const Timeout = 5 * time.Second

// Group tracks the background reads running, by entry. The zero value is
// ready to use.
type Group struct {
	running sync.Map // entry -> struct{}
}

// Start runs read in the background unless a read of entry is already
// running. read gets ctx's values (a call's failover pin: a read that
// finds no primary stands in on the standby as the call's would) but not
// its end, bounded by Timeout instead.
func (g *Group) Start(ctx context.Context, entry any, read func(ctx context.Context)) {
	if _, running := g.running.LoadOrStore(entry, struct{}{}); running {
		return
	}
	go func() {
		defer g.running.Delete(entry)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
		defer cancel()
		read(ctx)
	}()
}

// Running reports whether a read of entry is running.
func (g *Group) Running(entry any) bool {
	_, ok := g.running.Load(entry)
	return ok
}
