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
	"github.com/seed75218f88/credits/internal/usagestream"
)

// BenchmarkUsageIngestion reports accepted-and-applied usage events per
// second on both paths in one run: 8 clients each sending a 500-event
// batch per round, charged in the request (sync), or published to
// JetStream and charged by one instance's consumer (the round ends when the
// stream is drained). Not part of make test:
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
	b.Run("sync", func(b *testing.B) {
		var elapsed time.Duration
		for i := range b.N {
			bs := batches("sync", i)
			start := time.Now()
			var wg sync.WaitGroup
			for _, batch := range bs {
				wg.Go(func() {
					res, err := bb.gw.IngestUsage(ctx, bb.key, batch)
					require.NoError(b, err)
					require.Equal(b, perBatch, res.Accepted, "%+v", res.Rejected)
				})
			}
			wg.Wait()
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N*clients*perBatch)/elapsed.Seconds(), "events/s")
	})
	b.Run("jetstream", func(b *testing.B) {
		s, _ := bb.open(b, usagestream.Options{})
		var elapsed time.Duration
		for i := range b.N {
			bs := batches("js", i)
			start := time.Now()
			var wg sync.WaitGroup
			for _, batch := range bs {
				wg.Go(func() {
					res, err := s.Publish(ctx, bb.key, batch)
					require.NoError(b, err)
					require.Equal(b, perBatch, res.Queued)
				})
			}
			wg.Wait()
			for {
				n, err := s.Backlog(ctx)
				require.NoError(b, err)
				if n == 0 {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N*clients*perBatch)/elapsed.Seconds(), "events/s")
	})
}
