package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// BenchmarkAPIReserveCommit is the gateway API's part of `make bench`: 64
// concurrent clients doing reserve+commit over HTTP, and in the same run the
// same work calling the ledger directly, printing the HTTP rate as a ratio
// to the ledger's (target ≥ 0.6) and the p99 of each HTTP call. Each
// reserve and each commit counts one operation. Figures: web/API_BENCH.md.
func BenchmarkAPIReserveCommit(b *testing.B) {
	const clients, accounts = 64, 256
	dur := 6 * time.Second
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

	price := decimal.RequireFromString("10") // what 1000 in + 1000 out of deepseek-chat holds
	ledgerOps, _, ledgerCPU := drive(b, clients, dur, func(r *rand.Rand, n int64) []time.Duration {
		acct := ledgerAccts[r.IntN(accounts)]
		t0 := time.Now()
		res, err := bundle.ledger.Reserve(ctx, ledger.ReserveRequest{AccountID: acct, Amount: price,
			IdempotencyKey: fmt.Sprint("l", n), Model: "deepseek-chat"})
		require.NoError(b, err)
		t1 := time.Now()
		_, err = bundle.ledger.Commit(ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: decimal.RequireFromString("6.5")})
		require.NoError(b, err)
		return []time.Duration{t1.Sub(t0), time.Since(t1)}
	})
	// The clients encode typed bodies (as a client library would) and send
	// the commit's body, the same for every call, from one encoding.
	type reserveBody struct {
		Account         string `json:"account"`
		Model           string `json:"model"`
		MaxInputTokens  int64  `json:"max_input_tokens"`
		MaxOutputTokens int64  `json:"max_output_tokens"`
		IdempotencyKey  string `json:"idempotency_key"`
	}
	commitBody, err := json.Marshal(struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
	}{1000, 500})
	require.NoError(b, err)
	apiOps, lat, apiCPU := drive(b, clients, dur, func(r *rand.Rand, n int64) []time.Duration {
		ext := apiAccts[r.IntN(accounts)]
		t0 := time.Now()
		status, body := bundle.raw(http.MethodPost, "/v1/reservations", reserveBody{Account: ext, Model: "deepseek-chat",
			MaxInputTokens: 1000, MaxOutputTokens: 1000, IdempotencyKey: "a" + strconv.FormatInt(n, 10)})
		if status != http.StatusCreated {
			require.Equal(b, http.StatusCreated, status, string(body))
		}
		var res struct{ ID string }
		require.NoError(b, json.Unmarshal(body, &res))
		t1 := time.Now()
		status, body = bundle.raw(http.MethodPost, "/v1/reservations/"+res.ID+"/commit", commitBody)
		if status != http.StatusOK {
			require.Equal(b, http.StatusOK, status, string(body))
		}
		return []time.Duration{t1.Sub(t0), time.Since(t1)}
	})
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	ratio := apiOps / ledgerOps
	fmt.Printf("gateway API bench: %d clients, %d accounts, %s per run\n", clients, accounts, dur)
	fmt.Printf("  ledger direct:  %8.0f ops/s (reserve+commit, each counts one)\n", ledgerOps)
	fmt.Printf("  HTTP API:       %8.0f ops/s  ratio %.2f (target >= 0.6)  p50 %s  p99 %s per call\n",
		apiOps, ratio, p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	fmt.Printf("  this process's CPU per operation: ledger direct %s, HTTP API %s (clients and server)\n",
		ledgerCPU.Round(100*time.Nanosecond), apiCPU.Round(100*time.Nanosecond))
	b.ReportMetric(apiOps, "api_ops/s")
	b.ReportMetric(ledgerOps, "ledger_ops/s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(apiCPU.Microseconds()), "api_cpu_us/op")
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

// drive runs fn from clients goroutines for d and returns operations per
// second (each returned latency is one operation), every latency, and the
// CPU time (user + system) this process spent per operation meanwhile.
func drive(b *testing.B, clients int, d time.Duration, fn func(r *rand.Rand, n int64) []time.Duration) (float64, []time.Duration, time.Duration) {
	var seq atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	stop := start.Add(d)
	for i := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			var mine []time.Duration
			for time.Now().Before(stop) {
				mine = append(mine, fn(r, seq.Add(1))...)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	cpu := processCPU() - cpu0
	return float64(len(all)) / time.Since(start).Seconds(), all, cpu / time.Duration(max(len(all), 1))
}

// processCPU is the user + system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAPIReserveCommitAllocs is one client doing reserve + commit over
// HTTP b.N times, for the allocations per reserve+commit pair (client,
// server and ledger together), a figure that other load on the machine does
// not move. Run with -benchmem and e.g. -benchtime 2000x.
func BenchmarkAPIReserveCommitAllocs(b *testing.B) {
	bundle := setupAPIBench(b)
	ext := fmt.Sprintf("allocs-%d", time.Now().UnixNano())
	status, body := bundle.raw(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"rpm": 0, "tpm": 0,
		"verification": map[string]any{"status": "verified", "reference": "bench"}})
	require.Contains(b, []int{200, 201}, status, string(body))
	status, body = bundle.raw(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{
		"amount": "100000000", "kind": "promo", "reason_code": "bench", "idempotency_key": "seed"})
	require.Equal(b, http.StatusCreated, status, string(body))
	commit := []byte(`{"input_tokens":1000,"output_tokens":500}`)
	reserve := func(n int) {
		status, body := bundle.raw(http.MethodPost, "/v1/reservations", []byte(`{"account":"`+ext+
			`","model":"deepseek-chat","max_input_tokens":1000,"max_output_tokens":1000,"idempotency_key":"k`+strconv.Itoa(n)+`"}`))
		if status != http.StatusCreated {
			b.Fatalf("reserve: %d %s", status, body)
		}
		var res struct{ ID string }
		require.NoError(b, json.Unmarshal(body, &res))
		if status, body = bundle.raw(http.MethodPost, "/v1/reservations/"+res.ID+"/commit", commit); status != http.StatusOK {
			b.Fatalf("commit: %d %s", status, body)
		}
	}
	reserve(-1) // warm the caches and the connection
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		reserve(i)
	}
}
