package db

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/seed75218f88/credits/migrations"
)

func provider(pool *pgxpool.Pool) (*goose.Provider, *sql.DB, error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("db: migrations: %w", err)
	}
	return p, sqlDB, nil
}

// Migrate applies every pending migration; running it again does nothing.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (applied int, err error) {
	p, sqlDB, err := provider(pool)
	if err != nil {
		return 0, err
	}
	defer sqlDB.Close()
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("db: migrate: %w", err)
	}
	return len(res), nil
}

// ErrNotMigrated says the schema is behind the binary.
var ErrNotMigrated = fmt.Errorf("the database schema is not up to date: run `credits migrate` (or `make run`)")

// RequireMigrated fails with ErrNotMigrated unless every migration is applied.
func RequireMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	p, sqlDB, err := provider(pool)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("db: check migrations: %w", err)
	}
	if pending {
		return ErrNotMigrated
	}
	return nil
}
