// Package dbtest gives each test package its own fresh, migrated PostgreSQL
// database, cloned from a template that is migrated once per schema version.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// and in tests: pool := dbtest.Pool(t) (a superuser, for fixtures and for
// tests that must get past the database's own rules), or dbtest.AppPool(t)
// and dbtest.AppURL(t) (the application role, as `credits serve` connects:
// what a missing grant or an append-only table refuses, it refuses), or
// pool, url := dbtest.Own(t) for a test that needs a database nobody else
// uses.
//
// The template is made as `credits migrate` makes a database: owned by
// db.OwnerRole, migrated as that role, with db.AppRole's grants.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/platform/db"
)

var (
	once     sync.Once
	pool     *pgxpool.Pool
	baseURL  string
	tplName  string
	appOnce  sync.Once
	appPool  *pgxpool.Pool
	appErr   error
	dbURL    string
	dbName   string
	adminURL string
	initErr  error
)

// Main runs the package's tests, then drops the package's database.
func Main(m *testing.M) {
	code := m.Run()
	if appPool != nil {
		appPool.Close()
	}
	if pool != nil {
		pool.Close()
		dropDatabase()
	}
	os.Exit(code)
}

// Pool returns the package's database pool, creating the database on first use.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	once.Do(setup)
	if initErr != nil {
		t.Fatalf("test database: %v", initErr)
	}
	return pool
}

// URL returns the connection URL of the package's database (for servers
// started by a test).
func URL(t testing.TB) string {
	Pool(t)
	return dbURL
}

// AppURL returns the URL of the package's database as the application role
// (db.AppRole), for servers started by a test.
func AppURL(t testing.TB) string {
	return db.WithUser(URL(t), db.AppRole)
}

// AppPool returns a pool on the package's database connected as the
// application role, as `credits serve` connects.
func AppPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := AppURL(t)
	appOnce.Do(func() { appPool, appErr = db.Open(context.Background(), u) })
	if appErr != nil {
		t.Fatalf("test database as %s: %v", db.AppRole, appErr)
	}
	return appPool
}

func setup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		var err error
		if base, err = db.Server(ctx, filepath.Join(db.ProjectRoot(), ".data")); err != nil {
			initErr = err
			return
		}
	}
	adminURL = db.WithDatabase(base, "postgres")
	template, err := ensureTemplate(ctx)
	if err != nil {
		initErr = err
		return
	}
	baseURL, tplName = base, template
	dbName = "credits_test_" + randomHex(6)
	if initErr = cloneTemplate(ctx, dbName); initErr != nil {
		return
	}
	dbURL = db.WithDatabase(base, dbName)
	pool, initErr = db.Open(ctx, dbURL)
}

// cloneTemplate creates database name from the migrated template, owned by
// the owner role.
func cloneTemplate(ctx context.Context, name string) error {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	// Two packages cloning one template at the same instant can collide
	// ("source database is being accessed"); a short retry settles it.
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s OWNER %s", name, tplName, db.OwnerRole))
		if err == nil {
			return nil
		}
		if attempt == 20 {
			return fmt.Errorf("create %s: %w", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Own gives the test a migrated database of its own, cloned from the same
// template as the package's and dropped when the test ends, with a
// superuser pool on it and its URL: for a test that breaks what every other
// test of the package relies on (a tampered ledger, for one) or hands the
// database to a separate process.
func Own(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	Pool(t)
	ctx := context.Background()
	name := "credits_test_" + randomHex(6)
	if err := cloneTemplate(ctx, name); err != nil {
		t.Fatalf("test database: %v", err)
	}
	t.Cleanup(func() { dropNamed(name) })
	u := db.WithDatabase(baseURL, name)
	p, err := db.Open(ctx, u)
	if err != nil {
		t.Fatalf("test database: %v", err)
	}
	t.Cleanup(p.Close)
	return p, u
}

// OwnRoles gives the test a database of its own (as Own) and pools on it
// as the owner role and as the application role: for a test that works on
// the schema (partitions, archives) beside the application's writes.
func OwnRoles(t testing.TB) (owner, app *pgxpool.Pool, url string) {
	t.Helper()
	_, url = Own(t)
	open := func(role string) *pgxpool.Pool {
		p, err := db.Open(context.Background(), db.WithUser(url, role))
		if err != nil {
			t.Fatalf("test database: %v", err)
		}
		t.Cleanup(p.Close)
		return p
	}
	return open(db.OwnerRole), open(db.AppRole), url
}

// ensureTemplate builds credits_tpl_<db.Fingerprint> once, as `credits
// migrate` would (db.Bootstrap makes both roles and the database owned by
// the owner role, which then migrates it); concurrent test packages
// serialise on an advisory lock.
func ensureTemplate(ctx context.Context) (string, error) {
	name := "credits_tpl_" + db.Fingerprint()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(7521888)"); err != nil {
		return "", err
	}
	defer admin.Exec(ctx, "SELECT pg_advisory_unlock(7521888)") //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_build"
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building)
	if err := db.Bootstrap(ctx, adminURL, building); err != nil {
		return "", err
	}
	p, err := db.Open(ctx, db.WithUser(db.WithDatabase(adminURL, building), db.OwnerRole))
	if err != nil {
		return "", err
	}
	_, err = db.Migrate(ctx, p)
	p.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func dropDatabase() { dropNamed(dbName) }

func dropNamed(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return
	}
	defer admin.Close(ctx)
	_, _ = admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
