package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// runDB is `credits db`: it finds or starts the database and prints the two
// URLs, as the settings that name them.
func runDB(ctx context.Context, _ []string) error {
	u, _, err := resolveDB(ctx)
	if err != nil {
		return err
	}
	fmt.Println("DATABASE_URL=" + u.App)
	fmt.Println("MIGRATE_DATABASE_URL=" + u.Owner)
	return nil
}

// runMigrate is `credits migrate`, the one command that connects as the
// owner role: it applies the migrations and the application role's grants,
// then creates ledger_events' partitions for the months ahead (as the
// retention job does every run).
func runMigrate(ctx context.Context, _ []string) error {
	u, cfg, err := resolveDB(ctx)
	if err != nil {
		return err
	}
	passPriceToMigrations(cfg)
	if u.Admin == "" { // set by hand: the owner may have to create its database
		if err := db.EnsureDatabase(ctx, u.Owner); err != nil {
			return err
		}
	}
	pool, err := db.Open(ctx, u.Owner)
	if err != nil {
		return fmt.Errorf("MIGRATE_DATABASE_URL: %w", err)
	}
	defer pool.Close()
	n, err := db.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Printf("migrations: %d applied, schema up to date, %s granted what it needs\n", n, db.AppRole)
	made, err := ledger.CreatePartitions(ctx, pool, time.Now(), ledger.PartitionsAhead)
	if err != nil {
		return err
	}
	fmt.Printf("ledger: %d monthly event partitions created ahead\n", made)
	return nil
}

// passPriceToMigrations gives the migrations' connections the credit price
// in force as the setting credits.credit_price_rmb (through PGOPTIONS, which
// pgx reads like libpq): migration 000520 prices the paid lots credited
// before lots recorded what was paid for them with it.
func passPriceToMigrations(cfg config.Config) {
	opts := strings.TrimSpace(cfg.PGOptions + " -c credits.credit_price_rmb=" + cfg.CreditPriceRMB.String())
	_ = os.Setenv("PGOPTIONS", opts)
}

// resolveDB reads the configuration and finds the database it names (see
// db.Resolve).
func resolveDB(ctx context.Context) (db.URLs, config.Config, error) {
	cfg, err := config.Load()
	if err != nil {
		return db.URLs{}, cfg, err
	}
	u, err := db.Resolve(ctx, cfg.DatabaseURL, cfg.Database.MigrateURL, cfg.Database.DataDir)
	return u, cfg, err
}

// openDB resolves the database and connects to it as the application role.
func openDB(ctx context.Context) (*pgxpool.Pool, error) {
	u, _, err := resolveDB(ctx)
	if err != nil {
		return nil, err
	}
	return db.Open(ctx, u.App)
}

// openMigratedDB is openDB for commands that need the schema up to date: it
// fails with db.ErrNotMigrated (closing the pool) when migrations are pending.
func openMigratedDB(ctx context.Context) (*pgxpool.Pool, error) {
	pool, err := openDB(ctx)
	if err != nil {
		return nil, err
	}
	if err := db.RequireMigrated(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
