package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
)

// BenchmarkAPIReserveCommit is the gateway API's part of `make bench`: 64
// concurrent clients doing reserve+commit over HTTP, and in the same run the
// same work calling the ledger directly, printing the HTTP rate as a ratio
// to the ledger's (target ≥ 0.6) and the p99 of each HTTP call. Each
// reserve and each commit counts one operation. Figures: web/API_BENCH.md.
//
// The HTTP clients are wireClients: keep-alive HTTP/1.1 connections written
// and read directly, as load generators such as wrk do, because here the
// load generator shares this process and the machine's two cores with the
// server and PostgreSQL, where a platform's gateway runs on machines of its
// own. A third phase runs the same load through net/http's client and
// prints its ratio too, so the load generator's share stays visible.
func BenchmarkAPIReserveCommit(b *testing.B) {
	const clients, accounts, rounds = 64, 256, 6
	dur := 6 * time.Second // per phase, in rounds turns
	bundle := setupAPIBench(b)
	ctx := context.Background()

	// Ledger-level accounts.
	ledgerAccts := make([]int64, accounts)
	for i := range ledgerAccts {
		a, err := bundle.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "bench"})
		require.NoError(b, err)
		_, err = bundle.ledger.Credit(ctx, ledger.CreditRequest{AccountID: a.ID, Kind: ledger.LotPromo,
			Amount: decimal.NewFromInt(100_000_000), IdempotencyKey: "seed"})
		require.NoError(b, err)
		ledgerAccts[i] = a.ID
	}
	// API accounts: verified, no rate limit, well funded.
	apiAccts := make([]string, accounts)
	for i := range apiAccts {
		ext := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
		status, body := bundle.raw(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"rpm": 0, "tpm": 0,
			"verification": map[string]any{"status": "verified", "reference": "bench"}})
		require.Contains(b, []int{200, 201}, status, string(body))
		status, body = bundle.raw(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{
			"amount": "100000000", "kind": "promo", "reason_code": "bench", "idempotency_key": "seed"})
		require.Equal(b, http.StatusCreated, status, string(body))
		apiAccts[i] = ext
	}

	// Plan accounts: the same, with a plan covering deepseek-chat (quota of
	// requests per 5 hours and tokens per day far above what the run uses)
	// and the default preference, so every call is paid by quota.
	planAccts := make([]string, accounts)
	spec := plans.DemoSpecs()[1]
	spec.Code, spec.RPM, spec.TPM, spec.MonthlyCredits = fmt.Sprintf("bench%d", time.Now().UnixNano()%1_000_000), 0, 0, decimal.Zero
	spec.Items = []plans.Item{{Models: []string{"deepseek-chat"}, Quotas: []plans.Quota{
		{Unit: plans.Requests, Window: plans.Rolling(5), Limit: 1_000_000_000},
		{Unit: plans.Tokens, Window: plans.Day, Limit: 1_000_000_000_000},
	}}}
	draft, err := bundle.app.Services.Plans.CreateDraft(ctx, spec, "bench")
	require.NoError(b, err)
	_, err = bundle.app.Services.Plans.Publish(ctx, draft.ID, "bench")
	require.NoError(b, err)
	for i := range planAccts {
		ext := fmt.Sprintf("bench-plan-%d-%d", time.Now().UnixNano(), i)
		status, body := bundle.raw(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"rpm": 0, "tpm": 0,
			"verification": map[string]any{"status": "verified", "reference": "bench"}})
		require.Contains(b, []int{200, 201}, status, string(body))
		acct, err := bundle.ledger.AccountByExternalID(ctx, ledger.ModeLive, ext)
		require.NoError(b, err)
		_, _, err = bundle.app.Services.Subscriptions.Comp(ctx, plans.CompRequest{AccountID: acct.ID, PlanCode: spec.Code, Months: 1, Actor: "bench"})
		require.NoError(b, err)
		planAccts[i] = ext
	}

	// The ledger-level phase asks of the ledger exactly what the API's
	// reserve and commit ask of it for the same call (deepseek-chat, 1000 +
	// 1000 tokens held, 1000 + 500 charged): the same amounts, the same
	// idempotency-key form, TTL and model, and the same detail documents
	// (token counts and the rate card's version), so that the ratio is the
	// HTTP layer's cost and nothing else.
	status, body := bundle.raw(http.MethodGet, "/v1/rate-card", nil)
	require.Equal(b, http.StatusOK, status, string(body))
	var card struct{ Version int }
	require.NoError(b, json.Unmarshal(body, &card))
	version := strconv.Itoa(card.Version)
	reserveDetail := json.RawMessage(`{"max_input_tokens":1000,"max_output_tokens":1000,"rate_card_version":` + version + `}`)
	commitDetail := json.RawMessage(`{"input_tokens":1000,"output_tokens":500,"cache_hit_tokens":0,"requests":1,"rate_card_version":` +
		version + `,"outcome":"completed"}`)
	price, actual := decimal.RequireFromString("10"), decimal.RequireFromString("6.5")
	ledgerClient := func() clientFunc {
		return func(r *rand.Rand, n int64) ([]time.Duration, error) {
			acct := ledgerAccts[r.IntN(accounts)]
			t0 := time.Now()
			res, err := bundle.ledger.Reserve(ctx, ledger.ReserveRequest{AccountID: acct, Amount: price,
				IdempotencyKey: "rsv:l" + strconv.FormatInt(n, 10), TTL: 5 * time.Minute, Model: "deepseek-chat",
				Detail: reserveDetail})
			if err != nil {
				return nil, fmt.Errorf("reserve: %w", err)
			}
			t1 := time.Now()
			if _, err = bundle.ledger.Commit(ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: actual, Detail: commitDetail}); err != nil {
				return nil, fmt.Errorf("commit: %w", err)
			}
			return []time.Duration{t1.Sub(t0), time.Since(t1)}, nil
		}
	}
	// reserveCommit is one client's loop over post, which sends a JSON body
	// and answers the status and the response body. The loop checks its
	// results without testify, whose every call walks the stack (t.Helper),
	// a cost as large as the client's own.
	commitBody := []byte(`{"input_tokens":1000,"output_tokens":500}`)
	reserveCommit := func(prefix string, accts []string, post func(path string, body []byte) (int, []byte, error)) clientFunc {
		var reserveBody []byte
		return func(r *rand.Rand, n int64) ([]time.Duration, error) {
			reserveBody = append(reserveBody[:0], `{"account":"`...)
			reserveBody = append(reserveBody, accts[r.IntN(accounts)]...)
			reserveBody = append(reserveBody, `","model":"deepseek-chat","max_input_tokens":1000,"max_output_tokens":1000,"idempotency_key":"`...)
			reserveBody = strconv.AppendInt(append(reserveBody, prefix...), n, 10)
			reserveBody = append(reserveBody, `"}`...)
			t0 := time.Now()
			status, body, err := post("/v1/reservations", reserveBody)
			if err != nil || status != http.StatusCreated {
				return nil, fmt.Errorf("reserve: %d %s %v", status, body, err)
			}
			id := jsonStringField(body, "id")
			if id == "" {
				return nil, fmt.Errorf("reserve: no id in %s", body)
			}
			t1 := time.Now()
			if status, body, err = post("/v1/reservations/"+id+"/commit", commitBody); err != nil || status != http.StatusOK {
				return nil, fmt.Errorf("commit: %d %s %v", status, body, err)
			}
			return []time.Duration{t1.Sub(t0), time.Since(t1)}, nil
		}
	}
	wireClient := func() clientFunc { return reserveCommit("w", apiAccts, bundle.dial(b).post) }
	planClient := func() clientFunc { return reserveCommit("p", planAccts, bundle.dial(b).post) }
	netHTTPClient := func() clientFunc {
		return reserveCommit("n", apiAccts, func(path string, body []byte) (int, []byte, error) {
			status, got := bundle.raw(http.MethodPost, path, body)
			if status == 0 {
				return 0, nil, errors.New(string(got))
			}
			return status, got, nil
		})
	}

	// The phases take turns, rounds times each, so that what drifts during
	// a run (tables and indexes growing, autovacuum, checkpoints) weighs on
	// all three alike rather than on whichever runs last.
	var ledgerRun, apiRun, netHTTPRun, planRun benchRun
	phases := []struct {
		run     *benchRun
		clients []clientFunc
	}{
		{&ledgerRun, newClients(clients, ledgerClient)},
		{&apiRun, newClients(clients, wireClient)},
		{&netHTTPRun, newClients(clients, netHTTPClient)},
		{&planRun, newClients(clients, planClient)},
	}
	var seq atomic.Int64
	for range rounds {
		for _, p := range phases {
			run, err := drive(bundle.ledger, p.clients, dur/rounds, &seq)
			require.NoError(b, err)
			p.run.add(run)
		}
	}

	// BENCH_PGFUNCS=1 prints where PostgreSQL spent its time, by SQL
	// function (the server needs track_functions = 'pl').
	if os.Getenv("BENCH_PGFUNCS") != "" {
		rows, _ := bundle.pool.Query(ctx, `SELECT funcname, calls, round(self_time::numeric, 1), round(total_time::numeric, 1) FROM pg_stat_user_functions ORDER BY self_time DESC LIMIT 25`)
		for rows.Next() {
			var name string
			var calls int64
			var self, total decimal.Decimal
			_ = rows.Scan(&name, &calls, &self, &total)
			fmt.Printf("PGFUNC %-32s calls %8d self %10s ms total %10s ms\n", name, calls, self, total)
		}
		rows.Close()
	}
	for _, p := range phases {
		require.NotZero(b, p.run.count)
		slices.Sort(p.run.latencies)
	}
	ratio := apiRun.rate() / ledgerRun.rate()
	p50, p99 := apiRun.percentile(50), apiRun.percentile(99)
	fmt.Printf("gateway API bench: %d clients, %d accounts, %s per phase in %d turns\n", clients, accounts, dur, rounds)
	fmt.Printf("  ledger direct:  %8.0f ops/s (reserve+commit, each counts one)\n", ledgerRun.rate())
	fmt.Printf("  HTTP API:       %8.0f ops/s  ratio %.2f (target >= 0.6)  p50 %s  p99 %s per call\n",
		apiRun.rate(), ratio, p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	fmt.Printf("  same over net/http's client: %8.0f ops/s  ratio %.2f  p99 %s per call\n",
		netHTTPRun.rate(), netHTTPRun.rate()/ledgerRun.rate(), netHTTPRun.percentile(99).Round(time.Microsecond))
	fmt.Printf("  HTTP API, plan accounts (quota pays): %8.0f ops/s  ratio to the HTTP API on credits %.2f (target >= 0.9), to the ledger %.2f  p99 %s per call\n",
		planRun.rate(), planRun.rate()/apiRun.rate(), planRun.rate()/ledgerRun.rate(), planRun.percentile(99).Round(time.Microsecond))
	fmt.Printf("  ledger writers' mean batch: ledger direct %.1f, HTTP API %.1f, over net/http's client %.1f, plan accounts %.1f\n",
		ledgerRun.batch(), apiRun.batch(), netHTTPRun.batch(), planRun.batch())
	fmt.Printf("  CPU per operation, this process (clients and server) + PostgreSQL: ledger direct %s + %s, HTTP API %s + %s, over net/http's client %s + %s, plan accounts %s + %s\n",
		ledgerRun.perOp(ledgerRun.cpu), ledgerRun.perOp(ledgerRun.pgCPU), apiRun.perOp(apiRun.cpu), apiRun.perOp(apiRun.pgCPU),
		netHTTPRun.perOp(netHTTPRun.cpu), netHTTPRun.perOp(netHTTPRun.pgCPU), planRun.perOp(planRun.cpu), planRun.perOp(planRun.pgCPU))
	b.ReportMetric(apiRun.rate(), "api_ops/s")
	b.ReportMetric(ledgerRun.rate(), "ledger_ops/s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(netHTTPRun.rate()/ledgerRun.rate(), "nethttp_ratio")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(planRun.rate()/apiRun.rate(), "plan_ratio")
	b.ReportMetric(float64(apiRun.perOp(apiRun.cpu).Microseconds()), "api_cpu_us/op")
}

type benchBundle struct {
	*apiBundle
	client *http.Client
	key    string
}

func setupAPIBench(b *testing.B) *benchBundle {
	ab := setupAPI(b, apiOpts{})
	bb := &benchBundle{apiBundle: ab, key: ab.live.key,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}}
	return bb
}

// raw sends body as JSON (a []byte as it is) and answers the status and body.
func (bb *benchBundle) raw(method, path string, body any) (int, []byte) {
	raw, ok := body.([]byte)
	if !ok {
		raw, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, bb.app.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bb.key)
	res, err := bb.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	return res.StatusCode, got
}

// clientFunc is one client's operation: it gets the client's random
// source and a sequence number unique in the run, and answers the latency
// of each operation it did.
type clientFunc func(r *rand.Rand, n int64) ([]time.Duration, error)

// benchRun is what drive measured, summed over its turns.
type benchRun struct {
	count     int             // operations
	elapsed   time.Duration   // wall time
	latencies []time.Duration // one per operation; sorted before percentile
	cpu       time.Duration   // this process's CPU time (user + system)
	pgCPU     time.Duration   // local PostgreSQL processes' CPU time (0: unknown)
	stats     ledger.WriterStats
}

func (r *benchRun) add(o benchRun) {
	r.count += o.count
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
	r.cpu += o.cpu
	r.pgCPU += o.pgCPU
	r.stats.Operations += o.stats.Operations
	r.stats.Transactions += o.stats.Transactions
}

// rate is operations per second.
func (r benchRun) rate() float64 { return float64(r.count) / r.elapsed.Seconds() }

func (r benchRun) perOp(d time.Duration) time.Duration {
	return (d / time.Duration(max(r.count, 1))).Round(100 * time.Nanosecond)
}

// batch is the ledger writers' mean batch.
func (r benchRun) batch() float64 {
	return float64(r.stats.Operations) / float64(max(r.stats.Transactions, 1))
}

func (r benchRun) percentile(p int) time.Duration {
	return r.latencies[len(r.latencies)*p/100]
}

func newClients(n int, newClient func() clientFunc) []clientFunc {
	fns := make([]clientFunc, n)
	for i := range fns {
		fns[i] = newClient()
	}
	return fns
}

// drive runs each of clients in its own goroutine for d, numbering the
// operations from seq; the first error stops the run.
func drive(l *ledger.Ledger, clients []clientFunc, d time.Duration, seq *atomic.Int64) (benchRun, error) {
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var failed atomic.Bool
	var wg sync.WaitGroup
	cpu0, pg0, stats0 := processCPU(), postgresCPU(), l.Stats()
	start := time.Now()
	stop := start.Add(d)
	for i, fn := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			var mine []time.Duration
			var err error
			for !failed.Load() && time.Now().Before(stop) {
				var lat []time.Duration
				if lat, err = fn(r, seq.Add(1)); err != nil {
					failed.Store(true)
					break
				}
				mine = append(mine, lat...)
			}
			mu.Lock()
			all = append(all, mine...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	stats := l.Stats()
	return benchRun{count: len(all), elapsed: time.Since(start), latencies: all,
		cpu: processCPU() - cpu0, pgCPU: postgresCPU() - pg0,
		stats: ledger.WriterStats{Operations: stats.Operations - stats0.Operations,
			Transactions: stats.Transactions - stats0.Transactions}}, firstErr
}

// wireClient is one keep-alive HTTP/1.1 connection to the server, its
// requests written and its responses read directly: the least a client
// can spend on a call, as load generators do.
type wireClient struct {
	br       *bufio.Reader
	bw       *bufio.Writer
	preamble string // Host, Authorization and Content-Type header lines
	body     []byte
}

func (bb *benchBundle) dial(b *testing.B) *wireClient {
	u, err := url.Parse(bb.app.URL)
	require.NoError(b, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(b, err)
	b.Cleanup(func() { conn.Close() })
	return &wireClient{br: bufio.NewReader(conn), bw: bufio.NewWriter(conn),
		preamble: "Host: " + u.Host + "\r\nAuthorization: Bearer " + bb.key + "\r\nContent-Type: application/json\r\n"}
}

// post sends body to path and answers the status and the response body,
// which is valid until the next call. Responses must carry Content-Length
// (the API's small JSON answers always do).
func (wc *wireClient) post(path string, body []byte) (int, []byte, error) {
	wc.bw.WriteString("POST ")
	wc.bw.WriteString(path)
	wc.bw.WriteString(" HTTP/1.1\r\n")
	wc.bw.WriteString(wc.preamble)
	wc.bw.WriteString("Content-Length: ")
	wc.bw.WriteString(strconv.Itoa(len(body)))
	wc.bw.WriteString("\r\n\r\n")
	wc.bw.Write(body)
	if err := wc.bw.Flush(); err != nil {
		return 0, nil, err
	}

	line, err := wc.br.ReadSlice('\n') // "HTTP/1.1 201 Created\r\n"
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("status line %q", line)
	}
	length := -1
	for {
		if line, err = wc.br.ReadSlice('\n'); err != nil {
			return 0, nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return 0, nil, fmt.Errorf("header %q", line)
			}
		}
	}
	if length < 0 {
		return 0, nil, errors.New("response without Content-Length")
	}
	wc.body = slices.Grow(wc.body[:0], length)[:length]
	if _, err = io.ReadFull(wc.br, wc.body); err != nil {
		return 0, nil, err
	}
	return status, wc.body, nil
}

// jsonStringField answers the string value of a top-level field of a flat
// JSON object without escapes in that value (an id), or "".
func jsonStringField(body []byte, field string) string {
	key := `"` + field + `":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return string(rest[:end])
}

// postgresCPU is the user + system CPU time of the processes named
// postgres that this process may read in /proc (a local server's backends
// and helpers, those alive now), or 0 where there is no /proc.
func postgresCPU() time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15)
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open || string(stat[open+1:closing]) != "postgres" {
			continue
		}
		fields := strings.Fields(string(stat[closing+1:]))
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		ticks += utime + stime
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// processCPU is the user + system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAPIReserveCommitAllocs is one wireClient doing reserve + commit
// over HTTP b.N times, for the allocations per reserve+commit pair (server
// and ledger together; the wireClient allocates next to nothing), a figure
// that other load on the machine does not move. Run with -benchmem and
// e.g. -benchtime 3000x.
func BenchmarkAPIReserveCommitAllocs(b *testing.B) {
	bundle := setupAPIBench(b)
	ext := fmt.Sprintf("allocs-%d", time.Now().UnixNano())
	status, body := bundle.raw(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"rpm": 0, "tpm": 0,
		"verification": map[string]any{"status": "verified", "reference": "bench"}})
	require.Contains(b, []int{200, 201}, status, string(body))
	status, body = bundle.raw(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{
		"amount": "100000000", "kind": "promo", "reason_code": "bench", "idempotency_key": "seed"})
	require.Equal(b, http.StatusCreated, status, string(body))
	wc := bundle.dial(b)
	commit := []byte(`{"input_tokens":1000,"output_tokens":500}`)
	var reserveBody []byte
	reserve := func(n int) {
		reserveBody = append(reserveBody[:0], `{"account":"`+ext+`","model":"deepseek-chat","max_input_tokens":1000,"max_output_tokens":1000,"idempotency_key":"k`...)
		reserveBody = append(strconv.AppendInt(reserveBody, int64(n), 10), `"}`...)
		status, body, err := wc.post("/v1/reservations", reserveBody)
		if err != nil || status != http.StatusCreated {
			b.Fatalf("reserve: %d %s %v", status, body, err)
		}
		id := jsonStringField(body, "id")
		if status, body, err = wc.post("/v1/reservations/"+id+"/commit", commit); err != nil || status != http.StatusOK {
			b.Fatalf("commit: %d %s %v", status, body, err)
		}
	}
	reserve(-1) // warm the caches and the connection
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		reserve(i)
	}
}
