package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// TestCluster is make test-cluster: it starts its own cluster (ports from
// testBase, folder .data/cluster-test), puts it under a steady load through
// HAProxy and injects the faults one after the other, reconciling after
// each what the clients saw acknowledged against the ledger. The cluster
// is stopped at the end, whatever happened (the Makefile target stops it
// again should the test binary itself die).
func TestCluster(t *testing.T) {
	if os.Getenv("CLUSTER_TEST") == "" {
		t.Skip("the cluster's fault tests run with make test-cluster (CLUSTER_TEST=1)")
	}
	ctx := context.Background()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "credits")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/seed75218f88/credits/cmd/credits").CombinedOutput()
	require.NoError(t, err, string(out))

	c := Config{Dir: filepath.Join(root, ".data", "cluster-test"), Base: testBase, Binary: bin, Workdir: root}
	t.Cleanup(func() {
		t0 := time.Now()
		c.Down()
		t.Logf("cluster stopped in %.1f s", time.Since(t0).Seconds())
	})
	t0 := time.Now()
	c, err = Up(ctx, c, testLog{t})
	require.NoError(t, err)
	t.Logf("cluster up in %.1f s", time.Since(t0).Seconds())

	h := setupHarness(t, c)
	var report []string
	t.Cleanup(func() {
		fmt.Printf("\n=== cluster fault report (%s UTC) ===\n%s\n", time.Now().UTC().Format("2006-01-02 15:04"), strings.Join(report, "\n"))
	})

	t.Run("Performance", func(t *testing.T) {
		for _, n := range []int{1, 3} {
			for i := 2; i <= 3; i++ {
				h.setServer(t, fmt.Sprintf("serve%d", i), n >= i)
			}
			time.Sleep(1500 * time.Millisecond)
			l := startLoad(ctx, h.client, fmt.Sprintf("perf%d", n), h.accounts, loadMix{pairs: 32})
			start := time.Now()
			time.Sleep(12 * time.Second)
			l.stop()
			el := time.Since(start)
			require.Empty(t, l.unexpected)
			line := fmt.Sprintf("performance, %d serve instance(s), 32 clients: %.0f reserve+commit pairs/s, p99 %.1f ms a pair (load average %s)",
				n, float64(len(l.commits))/el.Seconds(), float64(l.p99().Microseconds())/1000, loadAverage())
			report = append(report, line)
			t.Log(line)
		}
	})

	faults := []struct {
		name   string
		inject func(t *testing.T, l *load) string
	}{
		{"DrainServe", func(t *testing.T, l *load) string {
			before := l.retries.Load()
			t0 := time.Now()
			c.stopGroup("serve3", syscall.SIGTERM, 30*time.Second)
			took := time.Since(t0)
			require.NoError(t, c.StartServe(ctx, 3))
			require.Equal(t, before, l.retries.Load(), "no request failed while serve3 drained")
			return fmt.Sprintf("serve3 stopped with SIGTERM (drained and exited in %.1f s, no request failed), started again", took.Seconds())
		}},
		{"KillServe", func(t *testing.T, l *load) string {
			require.NoError(t, c.Kill("serve2"))
			time.Sleep(6 * time.Second)
			require.NoError(t, c.StartServe(ctx, 2))
			return "serve2 killed (-9), restarted 6 s later"
		}},
		{"KillPrimary", func(t *testing.T, l *load) string {
			old := c.Primary()
			require.NotZero(t, old)
			servePids := h.servePids()
			pm := c.postmasterPid(old)
			watchCtx, stopWatching := context.WithCancel(ctx)
			defer stopWatching()
			tl := watchFailover(watchCtx, c, 3-old)
			killed := tl.start
			require.NoError(t, c.Kill(fmt.Sprintf("pg%d", old)))
			require.NoError(t, syscall.Kill(pm, syscall.SIGKILL))
			require.NoError(t, waitFor(ctx, 60*time.Second, "the standby's promotion", func() bool { return c.Primary() == 3-old }))
			promoted := time.Since(killed)
			tl.mark("promotion seen (Patroni /primary, polled every 200 ms)", killed.Add(promoted))
			require.NoError(t, waitFor(ctx, 60*time.Second, "writes to resume", func() bool {
				return l.lastWrite().After(killed.Add(promoted))
			}))
			tl.mark("first acknowledged commit after it", l.firstWriteAfter(killed.Add(promoted)))
			time.Sleep(time.Second)
			stopWatching()
			for _, r := range l.resendsAfter(killed) {
				tl.mark(r.what, r.at)
			}
			h.timeline = tl.String()
			gap := l.longestWriteGap(killed, time.Now())
			require.Equal(t, servePids, h.servePids(), "the instances reconnected without a restart")
			// The old primary comes back as the new one's synchronous standby.
			require.NoError(t, c.startPatroniNode(old, ""))
			require.NoError(t, waitFor(ctx, 90*time.Second, "the old primary to rejoin as synchronous standby", func() bool {
				return httpOK(c.patroniURL(old, "/synchronous"))
			}))
			h.failover = fmt.Sprintf("standby promoted %.1f s after the kill; write gap (longest time without an acknowledged commit from the kill on) %.1f s", promoted.Seconds(), gap.Seconds())
			return fmt.Sprintf("pg%d (primary) Patroni and postmaster killed (-9): %s; pg%d rejoined as synchronous standby", old, h.failover, old)
		}},
		{"RestartNATS", func(t *testing.T, l *load) string {
			c.stopGroup("nats", syscall.SIGTERM, 10*time.Second)
			time.Sleep(2 * time.Second)
			require.NoError(t, c.StartNATS())
			require.NoError(t, waitFor(ctx, 20*time.Second, "NATS", func() bool {
				return httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", c.Ports().NATSMonitor))
			}))
			return "NATS stopped, started again 2 s later (JetStream store on disk)"
		}},
		{"CutRedis", func(t *testing.T, l *load) string {
			require.NoError(t, c.Kill("redis"))
			time.Sleep(8 * time.Second)
			require.NoError(t, c.StartRedis())
			return "Redis killed (-9) for 8 s, then started again (empty)"
		}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			l := startLoad(ctx, h.client, strings.ToLower(f.name), h.accounts, loadMix{pairs: 8, usage: 2, portal: 2, staff: 1, api: 1})
			time.Sleep(4 * time.Second)
			injected := time.Now()
			what := f.inject(t, l)
			time.Sleep(4 * time.Second)
			l.stop()
			gap := l.longestWriteGap(injected.Add(-time.Second), time.Now())
			r := h.reconcile(t, l)
			line := fmt.Sprintf("%s: %s\n    acknowledged: %d reserve/commit pairs, %d usage events, %d portal pages, %d back-office pages and %d API GETs (%d page and %d API GET errors: %s); "+
				"client resends %d (after: %s); lost %d, duplicated %d, amounts differing %d, given up %d, refused 429 %d; longest write gap %.2f s; ledger verify: %s",
				f.name, what, len(l.commits), len(l.usage), l.pages.Load(), l.staffPages.Load(), l.apiReads.Load(), l.pageErrors.Load(), l.apiErrors.Load(), l.failedPagesSummary(),
				l.retries.Load(), l.resentSummary(), r.lost, r.duplicated, r.amountDiffers, len(l.gaveUp), l.refused429.Load(), gap.Seconds(), r.verify)
			report = append(report, line)
			t.Log(line)
			require.Empty(t, l.unexpected, "answers other than success or a retryable failure")
			require.Zero(t, r.lost, "acknowledged operations missing from the ledger")
			require.Zero(t, r.duplicated, "operations applied twice")
			require.Zero(t, r.amountDiffers, "commits charged another amount than acknowledged")
			require.Equal(t, "clean", r.verify)
			switch f.name {
			case "CutRedis":
				require.Zero(t, l.refused429.Load(), "a Redis outage refuses nothing")
				require.Zero(t, l.pageErrors.Load())
			case "KillPrimary":
				// While no primary answers, the standby stands in for it:
				// sessions, users, balances and usage are read there
				// (README "Reads through a failover").
				require.Zero(t, l.pageErrors.Load(), "portal and back-office pages are served from the standby through the failover")
				require.Zero(t, l.apiErrors.Load(), "the API's GETs are served from the standby through the failover")
				require.Positive(t, l.staffPages.Load())
				require.Positive(t, l.apiReads.Load())
			}
		})
	}
	if h.failover != "" {
		report = append(report, "failover: "+h.failover)
	}
	if h.timeline != "" {
		report = append(report, "failover timeline (from the kill):\n      "+h.timeline)
	}
}

// loadAverage is the machine's one-minute load average: on a shared
// two-core machine the figures mean little without it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// harness is what the faults share: the cluster, a live service key's
// client and funded accounts.
type harness struct {
	c        Config
	client   *client
	accounts []string
	failover string
	timeline string // the KillPrimary fault's (watchFailover)
}

func setupHarness(t *testing.T, c Config) *harness {
	cmd := exec.Command(c.Binary, "keys", "create", "--mode", "live", "--name", "cluster-test")
	cmd.Dir, cmd.Env = c.Workdir, append(baseEnv(), c.appEnv()...)
	out, err := cmd.Output()
	require.NoError(t, err)
	h := &harness{c: c, client: newClient(c.WebURL(), strings.TrimSpace(string(out)))}
	ctx := context.Background()
	for i := range 16 {
		ext := fmt.Sprintf("cluster-%d", i)
		// A high per-minute limit, so that every reserve asks the limiter
		// (Redis, or the local buckets while it is out) and none is refused.
		status, body, _ := h.client.retried(ctx, "PUT", "/v1/accounts/"+ext, map[string]any{"rpm": 1_000_000, "tpm": 0,
			"verification": map[string]any{"status": "verified", "reference": "cluster"}})
		require.Contains(t, []int{200, 201}, status, string(body))
		status, body, _ = h.client.retried(ctx, "POST", "/v1/accounts/"+ext+"/grants", map[string]any{
			"amount": "100000000", "kind": "promo", "reason_code": "cluster", "idempotency_key": "seed"})
		require.Contains(t, []int{200, 201}, status, string(body))
		h.accounts = append(h.accounts, ext)
	}
	return h
}

func (h *harness) servePids() []int {
	var pids []int
	for i := range h.c.Serves {
		pids = append(pids, h.c.Pid(fmt.Sprintf("serve%d", i+1)))
	}
	return pids
}

// setServer puts a serve instance in HAProxy's rotation or takes it out
// (state drain lets its requests in flight finish), through the admin
// socket.
func (h *harness) setServer(t *testing.T, name string, on bool) {
	state := "ready"
	if !on {
		state = "maint"
	}
	conn, err := net.Dial("unix", h.c.haproxySocket())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "set server serve/%s state %s\n", name, state)
	require.NoError(t, err)
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	require.Empty(t, strings.TrimSpace(string(buf[:n])))
}

type reconciliation struct {
	lost, duplicated, amountDiffers int
	verify                          string
}

// reconcile compares what the clients saw acknowledged with the ledger:
// each acknowledged commit must be there once with the amount the client
// was told, each accepted usage event charged once (the usage stream is
// waited for), and `credits ledger verify` must be clean.
func (h *harness) reconcile(t *testing.T, l *load) reconciliation {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.c.DatabaseURL("credits_owner"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	// One row per operation (op_id) that charged a session of this phase.
	const charged = `SELECT session_id, count(DISTINCT op_id), coalesce(sum(abs(amount)), 0)
		FROM ledger_event_view WHERE type = 'deduction' AND (session_id LIKE $1 OR session_id LIKE $2) GROUP BY session_id`
	type row struct {
		ops    int
		amount decimal.Decimal
	}
	var got map[string]row
	load := func() {
		got = map[string]row{}
		rows, err := conn.Query(ctx, charged, "ct-"+l.phase+"-%", "cu-"+l.phase+"-%")
		require.NoError(t, err)
		for rows.Next() {
			var s string
			var r row
			require.NoError(t, rows.Scan(&s, &r.ops, &r.amount))
			got[s] = r
		}
		require.NoError(t, rows.Err())
	}
	// The usage stream charges asynchronously: wait until every accepted
	// event is there (or a minute has passed).
	deadline := time.Now().Add(time.Minute)
	for {
		load()
		missing := 0
		for _, s := range l.usage {
			if _, ok := got[s]; !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var r reconciliation
	for _, a := range l.commits {
		g, ok := got[a.session]
		switch {
		case !ok:
			r.lost++
		case g.ops > 1:
			r.duplicated++
		case !g.amount.Equal(a.charged):
			r.amountDiffers++
		}
	}
	for _, s := range l.usage {
		g, ok := got[s]
		switch {
		case !ok:
			r.lost++
		case g.ops > 1:
			r.duplicated++
		}
	}
	cmd := exec.Command(h.c.Binary, "ledger", "verify")
	cmd.Dir, cmd.Env = h.c.Workdir, append(baseEnv(), h.c.appEnv()...)
	out, err := cmd.CombinedOutput()
	r.verify = "clean"
	if err != nil {
		r.verify = fmt.Sprintf("%v: %s", err, out)
	}
	return r
}

// lastWrite is when the latest commit was acknowledged.
func (l *load) lastWrite() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, t := range l.writeDone {
		if t.After(last) {
			last = t
		}
	}
	return last
}
