package cluster

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// timeline records, from a primary's kill on, when each part of the write
// path came back — Patroni's /primary on the new leader, the server out of
// recovery, its synchronous_standby_names, a commit that returns within
// 300 ms on it, each serve instance's /readyz and HAProxy's answer to it —
// so the time between the promotion and the first acknowledged write can
// be taken apart. Each entry is the first time a state was seen, or a
// change of it.
type timeline struct {
	start time.Time
	mu    sync.Mutex
	last  map[string]string
	lines []event
}

// event is one line of a timeline.
type event struct {
	at   time.Time
	what string
}

// watchFailover samples each part every 50 ms, each on its own, until ctx
// ends.
func watchFailover(ctx context.Context, c Config, newPrimary int) *timeline {
	tl := &timeline{start: time.Now(), last: map[string]string{}}
	p := c.Ports()
	node := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/credits?sslmode=disable&connect_timeout=1", p.Postgres[newPrimary-1])
	every := func(sample func()) {
		go func() {
			for ctx.Err() == nil {
				sample()
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
	}
	every(func() { tl.note("patroni /primary", fmt.Sprint(httpOK(c.patroniURL(newPrimary, "/primary")))) })
	every(func() { tl.note("pg: "+nodeState(ctx, node), "") })
	for i, port := range p.Serve {
		every(func() {
			tl.note(fmt.Sprintf("serve%d /readyz", i+1), status(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)))
		})
	}
	every(func() { tl.note("haproxy /readyz", status(c.WebURL()+"/readyz")) })
	return tl
}

// nodeState is the server's recovery state, synchronous_standby_names and
// whether a commit returned within 300 ms.
func nodeState(ctx context.Context, url string) string {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, url)
	if err != nil {
		return "no connection"
	}
	defer conn.Close(context.Background())
	var rec bool
	var sync string
	if err := conn.QueryRow(cctx, "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')").Scan(&rec, &sync); err != nil {
		return "no answer"
	}
	if rec {
		return "in recovery"
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = conn.Exec(wctx, "SELECT txid_current()")
	commits := "commits"
	if err != nil {
		commits = "commit waits"
	}
	return fmt.Sprintf("read-write, synchronous_standby_names=%q, %s", sync, commits)
}

func status(u string) string {
	resp, err := probe.Get(u)
	if err != nil {
		return "no answer"
	}
	resp.Body.Close()
	return http.StatusText(resp.StatusCode)
}

// note records what (a value, when given) unless it is what was last
// noted for that name.
func (tl *timeline) note(name, value string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	key := name
	if value == "" {
		key = "pg"
	}
	v := name + " " + value
	if tl.last[key] == v {
		return
	}
	tl.last[key] = v
	tl.lines = append(tl.lines, event{time.Now(), strings.TrimSpace(v)})
}

// mark records an event (the promotion seen, the first write after it).
func (tl *timeline) mark(what string, at time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.lines = append(tl.lines, event{at, what})
}

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	slices.SortStableFunc(tl.lines, func(a, b event) int { return a.at.Compare(b.at) })
	out := make([]string, len(tl.lines))
	for i, e := range tl.lines {
		out[i] = fmt.Sprintf("+%.2fs %s", e.at.Sub(tl.start).Seconds(), e.what)
	}
	return strings.Join(out, "\n      ")
}
