package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"

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

// Migrate applies every pending migration, then the application role's
// grants (GrantApp) over whatever exists by then; running it again applies
// no migration and the same grants. pool connects as the owner role. A step
// that creates objects after the migrations belongs before GrantApp.
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
	if err := GrantApp(ctx, pool); err != nil {
		return len(res), err
	}
	return len(res), nil
}

// Fingerprint names everything Migrate applies (the migrations and the
// grants), so a test template is rebuilt when any of it changes.
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
	h.Write([]byte(grantApp))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ErrNotMigrated says the schema is behind the binary.
var ErrNotMigrated = fmt.Errorf("the database schema is not up to date: run `credits migrate` (or `make run`)")

// RequireMigrated fails with ErrNotMigrated unless every migration is
// applied. It only reads, so the application role may call it on a database
// never migrated.
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
	return nil
}
