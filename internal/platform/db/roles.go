package db

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The two database roles. OwnerRole owns every table, sequence, type and
// function, and only `credits migrate` connects as it (MIGRATE_DATABASE_URL).
// AppRole is what the server, its workers and every other command connect as
// (DATABASE_URL): it owns nothing, so it can neither drop nor disable a
// trigger, and Migrate grants it only SELECT, INSERT, UPDATE and DELETE on
// tables (no UPDATE or DELETE on an append-only one, no TRUNCATE anywhere),
// USAGE on sequences and EXECUTE on functions. In production the
// application's login role is AppRole or a member of it.
const (
	OwnerRole = "credits_owner"
	AppRole   = "credits_app"
)

// WithUser returns raw with its user replaced by user and no password (the
// development server trusts local connections).
func WithUser(raw, user string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = url.User(user)
	return u.String()
}

// ensureRoles creates OwnerRole and AppRole, both able to log in (without a
// password: the development server and the test clusters trust local
// connections), when the server lacks them. It needs a superuser; a role
// made by a concurrent process meanwhile is fine.
const ensureRoles = `
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['` + OwnerRole + `', '` + AppRole + `'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END $$`

// adoptObjects hands OwnerRole whatever a database made before the two
// roles holds under another owner (a development database migrated as the
// superuser), and keeps other roles from creating objects in public (the
// default before PostgreSQL 15). It needs a superuser.
const adoptObjects = `
DO $$
DECLARE
    owner CONSTANT regrole := '` + OwnerRole + `';
    r record;
BEGIN
    PERFORM set_config('lock_timeout', '10s', true);
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    FOR r IN SELECT c.oid::regclass AS obj FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relowner <> owner
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO %I', r.obj, owner);
    END LOOP;
    -- after the tables: a sequence owned by a column has moved with its table
    FOR r IN SELECT c.oid::regclass AS obj FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relowner <> owner
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.obj, owner);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS obj FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p') AND p.proowner <> owner
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.obj, owner);
    END LOOP;
    FOR r IN SELECT t.oid::regtype AS obj, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'public' AND t.typowner <> owner
               AND (t.typtype IN ('e', 'd', 'r')
                    OR t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', CASE WHEN r.typtype = 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.obj, owner);
    END LOOP;
END $$`

// Bootstrap prepares database name on a server where adminURL is a
// superuser: it creates both roles, creates the database owned by OwnerRole
// (or makes OwnerRole its owner), and hands OwnerRole every object in it.
// The development server and the test template are made this way.
func Bootstrap(ctx context.Context, adminURL, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, withDatabase(adminURL, "postgres"))
	if err != nil {
		return fmt.Errorf("cannot reach PostgreSQL as its superuser (%s): start the server or set DATABASE_URL", shortError(err))
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, ensureRoles); err != nil {
		return fmt.Errorf("db: create roles %s and %s: %w", OwnerRole, AppRole, err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	var owner string
	err = admin.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, name).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err = admin.Exec(ctx, "CREATE DATABASE "+ident+" OWNER "+OwnerRole)
		if err != nil && !IsUniqueViolation(err, "") && !isDuplicateDatabase(err) {
			return fmt.Errorf("cannot create database %q (%s)", name, shortError(err))
		}
	case err != nil:
		return fmt.Errorf("db: bootstrap: %w", err)
	case owner != OwnerRole:
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" OWNER TO "+OwnerRole); err != nil {
			return fmt.Errorf("db: bootstrap: %w", err)
		}
	}
	conn, err := pgx.Connect(ctx, withDatabase(adminURL, name))
	if err != nil {
		return fmt.Errorf("db: bootstrap: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, adoptObjects); err != nil {
		return fmt.Errorf("db: bootstrap: hand %s to %s: %w", name, OwnerRole, err)
	}
	return nil
}

// grantApp gives AppRole exactly what the product needs on every table,
// view, sequence and routine in public, whatever migration or later step
// made it: SELECT, INSERT, UPDATE and DELETE on tables; SELECT and INSERT
// only on an append-only table (one carrying the append_only() trigger);
// SELECT only on goose's bookkeeping and on views; USAGE and SELECT on
// sequences; EXECUTE on routines. It revokes anything else first, so a
// table that became append-only loses its UPDATE and DELETE. The owner runs
// it at the end of every Migrate, under an advisory lock (two migrations at
// once would otherwise update the same catalog rows).
const grantApp = `
DO $$
DECLARE
    app CONSTANT text := '` + AppRole + `';
    guard CONSTANT regprocedure := to_regprocedure('append_only()');
    r record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('credits.grant_app', 0));
    IF has_schema_privilege('public', 'USAGE WITH GRANT OPTION') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app);
    END IF;
    FOR r IN
        SELECT c.oid::regclass AS obj, c.relkind, c.relname IN ('goose_db_version', 'schema_repeatable') AS bookkeeping,
               EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgfoid = guard) AS append_only,
               pg_has_role(c.relowner, 'USAGE') AS owned, c.relowner::regrole AS owner
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    LOOP
        IF NOT r.owned THEN -- a GRANT by another role would only warn
            RAISE EXCEPTION '% is owned by %, not by %: migrate as the owner role (MIGRATE_DATABASE_URL)',
                r.obj, r.owner, current_user USING ERRCODE = 'insufficient_privilege';
        END IF;
        EXECUTE format('REVOKE ALL ON %s FROM %I', r.obj, app);
        EXECUTE format('GRANT %s ON %s TO %I', CASE
            WHEN r.relkind = 'S' THEN 'USAGE, SELECT'
            WHEN r.bookkeeping OR r.relkind IN ('v', 'm') THEN 'SELECT'
            WHEN r.append_only THEN 'SELECT, INSERT'
            ELSE 'SELECT, INSERT, UPDATE, DELETE'
        END, r.obj, app);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS obj FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO %I', r.obj, app);
    END LOOP;
END $$`

// GrantApp applies the application role's grants (see grantApp); Migrate
// runs it last.
func GrantApp(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regrole($1) IS NOT NULL`, AppRole).Scan(&exists); err != nil {
		return fmt.Errorf("db: grants: %w", err)
	}
	if !exists {
		return fmt.Errorf("db: grants: the application role %s does not exist: create it (CREATE ROLE %s LOGIN PASSWORD '…', or NOLOGIN and grant it to the role DATABASE_URL logs in as), then migrate again", AppRole, AppRole)
	}
	if _, err := pool.Exec(ctx, grantApp); err != nil {
		return fmt.Errorf("db: grants to %s: %w", AppRole, err)
	}
	return nil
}

// ErrOwnerRole says the connection can alter the tables it should only use:
// it is a superuser or (a member of) the role owning them.
var ErrOwnerRole = errors.New("DATABASE_URL connects as a superuser or as the owner of the tables: connect as the application role (" + AppRole + "); only `credits migrate` uses the owner (MIGRATE_DATABASE_URL)")

// CheckAppRole fails with ErrOwnerRole when the pool's role could drop or
// disable the append-only triggers: a superuser or an owner of any table.
func CheckAppRole(ctx context.Context, pool *pgxpool.Pool) error {
	const q = `
SELECT r.rolname, r.rolsuper OR EXISTS (
    SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND pg_has_role(c.relowner, 'USAGE'))
FROM pg_roles r WHERE r.rolname = current_user`
	var name string
	var owner bool
	if err := pool.QueryRow(ctx, q).Scan(&name, &owner); err != nil {
		return fmt.Errorf("db: check role: %w", err)
	}
	if owner {
		return fmt.Errorf("%w (it connects as %s)", ErrOwnerRole, name)
	}
	return nil
}
