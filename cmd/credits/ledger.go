package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// runLedger is `credits ledger verify`: it recomputes every balance and lot
// remainder from the events, prints each mismatch and fails on any.
func runLedger(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: credits ledger verify")
	}
	pool, err := openMigratedDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	l := ledger.New(pool, ledger.Options{Writers: 1})
	defer l.Close()
	mismatches, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	for _, m := range mismatches {
		fmt.Println(m)
	}
	if len(mismatches) > 0 {
		return fmt.Errorf("ledger verify: %d mismatches", len(mismatches))
	}
	fmt.Println("ledger verify: every balance and lot agrees with the events")
	return nil
}

// runBenchLedger is `credits bench-ledger`: the ledger benchmark of issue 4,
// run in a scratch database on the configured server that it drops after.
func runBenchLedger(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench-ledger", flag.ContinueOnError)
	dur := fs.Duration("duration", 8*time.Second, "length of each run")
	events := fs.Int("events", 1000000, "events on the BalanceAt account")
	accounts := fs.Int("accounts", 10000, "accounts for the spread runs")
	workers := fs.Int("workers", 32, "concurrent clients")
	if err := fs.Parse(args); err != nil {
		return err
	}
	urls, err := db.Resolve(ctx)
	if err != nil {
		return err
	}
	// The scratch database is made and migrated by the superuser of the
	// development server, else by the owner role.
	base := urls.Admin
	if base == "" {
		base = urls.Owner
	}
	admin, err := db.Open(ctx, db.WithDatabase(base, "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "credits_bench_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") //nolint:errcheck
	cfg, err := pgxpool.ParseConfig(db.WithDatabase(base, name))
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(*workers + 16)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool); err != nil {
		return err
	}
	_, err = ledger.RunBenchmark(ctx, pool, ledger.BenchConfig{Workers: *workers, Accounts: *accounts, Duration: *dur, HistoryEvents: *events}, os.Stdout)
	return err
}
