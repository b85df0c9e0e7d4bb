package relay_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/relay/upstreamsim"
)

// streamTiming is one stream's time to its first token and to its end.
type streamTiming struct{ first, total time.Duration }

// oneStream posts a streaming chat completion and times it; the first
// token is the first event carrying the simulator's token text.
func oneStream(ctx context.Context, c *http.Client, url, key, body string) (streamTiming, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return streamTiming{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return streamTiming{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return streamTiming{}, fmt.Errorf("status %d: %s", resp.StatusCode, msg)
	}
	var st streamTiming
	rd := bufio.NewReader(resp.Body)
	done := false
	for {
		line, err := rd.ReadString('\n')
		if st.first == 0 && strings.Contains(line, upstreamsim.Token) {
			st.first = time.Since(start)
		}
		if strings.HasPrefix(line, "data: [DONE]") {
			done = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return streamTiming{}, err
		}
	}
	st.total = time.Since(start)
	if !done || st.first == 0 {
		return streamTiming{}, fmt.Errorf("stream ended without tokens or [DONE]")
	}
	return st, nil
}

// steady keeps n streams in flight for each of rounds rounds: n workers,
// worker i with keys[i%len(keys)], each starting its next stream as its
// last one ends, their first starts spread over spread so they do not
// arrive in lock-step (a gateway's steady traffic, where wave is its worst
// burst).
func steady(ctx context.Context, c *http.Client, n, rounds int, spread time.Duration, url string, keys []string, body string) ([]streamTiming, error) {
	out := make([][]streamTiming, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			time.Sleep(spread * time.Duration(i) / time.Duration(n))
			for range rounds {
				t, err := oneStream(ctx, c, url, keys[i%len(keys)], body)
				if err != nil {
					errs[i] = err
					return
				}
				out[i] = append(out[i], t)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return slices.Concat(out...), nil
}

// wave runs n streams at once, stream i with keys[i%len(keys)], and
// returns their timings.
func wave(ctx context.Context, c *http.Client, n int, url string, keys []string, body string) ([]streamTiming, error) {
	out := make([]streamTiming, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i], errs[i] = oneStream(ctx, c, url, keys[i%len(keys)], body) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// BenchmarkGatewayStreams measures what the gateway adds to a streaming
// call: 64 concurrent streams (32 tokens, 2 ms apart; one customer each)
// through the gateway
// (key check, rate limit, token estimate, reserve in PostgreSQL, forward,
// SSE relay, settle) against the same streams sent to the simulator
// directly, the two phases taking turns in one run so both see the same
// machine load. It prints time to first token and total time, p50 and p99,
// what the gateway adds (target: added p50 < 5 ms), and the gateway's own
// part of each stream's time to its first token as it times it itself
// (relay.Overhead: what is left when the clients, the simulator and
// PostgreSQL sharing the two cores are taken out). Both traffic shapes run
// in one run: steady (64 streams kept in flight, each client starting its
// next stream when its last one ends, their starts spread: a gateway's
// steady traffic) and waves (each turn's 64 streams started in one
// lock-step burst: its worst burst). `make bench` runs it;
// GATEWAY_BENCH_TURNS sets the turns per phase (default 8),
// GATEWAY_BENCH_STREAMS the streams at once (default 64),
// GATEWAY_BENCH_ACCOUNTS the customers they are spread over (default 64),
// GATEWAY_BENCH_FIRST the upstream's time to its first token (default
// 100ms, a fast real model's prefill, behind which a speculative start's
// hold hides; 0 is an instant upstream, where the whole hold shows), and
// GATEWAY_BENCH_MODE=steady or waves runs one shape only.
func BenchmarkGatewayStreams(b *testing.B) {
	const tokens = 32
	streams, turns, accounts := 64, 8, 64
	for env, v := range map[string]*int{"GATEWAY_BENCH_TURNS": &turns, "GATEWAY_BENCH_STREAMS": &streams,
		"GATEWAY_BENCH_ACCOUNTS": &accounts} {
		if s := os.Getenv(env); s != "" {
			_, err := fmt.Sscan(s, v)
			require.NoError(b, err, env)
		}
	}
	// The production upstream cache (the tests' is 50 ms); every stream's
	// time inside the gateway, as the gateway's /metrics would see it.
	var ownMu sync.Mutex
	var own []relay.Overhead
	tb := setup(b, func(o *relay.Options) {
		o.UpstreamTTL = 2 * time.Second
		o.Observe = func(v relay.Overhead) { ownMu.Lock(); own = append(own, v); ownMu.Unlock() }
	})
	tb.upstream(b, "bench", "moonshot-v1-8k=sim-chat", 0)
	// One customer per concurrent stream by default (a platform's traffic);
	// GATEWAY_BENCH_ACCOUNTS=1 puts every stream on one hot account.
	var acctIDs []int64
	var keys []string
	unlimited := int64(0)
	for range accounts {
		acct, key := tb.customer(b, "1000000")
		require.NoError(b, tb.gw.Limits.Set(context.Background(), acct.ID, gateway.Limits{RPM: &unlimited, TPM: &unlimited}))
		acctIDs, keys = append(acctIDs, acct.ID), append(keys, key)
	}
	first := 100 * time.Millisecond
	if s := os.Getenv("GATEWAY_BENCH_FIRST"); s != "" {
		var err error
		first, err = time.ParseDuration(s)
		require.NoError(b, err, "GATEWAY_BENCH_FIRST")
	}
	text := fmt.Sprintf("bench sim:tokens=%d sim:delay=2ms sim:first=%s", tokens, first)
	// Both phases' clients keep their connections alive, as an SDK does.
	client := func() *http.Client {
		return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	}
	direct, viaGateway := client(), client()
	phases := []struct {
		name, url, body string
		keys            []string
		c               *http.Client
	}{
		{"direct", tb.simURL + "/chat/completions", chatBody("sim-chat", text, true, ""), []string{"sim-secret"}, direct},
		{"gateway", tb.url + "/v1/chat/completions", chatBody("moonshot-v1-8k", text, true, ""), keys, viaGateway},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	modes := []string{"steady", "waves"}
	if m := os.Getenv("GATEWAY_BENCH_MODE"); m != "" {
		require.Contains(b, modes, m, "GATEWAY_BENCH_MODE")
		modes = []string{m}
	}
	run := func(mode string, p int) ([]streamTiming, error) {
		if mode == "steady" {
			// Four streams per client per turn, the clients' starts spread
			// over one stream's length (32 tokens 2 ms apart).
			return steady(ctx, phases[p].c, streams, 4, 2*tokens*time.Millisecond, phases[p].url, phases[p].keys, phases[p].body)
		}
		return wave(ctx, phases[p].c, streams, phases[p].url, phases[p].keys, phases[p].body)
	}
	// Warm up: connections, the key cache, the upstream list, the card.
	for _, p := range phases {
		_, err := wave(ctx, p.c, streams, p.url, p.keys, p.body)
		require.NoError(b, err, p.name)
	}
	b.ResetTimer()
	for _, mode := range modes {
		firsts := map[string][]time.Duration{}
		totals := map[string][]time.Duration{}
		// CPU per stream of this process (clients, simulator and, in the
		// gateway phase, the gateway) and of PostgreSQL's backends, by phase:
		// the difference is the gateway's own cost, steadier than latencies
		// on a shared machine.
		cpu, pgCPU := map[string]time.Duration{}, map[string]time.Duration{}
		ownMu.Lock()
		own = own[:0]
		ownMu.Unlock()
		speculated := tb.relay.Speculated()
		for turn := range turns {
			for i := range phases {
				p := phases[(turn+i)%2] // alternate which phase goes first
				cpu0, pg0 := db.ProcessCPU(), db.ServerCPU(ctx, tb.pool)
				ts, err := run(mode, (turn+i)%2)
				cpu[p.name] += db.ProcessCPU() - cpu0
				pgCPU[p.name] += db.ServerCPUSpent(pg0, db.ServerCPU(ctx, tb.pool))
				require.NoError(b, err, p.name)
				for _, t := range ts {
					firsts[p.name] = append(firsts[p.name], t.first)
					totals[p.name] = append(totals[p.name], t.total)
				}
			}
		}

		row := func(name string) (f50, f99, t50, t99 time.Duration) {
			return percentile(firsts[name], .50), percentile(firsts[name], .99), percentile(totals[name], .50), percentile(totals[name], .99)
		}
		df50, df99, dt50, dt99 := row("direct")
		gf50, gf99, gt50, gt99 := row("gateway")
		fmt.Printf("gateway streams (%s): %d concurrent over %d accounts, %d tokens 2 ms apart, %d turns per phase (%d streams each), phases alternating; upstream first token after %s\n",
			mode, streams, accounts, tokens, turns, len(firsts["gateway"]), first)
		fmt.Printf("  %-8s  first token p50 %7.2f ms  p99 %7.2f ms   total p50 %7.2f ms  p99 %7.2f ms\n", "direct", ms(df50), ms(df99), ms(dt50), ms(dt99))
		fmt.Printf("  %-8s  first token p50 %7.2f ms  p99 %7.2f ms   total p50 %7.2f ms  p99 %7.2f ms\n", "gateway", ms(gf50), ms(gf99), ms(gt50), ms(gt99))
		fmt.Printf("  %-8s  first token p50 %7.2f ms  p99 %7.2f ms   total p50 %7.2f ms  p99 %7.2f ms   (target: added p50 < 5 ms)\n", "added",
			ms(gf50-df50), ms(gf99-df99), ms(gt50-dt50), ms(gt99-dt99))
		fmt.Printf("  %d of %d gateway streams started upstream while their hold was reserved (RELAY_SPECULATE)\n",
			tb.relay.Speculated()-speculated, len(firsts["gateway"]))
		perStream := func(m map[string]time.Duration, name string) float64 {
			return float64(m[name].Microseconds()) / float64(max(len(firsts[name]), 1))
		}
		gwCPU := perStream(cpu, "gateway") - perStream(cpu, "direct")
		fmt.Printf("  CPU per stream: this process %.0f µs direct, %.0f µs through the gateway (the gateway's own: %.0f µs); PostgreSQL %.0f µs (load average %s)\n",
			perStream(cpu, "direct"), perStream(cpu, "gateway"), gwCPU, perStream(pgCPU, "gateway"), loadAverage())
		ownMu.Lock()
		stage := func(f func(relay.Overhead) time.Duration) (time.Duration, time.Duration) {
			ds := make([]time.Duration, len(own))
			for i, o := range own {
				ds[i] = f(o)
			}
			return percentile(ds, .50), percentile(ds, .99)
		}
		o50, o99 := stage(relay.Overhead.Total)
		b50, b99 := stage(func(o relay.Overhead) time.Duration { return o.BeforeUpstream })
		h50, h99 := stage(func(o relay.Overhead) time.Duration { return o.HoldWait })
		e50, e99 := stage(func(o relay.Overhead) time.Duration { return o.FirstEvent })
		fmt.Printf("  inside the gateway, to the first event (%d streams): p50 %.2f ms  p99 %.2f ms  (before upstream %.2f / %.2f, hold wait %.2f / %.2f, first event %.2f / %.2f)\n",
			len(own), ms(o50), ms(o99), ms(b50), ms(b99), ms(h50), ms(h99), ms(e50), ms(e99))
		ownMu.Unlock()
		b.ReportMetric(ms(o50), mode+"-inside-ttft-p50-ms")
		b.ReportMetric(gwCPU, mode+"-gateway-cpu-µs/stream")
		b.ReportMetric(ms(gf50-df50), mode+"-added-ttft-p50-ms")
		b.ReportMetric(ms(gf99-df99), mode+"-added-ttft-p99-ms")
		b.ReportMetric(ms(gt50-dt50), mode+"-added-total-p50-ms")
		b.ReportMetric(ms(gt99-dt99), mode+"-added-total-p99-ms")
	}
	b.StopTimer()
	for _, id := range acctIDs {
		tb.waitSettled(b, id)
	}
}
