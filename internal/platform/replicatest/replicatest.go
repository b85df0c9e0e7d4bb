// Package replicatest starts a private PostgreSQL primary and a real
// streaming standby made from it with pg_basebackup, for tests of reads
// from the standby: a migrated database on the primary, its URLs on both
// servers as the application role, and ways to pause the standby's replay
// and to stop it.
//
// The servers listen only on Unix sockets in a temporary folder (no TCP
// port to collide with), run as the postgres user when the test runs as
// root (initdb refuses root), and are stopped and removed when the test
// ends. A machine without PostgreSQL's server binaries skips the test.
package replicatest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Cluster is a running primary and standby.
type Cluster struct {
	t       testing.TB
	bin     string
	dir     string
	asUser  []string // runuser prefix when root
	primary server
	standby server
	// Name is the migrated database's name.
	Name string
}

type server struct {
	data string
	port int
}

// Ports of the two servers' sockets (the socket files are
// dir/.s.PGSQL.<port>; nothing listens on TCP).
const (
	primaryPort = 56432
	standbyPort = 56433
)

// Start initialises a primary, makes and migrates database name as `credits
// migrate` would, makes the standby with pg_basebackup and waits until it
// has replayed the migration.
func Start(t testing.TB, name string) *Cluster {
	t.Helper()
	bin := binDir()
	if bin == "" {
		t.Skip("replicatest: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): install the Debian package postgresql to run this test")
	}
	c := &Cluster{t: t, bin: bin, Name: name}
	dir, err := os.MkdirTemp("", "replicatest-")
	if err != nil {
		t.Fatalf("replicatest: %v", err)
	}
	c.dir = dir
	t.Cleanup(func() { c.stopAll(); _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("replicatest: running as root needs the postgres system user (Debian package postgresql)")
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatalf("replicatest: %v", err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("replicatest: %v", err)
		}
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	c.primary = server{data: filepath.Join(dir, "primary"), port: primaryPort}
	c.standby = server{data: filepath.Join(dir, "standby"), port: standbyPort}

	c.run("initdb", "-D", c.primary.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	c.start(c.primary)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := c.url(c.primary, "postgres", "postgres")
	if err := db.Bootstrap(ctx, admin, name); err != nil {
		t.Fatalf("replicatest: bootstrap: %v", err)
	}
	owner, err := db.Open(ctx, c.url(c.primary, name, db.OwnerRole))
	if err != nil {
		t.Fatalf("replicatest: %v", err)
	}
	_, err = db.Migrate(ctx, owner)
	owner.Close()
	if err != nil {
		t.Fatalf("replicatest: migrate: %v", err)
	}
	// -R writes standby.signal and primary_conninfo (over the socket).
	c.run("pg_basebackup", "-D", c.standby.data, "-R", "-X", "stream", "-c", "fast",
		"-d", fmt.Sprintf("host=%s port=%d user=postgres", dir, c.primary.port))
	c.start(c.standby)
	c.WaitCaughtUp()
	return c
}

// PrimaryURL is the database on the primary as the application role.
func (c *Cluster) PrimaryURL() string { return c.url(c.primary, c.Name, db.AppRole) }

// StandbyURL is the database on the standby as the application role.
func (c *Cluster) StandbyURL() string { return c.url(c.standby, c.Name, db.AppRole) }

// PrimaryAdmin and StandbyAdmin are superuser URLs of the database.
func (c *Cluster) PrimaryAdmin() string { return c.url(c.primary, c.Name, "postgres") }

// StandbyAdmin is the superuser URL of the database on the standby.
func (c *Cluster) StandbyAdmin() string { return c.url(c.standby, c.Name, "postgres") }

// PauseReplay stops the standby applying WAL (it keeps receiving it):
// what it serves stays as it is until ResumeReplay.
func (c *Cluster) PauseReplay() { c.standbySQL("SELECT pg_wal_replay_pause()") }

// ResumeReplay lets the standby catch up again.
func (c *Cluster) ResumeReplay() { c.standbySQL("SELECT pg_wal_replay_resume()") }

// StopStandby shuts the standby down (fast: sessions are ended).
func (c *Cluster) StopStandby() { c.run("pg_ctl", "-D", c.standby.data, "-m", "fast", "-w", "stop") }

// StopPrimary stops the primary at once, as a crash would (immediate: no
// checkpoint, every session cut); the standby keeps serving reads, still
// in recovery, its WAL receiver retrying.
func (c *Cluster) StopPrimary() {
	c.run("pg_ctl", "-D", c.primary.data, "-m", "immediate", "-w", "stop")
}

// StartPrimary starts the primary again after StopPrimary (crash
// recovery); the standby's WAL receiver reconnects to it.
func (c *Cluster) StartPrimary() { c.start(c.primary) }

// WaitCaughtUp waits until the standby has replayed everything the primary
// had written when it was called.
func (c *Cluster) WaitCaughtUp() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, c.url(c.primary, "postgres", "postgres"))
	if err != nil {
		c.t.Fatalf("replicatest: %v", err)
	}
	defer p.Close()
	var target string
	if err := p.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&target); err != nil {
		c.t.Fatalf("replicatest: %v", err)
	}
	s, err := pgxpool.New(ctx, c.url(c.standby, "postgres", "postgres"))
	if err != nil {
		c.t.Fatalf("replicatest: %v", err)
	}
	defer s.Close()
	for {
		var done bool
		err := s.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", target).Scan(&done)
		if err == nil && done {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("replicatest: the standby did not replay %s within 30 s (last error: %v; see %s)", target, err, c.dir)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *Cluster) standbySQL(sql string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, c.url(c.standby, "postgres", "postgres"))
	if err != nil {
		c.t.Fatalf("replicatest: %v", err)
	}
	defer p.Close()
	if _, err := p.Exec(ctx, sql); err != nil {
		c.t.Fatalf("replicatest: %s: %v", sql, err)
	}
}

func (c *Cluster) url(s server, database, user string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", user, database, url.QueryEscape(c.dir), s.port)
}

func (c *Cluster) start(s server) {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c max_connections=60 -c fsync=off -c hot_standby_feedback=on", s.port, c.dir)
	c.run("pg_ctl", "-D", s.data, "-l", s.data+".log", "-w", "-o", opts, "start")
}

// stopAll stops both servers at once (immediate: the data is thrown away).
func (c *Cluster) stopAll() {
	for _, s := range []server{c.standby, c.primary} {
		if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err == nil {
			args := append(append([]string{}, c.asUser...), filepath.Join(c.bin, "pg_ctl"), "-D", s.data, "-m", "immediate", "-w", "stop")
			_ = exec.Command(args[0], args[1:]...).Run()
		}
	}
}

func (c *Cluster) run(tool string, args ...string) {
	c.t.Helper()
	all := append(append([]string{}, c.asUser...), filepath.Join(c.bin, tool))
	all = append(all, args...)
	cmd := exec.Command(all[0], all[1:]...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("replicatest: %s: %v: %s", tool, err, strings.TrimSpace(string(out)))
	}
}

func binDir() string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_basebackup")
	if len(m) == 0 {
		if p, err := exec.LookPath("pg_basebackup"); err == nil {
			if _, err := exec.LookPath("initdb"); err == nil {
				return filepath.Dir(p)
			}
		}
		return ""
	}
	sort.Slice(m, func(i, j int) bool { return version(m[i]) > version(m[j]) })
	return filepath.Dir(m[0])
}

func version(p string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return v
}

// Reader opens the cluster's primary and standby as the application role
// and runs a db.Reader over them, probing every 50 ms, until the test
// ends; it returns the primary's pool and the Reader.
func (c *Cluster) Reader() (*pgxpool.Pool, *db.Reader) {
	c.t.Helper()
	ctx := context.Background()
	primary, err := db.Open(ctx, c.PrimaryURL())
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(primary.Close)
	standby, err := db.OpenStandby(ctx, c.StandbyURL())
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(standby.Close)
	r := db.NewReader(primary, standby, db.ReaderOptions{Probe: 50 * time.Millisecond})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(rctx) }()
	c.t.Cleanup(func() { stop(); <-done })
	return primary, r
}
