// Package db opens the project's one PostgreSQL database, finding or starting
// a server when none is configured, and applies the embedded migrations.
//
// Two roles use it (roles.go): the owner (db.OwnerRole), which owns every
// object and is used only by `credits migrate`, and the application role
// (db.AppRole), which everything else connects as and which Migrate grants
// no more than the product needs — in particular no UPDATE, DELETE or
// TRUNCATE on a history table (one carrying the append_only() trigger), and
// no ownership, so it cannot disable or drop that trigger.
package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DBTX is what store functions take, so they run on the pool or inside a
// caller's transaction alike.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// Open connects a pool to url and checks that the server answers.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL (%s): fix it or unset it to use the local server", redactParseError(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: open: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s (%s): start the server or set DATABASE_URL", describe(cfg.ConnConfig), shortError(err))
	}
	return pool, nil
}

// InTx runs fn in one transaction, retrying it on serialization failures and
// deadlocks, which PostgreSQL expects callers to retry.
func InTx(ctx context.Context, pool Querier, fn func(pgx.Tx) error) error {
	const attempts = 5
	var err error
	for i := 0; i < attempts; i++ {
		err = pgx.BeginFunc(ctx, pool, fn)
		if !IsRetryable(err) {
			return err
		}
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	return err
}

// IsRetryable reports a serialization failure (40001) or deadlock (40P01).
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// IsUniqueViolation reports a unique violation on the named constraint (any
// constraint when name is empty).
func IsUniqueViolation(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (name == "" || pgErr.ConstraintName == name)
}

func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

func shortError(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return connErr.Unwrap().Error()
	}
	return err.Error()
}

// redactParseError keeps a password out of the message pgx builds from the URL.
func redactParseError(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if pe.Unwrap() != nil {
			return pe.Unwrap().Error()
		}
		return "cannot parse"
	}
	return "cannot parse"
}
