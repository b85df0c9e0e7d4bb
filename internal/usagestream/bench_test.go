package usagestream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/usagestream"
)

// BenchmarkUsageIngestion reports accepted-and-applied usage events per
// second on both paths in one run: 8 clients each sending a 500-event
// batch per round, charged in the request (sync), or published to
// JetStream and charged by one instance's consumer (the round ends when the
// stream is drained). Beside the rate it reports the CPU each event cost
// this process (clients, API and consumer: cpu-µs/event) and PostgreSQL's
// backends (pg-cpu-µs/event), which a machine shared with other work
// inflates less than the rate. Not part of make test:
//
//	go test ./internal/usagestream -run '^$' -bench UsageIngestion -benchtime 20x
func BenchmarkUsageIngestion(b *testing.B) {
	const clients, perBatch = 8, 500
	bb := setup(b)
	ctx := context.Background()
	accts := make([]string, clients)
	for i := range accts {
		accts[i] = fmt.Sprintf("bench-%s-%d", bb.prefix, i)
		_, _, err := bb.gw.PutAccount(ctx, bb.key, accts[i], gateway.AccountInput{
			Verification: &gateway.VerificationInput{Status: "verified", Reference: "ref"}})
		require.NoError(b, err)
		_, err = bb.gw.Grant(ctx, bb.key, accts[i], gateway.GrantInput{Amount: decimal.RequireFromString("1000000000"),
			Kind: ledger.LotPromo, ReasonCode: "bench", IdempotencyKey: "promo-" + accts[i]})
		require.NoError(b, err)
	}
	// The benchmark function runs several times (b.N 1, then more) on the
	// same accounts: each run's events have keys of their own, or a later
	// run's would be idempotency conflicts (same key, another time).
	var runs int
	batches := func(path string, round int) []gateway.UsageBatch {
		out := make([]gateway.UsageBatch, clients)
		now := time.Now()
		if round == 0 {
			runs++
		}
		path = fmt.Sprintf("%s-%d", path, runs)
		for c := range out {
			evs := make([]gateway.UsageEvent, perBatch)
			for j := range evs {
				evs[j] = gateway.UsageEvent{IdempotencyKey: fmt.Sprintf("%s-%d-%d-%d", path, round, c, j), Account: accts[c],
					Model: "deepseek-chat", InputTokens: 1000, OccurredAt: now}
			}
			out[c].Events = evs
		}
		return out
	}
	var elapsed, cpu, server time.Duration
	measure := func(round func()) {
		pg, own, start := db.ServerCPU(ctx, bb.pool), db.ProcessCPU(), time.Now()
		round()
		elapsed += time.Since(start)
		cpu += db.ProcessCPU() - own
		server += db.ServerCPUSpent(pg, db.ServerCPU(ctx, bb.pool))
	}
	report := func(b *testing.B) {
		n := float64(b.N * clients * perBatch)
		b.ReportMetric(n/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/event")
		b.ReportMetric(float64(server.Microseconds())/n, "pg-cpu-µs/event")
		elapsed, cpu, server = 0, 0, 0
	}
	b.Run("sync", func(b *testing.B) {
		for i := range b.N {
			bs := batches("sync", i)
			measure(func() {
				var wg sync.WaitGroup
				for _, batch := range bs {
					wg.Go(func() {
						res, err := bb.gw.IngestUsage(ctx, bb.key, batch)
						require.NoError(b, err)
						require.Equal(b, perBatch, res.Accepted, "%+v", res.Rejected)
					})
				}
				wg.Wait()
			})
		}
		report(b)
	})
	b.Run("jetstream", func(b *testing.B) {
		s, c := bb.open(b, usagestream.Options{})
		var target int64
		for i := range b.N {
			bs := batches("js", i)
			measure(func() {
				var wg sync.WaitGroup
				for _, batch := range bs {
					wg.Go(func() {
						res, err := s.Publish(ctx, bb.key, batch)
						require.NoError(b, err)
						require.Equal(b, perBatch, res.Queued)
					})
				}
				wg.Wait()
				// Asking NATS for the backlog costs its server and this
				// process CPU: wait for the round's charges first, then
				// for their acknowledgements.
				target += clients * perBatch
				for deadline := time.After(time.Minute); c.charged.Load() < target; {
					select {
					case <-c.charging:
					case <-deadline:
						b.Fatalf("charged %d of %d events in a minute", c.charged.Load(), target)
					}
				}
				for {
					n, err := s.Backlog(ctx)
					require.NoError(b, err)
					if n == 0 {
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
			})
		}
		report(b)
	})
}
