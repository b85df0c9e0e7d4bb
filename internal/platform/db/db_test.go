package db_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestMigrateIsIdempotentAndRequireMigratedPasses(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	n, err := db.Migrate(ctx, pool)
	require.NoError(t, err)
	require.Zero(t, n, "a migrated database has nothing pending")
	require.NoError(t, db.RequireMigrated(ctx, pool))
}

func TestRequireMigratedRefusesAnEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.Pool(t)
	_, err := admin.Exec(ctx, "CREATE DATABASE credits_unmigrated_probe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS credits_unmigrated_probe WITH (FORCE)") })
	pool, err := db.Open(ctx, db.WithDatabase(dbtest.URL(t), "credits_unmigrated_probe"))
	require.NoError(t, err)
	defer pool.Close()
	require.ErrorIs(t, db.RequireMigrated(ctx, pool), db.ErrNotMigrated)
}

func TestOpenRejectsAnUnparsableURLWithOneClearLine(t *testing.T) {
	_, err := db.Open(context.Background(), "postgres://user:secret@host:notaport/db")
	require.Error(t, err)
	require.Contains(t, err.Error(), "DATABASE_URL is not a valid PostgreSQL URL")
	require.NotContains(t, err.Error(), "secret", "a password never reaches a message")
}

// TestNumericIsReadAndWrittenAsDecimal: numeric columns read into and
// write from shopspring decimals exactly, at the ledger's scale and
// beyond; NULL reads as an invalid NullDecimal, NaN is refused.
func TestNumericIsReadAndWrittenAsDecimal(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	for _, s := range []string{"0", "1.500000", "-0.000001", "123456789012345678.123456", "100000000000000000000000.000001", "6.5"} {
		want := decimal.RequireFromString(s)
		var got decimal.Decimal
		var text string
		require.NoError(t, pool.QueryRow(ctx, `SELECT $1::numeric(30,6), ($1::numeric(30,6))::text`, want).Scan(&got, &text))
		require.True(t, want.Equal(got), "%s read back as %s", s, got)
		require.True(t, decimal.RequireFromString(text).Equal(want), "%s written as %s", s, text)
	}
	var null decimal.NullDecimal
	require.NoError(t, pool.QueryRow(ctx, `SELECT NULL::numeric`).Scan(&null))
	require.False(t, null.Valid)
	var nan decimal.Decimal
	require.Error(t, pool.QueryRow(ctx, `SELECT 'NaN'::numeric`).Scan(&nan), "NaN is no amount")
}
