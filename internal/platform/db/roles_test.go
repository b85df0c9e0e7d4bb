package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// historyTables are the tables whose rows are history: once written, never
// changed or removed (migration 000800 says why each is one).
var historyTables = []string{
	"ledger_events", "ledger_idempotency", "ledger_idempotency_archive", "ledger_reservations_archive",
	"payment_order_transitions", "payment_refunds",
	"webhook_deliveries",
	"admin_audit_log", "pii_access_log",
	"verification_events", "verification_bonuses",
	"invoice_events",
	"rate_card_versions", "rate_card_prices",
	"gateway_expiry_reminders", "channel_bill_imports",
	"referral_grants", "runway_alerts",
}

// rewrites are the statements that would rewrite a table's history:
// setting an ordinary column to itself, deleting, truncating (CASCADE, past
// the foreign keys of rate cards and channel bills).
func rewrites(t *testing.T, table string) map[string]string {
	var col string
	require.NoError(t, dbtest.Pool(t).QueryRow(context.Background(), `
SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attidentity = ''
ORDER BY attnum LIMIT 1`, table).Scan(&col))
	return map[string]string{
		"Update":   fmt.Sprintf(`UPDATE %s SET %s = %[2]s`, table, col),
		"Delete":   fmt.Sprintf(`DELETE FROM %s`, table),
		"Truncate": fmt.Sprintf(`TRUNCATE %s CASCADE`, table),
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func ownerPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := db.Open(context.Background(), db.WithUser(dbtest.URL(t), db.OwnerRole))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// TestHistoryTablesRefuseUpdateDeleteAndTruncate: every history table
// refuses each rewrite from every role — the application role for want of
// the privilege, its owner and even a superuser through the append_only()
// trigger — and still takes new rows.
func TestHistoryTablesRefuseUpdateDeleteAndTruncate(t *testing.T) {
	ctx := context.Background()
	roles := map[string]*pgxpool.Pool{"Superuser": dbtest.Pool(t), "Owner": ownerPool(t), "App": dbtest.AppPool(t)}
	for _, table := range historyTables {
		t.Run(table, func(t *testing.T) {
			for role, pool := range roles {
				for op, sql := range rewrites(t, table) {
					_, err := pool.Exec(ctx, sql)
					require.Error(t, err, "%s as %s", sql, role)
					require.Equal(t, "42501", sqlState(err), "%s as %s: %v", sql, role, err)
					switch {
					case role == "App":
						require.ErrorContains(t, err, "permission denied for table "+table, op)
					case table == "ledger_idempotency" && op == "Delete":
						// Only the retention job deletes (the owner, with its
						// setting: internal/ledger Retire), never a plain DELETE.
						require.ErrorContains(t, err, table+": DELETE refused: rows leave it only through the retention job", "as %s", role)
					default:
						require.ErrorContains(t, err, table+" is append-only: "+strings.ToUpper(op)+" refused", "as %s", role)
					}
				}
			}
		})
	}

	t.Run("AppendingStillWorks", func(t *testing.T) {
		app := dbtest.AppPool(t)
		var n int
		require.NoError(t, app.QueryRow(ctx, `WITH o AS (
    INSERT INTO admin_audit_log (actor_kind, action, reason) VALUES ('system', 'append_only_probe', 'still appends')
    RETURNING id)
SELECT count(*) FROM o`).Scan(&n))
		require.Equal(t, 1, n)
	})
}

// TestTablesNamedLikeHistoryAreAppendOnly: a table named like a history (…_events,
// …_log, …_transitions, …_history, …_attempts) carries the append_only()
// trigger, so a new one cannot be forgotten. sign_in_attempts is a throttle
// counter pruned by age, not history.
func TestTablesNamedLikeHistoryAreAppendOnly(t *testing.T) {
	rows, err := dbtest.Pool(t).Query(context.Background(), `
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND c.relname ~ '_(events|log|transitions|history|attempts)$' AND c.relname <> 'sign_in_attempts'
  AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgfoid = 'append_only()'::regprocedure)`)
	require.NoError(t, err)
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, missing, "history tables without the append_only() trigger")
}

// TestAppRoleCannotUndoTheRules: connected as the application role, the
// server can neither switch off, drop nor bypass what keeps history
// append-only, nor make objects of its own.
func TestAppRoleCannotUndoTheRules(t *testing.T) {
	ctx := context.Background()
	app := dbtest.AppPool(t)
	for name, sql := range map[string]string{
		"DisableTriggerAll":   `ALTER TABLE ledger_events DISABLE TRIGGER ALL`,
		"DisableTriggerUser":  `ALTER TABLE ledger_events DISABLE TRIGGER USER`,
		"DropTrigger":         `DROP TRIGGER ledger_events_append_only ON ledger_events`,
		"DropFunction":        `DROP FUNCTION append_only() CASCADE`,
		"ReplaceFunction":     `CREATE OR REPLACE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`,
		"ReplicaRole":         `SET session_replication_role = replica`,
		"UpdateEvents":        `UPDATE ledger_events SET amount = amount + 1`,
		"DeleteRefunds":       `DELETE FROM payment_refunds`,
		"TruncateTransitions": `TRUNCATE payment_order_transitions`,
		"TruncateSessions":    `TRUNCATE sessions`,
		"AlterTable":          `ALTER TABLE payment_orders ADD COLUMN sneaky text`,
		"CreateTable":         `CREATE TABLE sneaky (id int)`,
		"BecomeOwner":         `SET ROLE ` + db.OwnerRole,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := app.Exec(ctx, sql)
			require.Error(t, err, sql)
			require.Equal(t, "42501", sqlState(err), "%s: %v", sql, err)
		})
	}
	// A GRANT by a role without grant options only warns: nothing changes.
	_, _ = app.Exec(ctx, `GRANT UPDATE, DELETE ON ledger_events TO `+db.AppRole)
	var canUpdate bool
	require.NoError(t, app.QueryRow(ctx, `SELECT has_table_privilege('ledger_events', 'UPDATE')`).Scan(&canUpdate))
	require.False(t, canUpdate)

	require.NoError(t, db.CheckAppRole(ctx, app))
	require.ErrorIs(t, db.CheckAppRole(ctx, dbtest.Pool(t)), db.ErrOwnerRole, "a superuser")
	require.ErrorIs(t, db.CheckAppRole(ctx, ownerPool(t)), db.ErrOwnerRole, "the owner")
}

// TestAppRoleHasWhatTheProductNeeds: SELECT and INSERT on every table, UPDATE
// and DELETE on all but the append-only ones, TRUNCATE on none, and only
// SELECT on goose's bookkeeping; USAGE on every sequence.
func TestAppRoleHasWhatTheProductNeeds(t *testing.T) {
	rows, err := dbtest.Pool(t).Query(context.Background(), `
SELECT c.relname,
       EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgfoid = 'append_only()'::regprocedure),
       has_table_privilege($1, c.oid, 'SELECT'), has_table_privilege($1, c.oid, 'INSERT'),
       has_table_privilege($1, c.oid, 'UPDATE'), has_table_privilege($1, c.oid, 'DELETE'),
       has_table_privilege($1, c.oid, 'TRUNCATE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1`, db.AppRole)
	require.NoError(t, err)
	type grants struct {
		Table                                    string
		AppendOnly                               bool
		Select, Insert, Update, Delete, Truncate bool
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[grants])
	require.NoError(t, err)
	require.Greater(t, len(all), 40)
	appendOnly := 0
	for _, g := range all {
		require.True(t, g.Select, g.Table)
		require.False(t, g.Truncate, g.Table)
		switch {
		case g.Table == "goose_db_version" || g.Table == "schema_repeatable":
			require.False(t, g.Insert || g.Update || g.Delete, g.Table)
		case g.AppendOnly:
			appendOnly++
			require.True(t, g.Insert, g.Table)
			require.False(t, g.Update || g.Delete, g.Table)
		default:
			require.True(t, g.Insert && g.Update && g.Delete, g.Table)
		}
	}
	require.GreaterOrEqual(t, appendOnly, len(historyTables))

	var missing []string
	rows, err = dbtest.Pool(t).Query(context.Background(), `
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'S'
  AND NOT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege($1, c.oid, 'USAGE') END`, db.AppRole)
	require.NoError(t, err)
	missing, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, missing, "sequences the application role cannot use")
}

// TestGrantsCoverTablesAddedLater: Migrate grants over whatever exists when
// it ends, so a table made after the numbered migrations (a later step, a
// hand-made fix) is usable by the application role after the next migrate,
// and one that became append-only loses UPDATE and DELETE.
func TestGrantsCoverTablesAddedLater(t *testing.T) {
	ctx := context.Background()
	owner, app := ownerPool(t), dbtest.AppPool(t)
	_, err := owner.Exec(ctx, `CREATE TABLE later_notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text NOT NULL)`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = owner.Exec(ctx, `DROP TABLE IF EXISTS later_notes`) })
	_, err = app.Exec(ctx, `INSERT INTO later_notes (note) VALUES ('x')`)
	require.Equal(t, "42501", sqlState(err), "no grant before migrate: %v", err)

	n, err := db.Migrate(ctx, owner)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = app.Exec(ctx, `INSERT INTO later_notes (note) VALUES ('x')`)
	require.NoError(t, err)
	_, err = app.Exec(ctx, `UPDATE later_notes SET note = 'y'`)
	require.NoError(t, err)

	_, err = owner.Exec(ctx, `CREATE TRIGGER later_notes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON later_notes
    FOR EACH STATEMENT EXECUTE FUNCTION append_only()`)
	require.NoError(t, err)
	_, err = db.Migrate(ctx, owner)
	require.NoError(t, err)
	_, err = app.Exec(ctx, `INSERT INTO later_notes (note) VALUES ('z')`)
	require.NoError(t, err)
	_, err = app.Exec(ctx, `UPDATE later_notes SET note = 'y'`)
	require.ErrorContains(t, err, "permission denied for table later_notes")
}

// TestBootstrap: the development server's database, made fresh or found
// migrated by the superuser before the two roles existed, ends up owned by
// the owner role, migrated by it, and usable by the application role.
func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.Pool(t)
	for _, name := range []string{"Fresh", "MigratedAsSuperuser"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dbName := fmt.Sprintf("credits_bootstrap_%s_%d", strings.ToLower(name), time.Now().UnixNano())
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
			t.Cleanup(func() { _, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)") })
			superURL := db.WithDatabase(dbtest.URL(t), dbName)
			if name == "MigratedAsSuperuser" { // as `make run` did before the roles
				_, err := admin.Exec(ctx, "CREATE DATABASE "+dbName)
				require.NoError(t, err)
				p, err := db.Open(ctx, superURL)
				require.NoError(t, err)
				_, err = db.Migrate(ctx, p)
				p.Close()
				require.NoError(t, err)
			}

			require.NoError(t, db.Bootstrap(ctx, dbtest.URL(t), dbName))
			require.NoError(t, db.Bootstrap(ctx, dbtest.URL(t), dbName), "bootstrapping again changes nothing")

			su, err := db.Open(ctx, superURL)
			require.NoError(t, err)
			defer su.Close()
			var foreign []string
			rows, err := su.Query(ctx, `
SELECT 'database' FROM pg_database WHERE datname = current_database() AND datdba <> $1::regrole
UNION ALL SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relowner <> $1::regrole
UNION ALL SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proowner <> $1::regrole
UNION ALL SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public' AND t.typowner <> $1::regrole`, db.OwnerRole)
			require.NoError(t, err)
			foreign, err = pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			require.Empty(t, foreign, "objects not owned by %s", db.OwnerRole)

			owner, err := db.Open(ctx, db.WithUser(superURL, db.OwnerRole))
			require.NoError(t, err)
			defer owner.Close()
			if name == "Fresh" { // the owner may create in it; migrating it is what the template does
				_, err = owner.Exec(ctx, `CREATE TABLE probe (id int)`)
				require.NoError(t, err)
				return
			}
			_, err = db.Migrate(ctx, owner)
			require.NoError(t, err)
			app, err := db.Open(ctx, db.WithUser(superURL, db.AppRole))
			require.NoError(t, err)
			defer app.Close()
			require.NoError(t, db.RequireMigrated(ctx, app))
			require.NoError(t, db.CheckAppRole(ctx, app))
			_, err = app.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ('t', '', now())`)
			require.NoError(t, err)
			_, err = app.Exec(ctx, `ALTER TABLE ledger_events DISABLE TRIGGER ALL`)
			require.Equal(t, "42501", sqlState(err), "%v", err)
		})
	}
}
