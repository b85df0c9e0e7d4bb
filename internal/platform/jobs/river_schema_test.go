package jobs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// riverVersion is the River release whose schema the goose files carry; keep
// it equal to the version in go.mod.
const riverVersion = "v0.51.1"

// riverGooseFiles renders each River migration (main line) as a goose file:
// one file per River version so that each runs in its own transaction, as
// rivermigrate does (version 004 adds an enum value later versions use).
func riverGooseFiles(t *testing.T) map[string]string {
	t.Helper()
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	require.NoError(t, err)
	files := map[string]string{}
	for _, v := range m.AllVersions() {
		require.Less(t, v.Version, 20, "River migrations no longer fit the 000150-000169 block")
		name := fmt.Sprintf("0001%02d_river_%03d_%s.sql", 50+v.Version-1, v.Version, strings.ReplaceAll(v.Name, " ", "_"))
		var b strings.Builder
		fmt.Fprintf(&b, "-- Code generated from River %s (rivermigrate, line main, version %03d); DO NOT EDIT.\n", riverVersion, v.Version)
		b.WriteString("-- Regenerate: UPDATE_RIVER_MIGRATIONS=1 go test ./internal/platform/jobs -run TestRiverSchemaMigrationsAreCurrent\n")
		b.WriteString("-- +goose Up\n")
		block(&b, schemaless(v.SQLUp))
		// rivermigrate records versions before 005 without the line column,
		// which 005 adds.
		if v.Version < 5 {
			block(&b, fmt.Sprintf("INSERT INTO river_migration (version) VALUES (%d);", v.Version))
		} else {
			block(&b, fmt.Sprintf("INSERT INTO river_migration (line, version) VALUES ('main', %d);", v.Version))
		}
		b.WriteString("\n-- +goose Down\n")
		block(&b, schemaless(v.SQLDown))
		switch {
		case v.Version == 1: // its down migration drops river_migration itself
		case v.Version <= 5:
			block(&b, fmt.Sprintf("DELETE FROM river_migration WHERE version = %d;", v.Version))
		default:
			block(&b, fmt.Sprintf("DELETE FROM river_migration WHERE line = 'main' AND version = %d;", v.Version))
		}
		files[name] = b.String()
	}
	return files
}

func schemaless(sql string) string {
	return strings.TrimSpace(strings.ReplaceAll(sql, "/* TEMPLATE: schema */", ""))
}

func block(b *strings.Builder, sql string) {
	if sql == "" {
		return
	}
	b.WriteString("-- +goose StatementBegin\n")
	b.WriteString(sql)
	b.WriteString("\n-- +goose StatementEnd\n")
}

// TestRiverSchemaMigrationsAreCurrent fails when the goose files no longer
// match the River library in go.mod (after an upgrade): regenerate them.
func TestRiverSchemaMigrationsAreCurrent(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "migrations")
	for name, want := range riverGooseFiles(t) {
		path := filepath.Join(dir, name)
		if os.Getenv("UPDATE_RIVER_MIGRATIONS") == "1" {
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "missing River migration: run UPDATE_RIVER_MIGRATIONS=1 go test ./internal/platform/jobs")
		require.Equal(t, want, string(got), "%s is stale: regenerate it", name)
	}
}

// TestMigratedDatabaseHasNoPendingRiverMigrations: a database migrated by
// goose alone (what `credits migrate` and dbtest do) is what River expects.
func TestMigratedDatabaseHasNoPendingRiverMigrations(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.Pool(t)
	require.NoError(t, RequireMigrated(ctx, pool))

	m, err := migrator(pool)
	require.NoError(t, err)
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{DryRun: true})
	require.NoError(t, err)
	require.Empty(t, res.Versions, "River would still apply these versions")
	require.NoError(t, Migrate(ctx, pool))
}
