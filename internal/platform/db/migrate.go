package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/seed75218f88/credits/migrations"
)

func provider(pool *pgxpool.Pool) (*goose.Provider, *sql.DB, error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	// Versions are allocated in blocks per domain, so a new migration of
	// one domain (000205) can have a lower number than one already applied
	// (000710): apply it rather than refuse the database.
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS, goose.WithAllowOutofOrder(true))
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("db: migrations: %w", err)
	}
	return p, sqlDB, nil
}

// Migrate applies every pending migration, then every repeatable SQL source
// (migrations.Repeatables: CREATE OR REPLACE definitions such as the
// ledger's functions) in one transaction, recording each one's checksum for
// RequireMigrated. Running it again applies no migration and redefines the
// same functions.
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
	if err := applyRepeatables(ctx, pool); err != nil {
		return len(res), err
	}
	return len(res), nil
}

// ErrNotMigrated says the schema is behind the binary.
var ErrNotMigrated = fmt.Errorf("the database schema is not up to date: run `credits migrate` (or `make run`)")

// RequireMigrated fails with ErrNotMigrated unless every migration is
// applied and every repeatable source is the binary's own.
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
	for _, r := range migrations.Repeatables {
		var sum string
		err := pool.QueryRow(ctx, `SELECT checksum FROM schema_repeatable WHERE name = $1`, r.Name).Scan(&sum)
		var pgErr *pgconn.PgError
		switch {
		case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
			return ErrNotMigrated
		case err != nil:
			return fmt.Errorf("db: check %s: %w", r.Name, err)
		case sum != checksum(r.SQL):
			return ErrNotMigrated
		}
	}
	return nil
}

// sqlRepeatableTable records which version of each repeatable source a
// database has (created here, as goose creates its own version table).
const sqlRepeatableTable = `CREATE TABLE IF NOT EXISTS schema_repeatable (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

const sqlRecordRepeatable = `
INSERT INTO schema_repeatable (name, checksum) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()`

// applyRepeatables runs each repeatable source in one transaction, under
// a transaction-level advisory lock so that two `credits migrate` at once
// take turns instead of failing on concurrent redefinitions.
func applyRepeatables(ctx context.Context, pool *pgxpool.Pool) error {
	return InTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7521889)`); err != nil {
			return fmt.Errorf("db: repeatable migrations: %w", err)
		}
		if _, err := tx.Exec(ctx, sqlRepeatableTable); err != nil {
			return fmt.Errorf("db: repeatable migrations: %w", err)
		}
		for _, r := range migrations.Repeatables {
			// No arguments: the simple protocol, which runs a file of
			// several statements.
			if _, err := tx.Exec(ctx, r.SQL); err != nil {
				return fmt.Errorf("db: apply %s: %w", r.Name, err)
			}
			if _, err := tx.Exec(ctx, sqlRecordRepeatable, r.Name, checksum(r.SQL)); err != nil {
				return fmt.Errorf("db: apply %s: %w", r.Name, err)
			}
		}
		return nil
	})
}

func checksum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
