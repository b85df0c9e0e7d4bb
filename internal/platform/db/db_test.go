package db_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/migrations"
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

// The ledger's functions live in one file applied after the numbered
// migrations on every migrate: a database whose functions are not the
// binary's (edited by hand, or left by an older binary) is refused by
// RequireMigrated until migrate runs, which puts the file's definitions back.
func TestMigrateReappliesTheRepeatableFunctions(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	spendable := func() string {
		var def string
		require.NoError(t, pool.QueryRow(ctx, `SELECT pg_get_functiondef('ledger_spendable(bigint, timestamptz)'::regprocedure)`).Scan(&def))
		return def
	}
	want := spendable()
	_, err := pool.Exec(ctx, `CREATE OR REPLACE FUNCTION ledger_spendable(p_pool bigint, p_at timestamptz) RETURNS numeric
		LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN 42; END $$`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE schema_repeatable SET checksum = 'older binary'`)
	require.NoError(t, err)
	require.ErrorIs(t, db.RequireMigrated(ctx, pool), db.ErrNotMigrated, "functions of another version")

	n, err := db.Migrate(ctx, pool)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, want, spendable(), "migrate redefines every function from the file")
	require.NoError(t, db.RequireMigrated(ctx, pool))
	var count int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM schema_repeatable`).Scan(&count))
	require.Equal(t, len(migrations.Repeatables), count)
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
