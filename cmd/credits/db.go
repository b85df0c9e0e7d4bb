package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/platform/db"
)

func runDB(ctx context.Context, _ []string) error {
	u, err := db.Resolve(ctx)
	if err != nil {
		return err
	}
	fmt.Println(u)
	return nil
}

func runMigrate(ctx context.Context, _ []string) error {
	pool, err := openDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := db.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Printf("migrations: %d applied, schema up to date\n", n)
	return nil
}

// openDB resolves the database (see db.Resolve) and connects to it.
func openDB(ctx context.Context) (*pgxpool.Pool, error) {
	u, err := db.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	return db.Open(ctx, u)
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
