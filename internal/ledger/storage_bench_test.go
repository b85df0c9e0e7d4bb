package ledger_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// BenchmarkStoragePerRequest prints the hot storage (bytes each hot table
// grows by) and the CPU of one billed request, reserve + commit, over
// LEDGER_STORAGE_REQUESTS requests (20,000), in LEDGER_STORAGE_ROUNDS
// rounds (1), with the retention job after each when LEDGER_STORAGE_RETIRE=1
// (the later rounds then show the steady state), and with
// LEDGER_STORAGE_HISTORY="1000000,20000000" one round per history size.
// Run:
// go test -p 1 -run '^$' -bench StoragePerRequest -benchtime 1x ./internal/ledger
func BenchmarkStoragePerRequest(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(b))
	require.NoError(b, err)
	cfg.MaxConns = 24
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(b, err)
	defer pool.Close()
	sc := ledger.StorageConfig{}
	if s := os.Getenv("LEDGER_STORAGE_REQUESTS"); s != "" {
		sc.Requests, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	if s := os.Getenv("LEDGER_STORAGE_ROUNDS"); s != "" {
		sc.Rounds, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	sc.Retire = os.Getenv("LEDGER_STORAGE_RETIRE") == "1"
	// LEDGER_STORAGE_HISTORY="1000000,20000000": one round per history size.
	if s := os.Getenv("LEDGER_STORAGE_HISTORY"); s != "" {
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(b, err)
			sc.History = append(sc.History, n)
		}
	}
	for range b.N {
		r, err := ledger.MeasureStorage(ctx, pool, sc, os.Stdout)
		require.NoError(b, err)
		b.ReportMetric(r.TotalPer, "hotB/req")
		b.ReportMetric(float64(r.ServerCPUPer.Microseconds()), "serverµs/req")
	}
}
