package ledger_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// BenchmarkLedgerReport prints the benchmark report once; run it
// with `make bench` (go test -run '^$' -bench LedgerReport -benchtime 1x).
// LEDGER_BENCH_SECONDS and LEDGER_BENCH_EVENTS shorten it.
func BenchmarkLedgerReport(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(b))
	require.NoError(b, err)
	cfg.MaxConns = 48
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(b, err)
	defer pool.Close()
	bc := ledger.BenchConfig{}
	if s := os.Getenv("LEDGER_BENCH_SECONDS"); s != "" {
		d, err := time.ParseDuration(s + "s")
		require.NoError(b, err)
		bc.Duration = d
	}
	if s := os.Getenv("LEDGER_BENCH_EVENTS"); s != "" {
		var n int
		for _, c := range s {
			n = n*10 + int(c-'0')
		}
		bc.HistoryEvents = n
	}
	if s := os.Getenv("LEDGER_BENCH_WRITERS"); s != "" {
		bc.Writers, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	// LEDGER_BENCH_VARIANTS="2x1,4x1,2x2": writers x batches in flight,
	// measured back to back in this run.
	if s := os.Getenv("LEDGER_BENCH_VARIANTS"); s != "" {
		for _, v := range strings.Split(s, ",") {
			var bv ledger.BenchVariant
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%dx%d", &bv.Writers, &bv.InFlight)
			require.NoError(b, err, "variant %q", v)
			bc.Variants = append(bc.Variants, bv)
		}
	}
	for range b.N {
		_, err := ledger.RunBenchmark(ctx, pool, bc, os.Stdout)
		require.NoError(b, err)
	}
}
