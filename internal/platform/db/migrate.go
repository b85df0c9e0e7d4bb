package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/seed75218f88/credits/migrations"
)

// provider reads the embedded migrations. Versions come in blocks per
// domain, so a migration written later may carry a lower number than one
// already applied: goose applies such a one too, instead of refusing.
func provider(pool *pgxpool.Pool) (*goose.Provider, *sql.DB, error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
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
// RequireMigrated, then the application role's grants (GrantApp) over
// whatever exists by then. Running it again applies no migration, redefines
// the same functions and applies the same grants. pool connects as the
// owner role.
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
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
			return len(res), fmt.Errorf("db: the ledger's functions and the grants to %s need the owner role: migrate as %s (MIGRATE_DATABASE_URL): %w", AppRole, OwnerRole, err)
		}
		return len(res), err
	}
	if err := GrantApp(ctx, pool); err != nil {
		return len(res), err
	}
	return len(res), nil
}

// Fingerprint names everything Migrate applies (the migrations, the
// repeatable sources and the grants), so a test template is rebuilt when any of it changes.
func Fingerprint() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := migrations.FS.ReadFile(p)
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	// The repeatable sources (the ledger's functions) are part of the
	// schema: a change to them builds a new template.
	for _, r := range migrations.Repeatables {
		h.Write([]byte(r.Name))
		h.Write([]byte(r.SQL))
	}
	h.Write([]byte(grantApp))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ErrNotMigrated says the schema is behind the binary.
var ErrNotMigrated = fmt.Errorf("the database schema is not up to date: run `credits migrate` (or `make run`)")

// RequireMigrated fails with ErrNotMigrated unless every migration is
// applied and every repeatable source is the binary's own. It only reads,
// so the application role may call it on a database never migrated.
func RequireMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("db: check migrations: %w", err)
	}
	if !exists {
		return ErrNotMigrated
	}
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
