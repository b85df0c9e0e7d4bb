package db

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultName is the project's database on a shared local server.
const DefaultName = "credits"

// privatePort is where the private cluster under .data/ listens (on its
// Unix socket only), chosen away from the standard 5432.
const privatePort = 55432

// URLs are the connections the binary uses (see roles.go): App for every
// command that runs the product (serve and its workers, seed, staff, keys,
// ledger verify), Owner for `credits migrate`. Admin is the development
// server's superuser URL, set only when Resolve found or started that server
// itself (bench-ledger makes its scratch databases with it).
type URLs struct {
	App   string
	Owner string
	Admin string
}

// Resolve finds the database to use, in the order the README documents:
// DATABASE_URL (the application role) if set, with MIGRATE_DATABASE_URL (the
// owner role) or else the same URL with OwnerRole as its user and no
// password; else the server on 127.0.0.1:5432, else a private cluster under
// .data/pg started from the machine's PostgreSQL binaries. On a server it
// found itself it connects as the superuser once to create both roles and
// the project's database, owned by OwnerRole (Bootstrap), and returns their
// URLs, which trust authentication lets in without a password.
//
// app and owner are DATABASE_URL and MIGRATE_DATABASE_URL as configured;
// dataDir is where the private cluster lives (config.Database.DataDir).
func Resolve(ctx context.Context, app, owner, dataDir string) (URLs, error) {
	for name, u := range map[string]string{"DATABASE_URL": app, "MIGRATE_DATABASE_URL": owner} {
		if u == "" {
			continue
		}
		if _, err := pgx.ParseConfig(u); err != nil {
			return URLs{}, fmt.Errorf("%s is not a valid PostgreSQL URL (%s): fix it or unset it to use the local server", name, redactParseError(err))
		}
	}
	if app != "" {
		if owner == "" {
			owner = WithUser(app, OwnerRole)
		}
		return URLs{App: app, Owner: owner}, nil
	}
	admin, err := Server(ctx, dataDir)
	if err != nil {
		return URLs{}, err
	}
	if err := Bootstrap(ctx, admin, DefaultName); err != nil {
		return URLs{}, err
	}
	u := URLs{Admin: admin, App: WithUser(withDatabase(admin, DefaultName), AppRole), Owner: owner}
	if u.Owner == "" {
		u.Owner = WithUser(withDatabase(admin, DefaultName), OwnerRole)
	}
	return u, nil
}

// Server finds or starts the development server: 127.0.0.1:5432, else the
// private cluster under dataDir/pg. It returns the superuser's URL of its
// postgres database.
func Server(ctx context.Context, dataDir string) (string, error) {
	local := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if reachable(ctx, local) {
		return local, nil
	}
	u, err := startPrivateCluster(ctx, dataDir)
	if err != nil {
		return "", err
	}
	return withDatabase(u, "postgres"), nil
}

// withDatabase returns the URL pointing at another database on the same server.
func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func reachable(ctx context.Context, u string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

// EnsureDatabase creates the URL's database, as the URL's user, when the
// server says it is missing (`credits migrate` on an explicit owner URL).
func EnsureDatabase(ctx context.Context, u string) error {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err == nil {
		conn.Close(ctx)
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		return fmt.Errorf("cannot reach PostgreSQL at %s as %s (%s): start the server or set DATABASE_URL and MIGRATE_DATABASE_URL", describe(cfg), cfg.User, shortError(err))
	}
	admin, err := pgx.Connect(cctx, withDatabase(u, "postgres"))
	if err != nil {
		return fmt.Errorf("cannot create database %q (%s): create it by hand or set DATABASE_URL", cfg.Database, shortError(err))
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	if err != nil && !IsUniqueViolation(err, "") && !isDuplicateDatabase(err) {
		return fmt.Errorf("cannot create database %q (%s)", cfg.Database, shortError(err))
	}
	return nil
}

func isDuplicateDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P04"
}

// ProjectRoot is the nearest folder above the working directory holding
// go.mod: the default for CREDITS_ROOT (config), under which .data/ lives.
func ProjectRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func pgBinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("no PostgreSQL server is running on 127.0.0.1:5432 and no PostgreSQL binaries were found: install the Debian package `postgresql` (apt-get install -y postgresql) or set DATABASE_URL")
	}
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	return filepath.Dir(matches[0]), nil
}

func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// startPrivateCluster initialises (once) and starts a cluster under
// dataDir/pg that listens only on a Unix socket in that folder. initdb
// refuses to run as root, so as root it runs as the postgres user.
func startPrivateCluster(ctx context.Context, dataDir string) (string, error) {
	bin, err := pgBinDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(dataDir, "pg")
	clusterDir := filepath.Join(dir, "data")
	u := fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", DefaultName, url.QueryEscape(dir), privatePort)
	if reachable(ctx, withDatabase(u, "postgres")) {
		return u, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("cannot create %s: %w", dir, err)
	}
	// Test packages run in parallel and may all find no server: one starts
	// it while the others wait on this lock, then find it running.
	unlock, err := lockFile(filepath.Join(filepath.Dir(dir), "pg.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if reachable(ctx, withDatabase(u, "postgres")) {
		return u, nil
	}
	asUser := func(name string, args ...string) *exec.Cmd { return exec.CommandContext(ctx, name, args...) }
	if os.Geteuid() == 0 {
		pgUser, err := user.Lookup("postgres")
		if err != nil {
			return "", errors.New("running as root needs the `postgres` system user to start a private cluster: install the Debian package `postgresql` or set DATABASE_URL")
		}
		uid, _ := strconv.Atoi(pgUser.Uid)
		gid, _ := strconv.Atoi(pgUser.Gid)
		if err := chownTree(dir, dataDir, uid, gid); err != nil {
			return "", err
		}
		asUser = func(name string, args ...string) *exec.Cmd {
			return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	if _, err := os.Stat(filepath.Join(clusterDir, "PG_VERSION")); err != nil {
		out, err := asUser(filepath.Join(bin, "initdb"), "-D", clusterDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("initdb in %s failed: %s", clusterDir, lastLine(out))
		}
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=''", privatePort, dir)
	out, err := asUser(filepath.Join(bin, "pg_ctl"), "-D", clusterDir, "-l", filepath.Join(dir, "log"), "-w", "-o", opts, "start").CombinedOutput()
	if err != nil && !reachable(ctx, withDatabase(u, "postgres")) {
		return "", fmt.Errorf("starting the private cluster in %s failed: %s (see %s)", clusterDir, lastLine(out), filepath.Join(dir, "log"))
	}
	return u, nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func chownTree(dir, dataDir string, uid, gid int) error {
	// The postgres user must be able to reach the folder itself.
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if d == dataDir {
			_ = os.Chown(d, uid, gid)
			break
		}
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func lastLine(out []byte) string {
	s := string(out)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}

// WithDatabase returns raw pointing at database name on the same server.
func WithDatabase(raw, name string) string { return withDatabase(raw, name) }
