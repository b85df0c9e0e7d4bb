package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// client calls the gateway API through HAProxy the way a careful customer
// does: every write carries an idempotency key, and a call that got no
// answer, or a 5xx, is sent again with the same key until it is answered
// (or opDeadline passes, which the report counts as given up).
type client struct {
	base, key string
	http      *http.Client
}

const opDeadline = 90 * time.Second

func newClient(base, key string) *client {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	return &client{base: base, key: key, http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// call sends one request and answers the status and body (status 0 and
// the error text when nothing came back).
func (c *client) call(ctx context.Context, method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// retried is call repeated while the answer is no answer or a 5xx; it
// returns the final status and body and how many times it resent.
func (c *client) retried(ctx context.Context, method, path string, body any) (status int, b []byte, retries int) {
	return c.retriedNoting(ctx, method, path, body, nil)
}

// retriedNoting is retried, telling note (when not nil) each answer it
// resent after.
func (c *client) retriedNoting(ctx context.Context, method, path string, body any, note func(int, []byte)) (status int, b []byte, retries int) {
	deadline := time.Now().Add(opDeadline)
	wait := 50 * time.Millisecond
	for {
		status, b = c.call(ctx, method, path, body)
		if status != 0 && status < 500 {
			return status, b, retries
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return status, b, retries
		}
		if note != nil {
			note(status, b)
		}
		retries++
		time.Sleep(wait)
		wait = min(wait*2, time.Second)
	}
}

// ack is one operation the client saw acknowledged.
type ack struct {
	session string
	charged decimal.Decimal
}

// load is a steady mix through HAProxy: reserve/commit pairs, usage batches
// (queued in NATS), portal and back-office page views and the API's GETs, each worker numbering its own
// operations so that every one is unique and traceable in the ledger (its
// session_id).
type load struct {
	c        *client
	phase    string
	accounts []string
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu         sync.Mutex
	commits    []ack
	usage      []string // session ids of accepted usage events
	gaveUp     []string
	unexpected []string // answers that are neither success nor a retryable failure
	writeDone  []time.Time
	latencies  []time.Duration // reserve+commit pairs
	retries    atomic.Int64
	pages      atomic.Int64
	staffPages atomic.Int64
	pageErrors atomic.Int64
	apiReads   atomic.Int64
	apiErrors  atomic.Int64
	refused429 atomic.Int64
	// resent counts the answers writes were resent after, by kind ("503
	// unavailable_retry", "no answer", …); failedPages the pages that
	// failed, by path and status.
	resent      map[string]int
	failedPages map[string]int
	resends     []event // each resend's answer, when it came
}

type loadMix struct{ pairs, usage, portal, staff, api int }

func startLoad(parent context.Context, c *client, phase string, accounts []string, mix loadMix) *load {
	ctx, cancel := context.WithCancel(parent)
	l := &load{c: c, phase: phase, accounts: accounts, cancel: cancel, resent: map[string]int{}, failedPages: map[string]int{}}
	for w := range mix.pairs {
		l.wg.Go(func() { l.pairWorker(ctx, w) })
	}
	for w := range mix.usage {
		l.wg.Go(func() { l.usageWorker(ctx, w) })
	}
	for w := range mix.portal {
		l.wg.Go(func() { l.portalWorker(ctx, w) })
	}
	for range mix.staff {
		l.wg.Go(func() { l.staffWorker(ctx) })
	}
	for range mix.api {
		l.wg.Go(func() { l.apiReader(ctx) })
	}
	return l
}

// retried is the client's retried, noting what each resend answered.
func (l *load) retried(ctx context.Context, method, path string, body any) (int, []byte, int) {
	return l.c.retriedNoting(ctx, method, path, body, func(status int, b []byte) {
		kind := "no answer"
		if status != 0 {
			var e struct{ Error struct{ Code string } }
			if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
				e.Error.Code = "(not the API's JSON: HAProxy?)"
			}
			kind = fmt.Sprintf("%d %s", status, e.Error.Code)
		}
		at := time.Now()
		l.note(func() {
			l.resent[kind]++
			l.resends = append(l.resends, event{at, kind})
		})
	})
}

// resentSummary lists resent, most frequent first.
func (l *load) resentSummary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return countsSummary(l.resent)
}

// failedPagesSummary lists failedPages, most frequent first.
func (l *load) failedPagesSummary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return countsSummary(l.failedPages)
}

func countsSummary(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// stop ends the load: each worker finishes the operation it is in (with
// its retries) and stops.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) note(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

func (l *load) pairWorker(ctx context.Context, w int) {
	// The operation in progress runs to its end on its own context: the
	// load's cancellation only stops new ones.
	opCtx := context.WithoutCancel(ctx)
	for n := 0; ctx.Err() == nil; n++ {
		session := fmt.Sprintf("ct-%s-%d-%d", l.phase, w, n)
		acct := l.accounts[rand.IntN(len(l.accounts))]
		t0 := time.Now()
		status, body, r := l.retried(opCtx, http.MethodPost, "/v1/reservations", map[string]any{"account": acct,
			"model": "deepseek-chat", "max_input_tokens": 1000, "max_output_tokens": 1000,
			"idempotency_key": session, "session_id": session})
		l.retries.Add(int64(r))
		if status != http.StatusCreated {
			l.fail(session, "reserve", status, body)
			continue
		}
		var res struct{ ID string }
		_ = json.Unmarshal(body, &res)
		status, body, r = l.retried(opCtx, http.MethodPost, "/v1/reservations/"+res.ID+"/commit",
			map[string]any{"input_tokens": 1000, "output_tokens": 500})
		l.retries.Add(int64(r))
		if status != http.StatusOK {
			l.fail(session, "commit", status, body)
			continue
		}
		var cv struct{ Charged decimal.Decimal }
		_ = json.Unmarshal(body, &cv)
		done := time.Now()
		l.note(func() {
			l.commits = append(l.commits, ack{session: session, charged: cv.Charged})
			l.writeDone = append(l.writeDone, done)
			l.latencies = append(l.latencies, done.Sub(t0))
		})
	}
}

func (l *load) fail(session, what string, status int, body []byte) {
	if status == http.StatusTooManyRequests {
		l.refused429.Add(1)
	}
	l.note(func() {
		if status == 0 || status >= 500 {
			l.gaveUp = append(l.gaveUp, session)
		}
		l.unexpected = append(l.unexpected, fmt.Sprintf("%s %s: %d %.200s", session, what, status, body))
	})
}

func (l *load) usageWorker(ctx context.Context, w int) {
	opCtx := context.WithoutCancel(ctx)
	for n := 0; ctx.Err() == nil; n++ {
		var events []map[string]any
		var sessions []string
		for i := range 10 {
			s := fmt.Sprintf("cu-%s-%d-%d-%d", l.phase, w, n, i)
			sessions = append(sessions, s)
			events = append(events, map[string]any{"idempotency_key": s, "session_id": s,
				"account": l.accounts[rand.IntN(len(l.accounts))], "model": "deepseek-chat",
				"input_tokens": 100, "output_tokens": 50, "occurred_at": time.Now().UTC().Format(time.RFC3339Nano)})
		}
		status, body, r := l.retried(opCtx, http.MethodPost, "/v1/usage/events", map[string]any{"events": events})
		l.retries.Add(int64(r))
		if status != http.StatusAccepted {
			l.fail(sessions[0], "usage", status, body)
			continue
		}
		var res struct {
			Events []struct{ State string }
		}
		_ = json.Unmarshal(body, &res)
		l.note(func() {
			for i, ev := range res.Events {
				if ev.State == "queued" || ev.State == "duplicate" {
					l.usage = append(l.usage, sessions[i])
				} else {
					l.unexpected = append(l.unexpected, sessions[i]+" usage: "+ev.State)
				}
			}
		})
		time.Sleep(100 * time.Millisecond)
	}
}

// portalWorker signs in through a one-time portal link and walks the
// customer's pages — every page the portal's overview links to that
// answered at the first visit — the sessions living in PostgreSQL so that
// any instance answers them.
func (l *load) portalWorker(ctx context.Context, w int) {
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	signIn := func() bool {
		status, body, _ := l.c.retried(ctx, http.MethodPost, "/v1/accounts/"+l.accounts[w%len(l.accounts)]+"/portal-sessions", nil)
		if status != http.StatusCreated {
			return false
		}
		var p struct{ URL string }
		_ = json.Unmarshal(body, &p)
		resp, err := browser.Get(p.URL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	l.walk(ctx, browser, "/portal", signIn, &l.pages)
}

// staffWorker signs in to the back office as the seeded support user (no
// authenticator needed) and walks every back-office page its home links
// to that answered at the first visit.
func (l *load) staffWorker(ctx context.Context) {
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	signIn := func() bool {
		resp, err := browser.Get(l.c.base + "/signin")
		if err != nil {
			return false
		}
		resp.Body.Close()
		u, _ := url.Parse(l.c.base)
		csrf := ""
		for _, k := range jar.Cookies(u) {
			if k.Name == "_csrf" {
				csrf = k.Value
			}
		}
		resp, err = browser.PostForm(l.c.base+"/signin", url.Values{"_csrf": {csrf}, "login": {"support@example.com"},
			"password": {"demo-staff-pass-1"}})
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Request.URL.Path, "/admin")
	}
	l.walk(ctx, browser, "/admin", signIn, &l.staffPages)
}

// walk signs in, finds the pages home links to under its own prefix that
// answer 200 (the first visit, before any fault), then views them over
// and over until ctx ends, counting each view in count and each failure
// in pageErrors (by path in failedPages).
func (l *load) walk(ctx context.Context, browser *http.Client, home string, signIn func() bool, count *atomic.Int64) {
	get := func(page string) (int, string, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.c.base+page, nil)
		resp, err := browser.Do(req)
		if err != nil {
			return 0, "", nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Request.URL.Path, b, nil
	}
	var pages []string
	signedIn := false
	for ctx.Err() == nil {
		if !signedIn {
			if signedIn = signIn(); !signedIn {
				l.pageErrors.Add(1)
				l.note(func() { l.failedPages["sign-in "+home]++ })
				time.Sleep(200 * time.Millisecond)
				continue
			}
		}
		if pages == nil {
			pages = l.discover(home, get)
		}
		for _, page := range pages {
			status, at, _, err := get(page)
			if ctx.Err() != nil {
				return
			}
			if err != nil || status != http.StatusOK || !strings.HasPrefix(at, home) {
				l.pageErrors.Add(1)
				l.note(func() { l.failedPages[fmt.Sprintf("%s %d", page, status)]++ })
				if strings.HasPrefix(at, "/signin") {
					signedIn = false
				}
				continue
			}
			count.Add(1)
			// A reader's pace, not a crawler's: the pages share each
			// instance's few pool connections with the writers.
			time.Sleep(150 * time.Millisecond)
		}
	}
}

// discover is home and the pages it links to under home's prefix that
// answer 200 now (no files, no sign-out, no authenticator enrolment).
func (l *load) discover(home string, get func(string) (int, string, []byte, error)) []string {
	pages := []string{home}
	status, _, body, err := get(home)
	if err != nil || status != http.StatusOK {
		return pages
	}
	seen := map[string]bool{home: true}
	for _, m := range regexp.MustCompile(`href="(`+regexp.QuoteMeta(home)+`/[^"?#]*)"`).FindAllStringSubmatch(string(body), -1) {
		p := m[1]
		if seen[p] || strings.ContainsAny(p, ".") || strings.Contains(p, "totp") || strings.Contains(p, "signout") {
			continue
		}
		seen[p] = true
		if st, at, _, err := get(p); err == nil && st == http.StatusOK && strings.HasPrefix(at, home) {
			pages = append(pages, p)
		}
	}
	return pages
}

// apiReader calls the gateway API's GETs of a random account over and
// over, once each, never resending: each answer other than 200 counts in
// apiErrors (by path and status in failedPages).
func (l *load) apiReader(ctx context.Context) {
	for ctx.Err() == nil {
		acct := l.accounts[rand.IntN(len(l.accounts))]
		for _, route := range []string{"/v1/rate-card", "/v1/rate-card?account={id}", "/v1/accounts/{id}/balance",
			"/v1/accounts/{id}/ledger?limit=5", "/v1/accounts/{id}/subscription", "/v1/accounts/{id}/entitlements",
			"/v1/accounts/{id}/webhooks"} {
			status, _ := l.c.call(ctx, http.MethodGet, strings.Replace(route, "{id}", acct, 1), nil)
			if ctx.Err() != nil {
				return
			}
			if status != http.StatusOK {
				l.apiErrors.Add(1)
				l.note(func() { l.failedPages[fmt.Sprintf("API GET %s %d", route, status)]++ })
				continue
			}
			l.apiReads.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// resendsAfter sums the answers writes were resent after, from since on,
// per kind and tenth of a second: one event each, at its first.
func (l *load) resendsAfter(since time.Time) []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	type bucket struct {
		kind string
		at   int64
	}
	n := map[bucket]int{}
	first := map[bucket]time.Time{}
	for _, r := range l.resends {
		if r.at.Before(since) {
			continue
		}
		b := bucket{r.what, r.at.Sub(since).Milliseconds() / 100}
		if n[b] == 0 {
			first[b] = r.at
		}
		n[b]++
	}
	out := make([]event, 0, len(n))
	for b, c := range n {
		out = append(out, event{first[b], fmt.Sprintf("resend after %s ×%d", b.kind, c)})
	}
	return out
}

// firstWriteAfter is the first acknowledged commit after t.
func (l *load) firstWriteAfter(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, w := range l.writeDone {
		if w.After(t) && (first.IsZero() || w.Before(first)) {
			first = w
		}
	}
	return first
}

// longestWriteGap is the longest time between two acknowledged commits
// within [from, to] (the edges count as acknowledgements).
func (l *load) longestWriteGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	ts := slices.Clone(l.writeDone)
	l.mu.Unlock()
	ts = append(ts, from, to)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for i := 1; i < len(ts); i++ {
		if ts[i].Before(from) || ts[i].After(to) {
			continue
		}
		if d := ts[i].Sub(ts[i-1]); ts[i-1].After(from.Add(-time.Nanosecond)) && d > gap {
			gap = d
		}
	}
	return gap
}

// p99 is the 99th percentile of the pairs' latencies.
func (l *load) p99() time.Duration {
	l.mu.Lock()
	ls := slices.Clone(l.latencies)
	l.mu.Unlock()
	if len(ls) == 0 {
		return 0
	}
	slices.Sort(ls)
	return ls[len(ls)*99/100]
}
