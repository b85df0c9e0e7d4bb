package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// runLedger is `credits ledger verify`: it checks every invariant of
// ledger.Verify on every pool, prints each mismatch (naming its pool) and
// fails, naming the pools, on any. `credits ledger storage` prints the
// size of the hot ledger tables; retire, archive and restore are the owner
// role's jobs below.
func runLedger(ctx context.Context, args []string) error {
	if len(args) == 0 || !slices.Contains([]string{"verify", "storage", "retire", "archive", "restore"}, args[0]) {
		return errors.New("usage: credits ledger verify|storage|retire [-window 192h]|archive [-dir DIR] <month 2027-01 | before>|restore <file.copy.gz>")
	}
	switch args[0] {
	case "retire":
		return runRetire(ctx, args[1:], os.Stdout)
	case "archive":
		return runArchive(ctx, args[1:], os.Stdout)
	case "restore":
		return runRestore(ctx, args[1:], os.Stdout)
	}
	pool, err := openMigratedDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if args[0] == "storage" {
		return printStorage(ctx, pool, os.Stdout)
	}
	l := ledger.New(pool, ledger.Options{Writers: 1})
	defer l.Close()
	err = verifyLedger(ctx, l, os.Stdout)
	return errors.Join(err, verifyCreditLines(ctx, creditline.New(pool, l, creditline.Options{}), os.Stdout))
}

// verifyCreditLines prints what creditline.Verify found (bills against
// their credit lots) to out and returns an error naming the accounts.
func verifyCreditLines(ctx context.Context, s *creditline.Service, out io.Writer) error {
	mismatches, err := s.Verify(ctx)
	if err != nil {
		return err
	}
	if len(mismatches) == 0 {
		fmt.Fprintln(out, "ledger verify: every credit line's bills agree with its credit lot")
		return nil
	}
	var accounts []string
	for _, m := range mismatches {
		fmt.Fprintln(out, m)
		accounts = append(accounts, strconv.FormatInt(m.AccountID, 10))
	}
	return fmt.Errorf("verify found %d credit line mismatches (accounts %s)", len(mismatches), strings.Join(accounts, ", "))
}

// runRetire is `credits ledger retire`: the retention job. Connected as
// the owner role (MIGRATE_DATABASE_URL; the application role may not
// delete from the ledger), it moves the closed reservations and the
// per-request idempotency records older than the retry window to their
// archives (ledger.Retire). The window may not be shorter than what a
// retry can outlast: the late-event window plus the reservation TTL.
// It also keeps ledger_events' monthly partitions created PartitionsAhead
// months ahead (ledger.CreatePartitions). Run it from cron or a timer, e.g.
// hourly.
func runRetire(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ledger retire", flag.ContinueOnError)
	window := fs.Duration("window", ledger.DefaultRetryWindow, "how long a billed request's records stay in the hot tables")
	batch := fs.Int("batch", 10000, "rows moved per transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	urls, cfg, err := resolveDB(ctx)
	if err != nil {
		return err
	}
	if least := cfg.Gateway.LateEventWindow + cfg.Gateway.ReservationTTL; *window < least {
		return fmt.Errorf("-window %s is shorter than LATE_EVENT_WINDOW + RESERVATION_TTL (%s): a retry could still arrive after its record left", *window, least)
	}
	if *batch < 1 || *batch > 1000000 {
		return errors.New("-batch must be between 1 and 1000000")
	}
	pool, err := db.Open(ctx, urls.Owner)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.RequireMigrated(ctx, pool); err != nil {
		return err
	}
	cutoff := time.Now().UTC().Add(-*window)
	r, err := ledger.Retire(ctx, pool, cutoff, *batch)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ledger retire: moved %d closed reservations and %d idempotency records older than %s to the archive\n",
		r.Reservations, r.Idempotency, cutoff.Format(time.RFC3339))
	made, err := ledger.CreatePartitions(ctx, pool, time.Now(), ledger.PartitionsAhead)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ledger retire: %d monthly event partitions created ahead (%d months kept ready)\n", made, ledger.PartitionsAhead)
	return nil
}

// printStorage writes the size of each hot ledger table, its indexes and
// its rows, with the bytes per row.
func printStorage(ctx context.Context, q db.DBTX, out io.Writer) error {
	sizes, err := ledger.Storage(ctx, q)
	if err != nil {
		return err
	}
	for _, s := range sizes {
		per := 0.0
		if s.Rows > 0 {
			per = float64(s.Bytes) / float64(s.Rows)
		}
		fmt.Fprintf(out, "%-20s %12d bytes  %10d rows (estimated)  %6.0f bytes/row  heap %d\n", s.Table, s.Bytes, s.Rows, per, s.Heap)
		for _, ix := range s.Indexes {
			fmt.Fprintf(out, "  %-40s %12d bytes\n", ix.Name, ix.Bytes)
		}
	}
	return nil
}

// verifyLedger prints what Verify found to out and returns an error naming
// the broken pools.
func verifyLedger(ctx context.Context, l *ledger.Ledger, out io.Writer) error {
	mismatches, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	var pools []string
	for i, m := range mismatches {
		fmt.Fprintln(out, m)
		if i == 0 || m.PoolID != mismatches[i-1].PoolID {
			pools = append(pools, strconv.FormatInt(m.PoolID, 10))
		}
	}
	if len(mismatches) == 0 {
		fmt.Fprintln(out, "ledger verify: every pool's event chain, balance, lots, reserved total and holds agree")
		return nil
	}
	what := fmt.Sprintf("%d mismatches", len(mismatches))
	if len(mismatches) == 1 {
		what = "1 mismatch"
	}
	where := "pool " + pools[0]
	if len(pools) > 10 {
		pools = append(pools[:10], fmt.Sprintf("and %d more", len(pools)-10))
	}
	if len(pools) > 1 {
		where = "pools " + strings.Join(pools, ", ")
	}
	return fmt.Errorf("verify found %s in %s (each listed above)", what, where)
}

// runBenchLedger is `credits bench-ledger`: the ledger benchmark of issue 4,
// run in a scratch database on the configured server that it drops after.
func runBenchLedger(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench-ledger", flag.ContinueOnError)
	dur := fs.Duration("duration", 8*time.Second, "length of each run")
	events := fs.Int("events", 1000000, "events on the BalanceAt account")
	accounts := fs.Int("accounts", 10000, "accounts for the spread runs")
	workers := fs.Int("workers", 32, "concurrent clients")
	if err := fs.Parse(args); err != nil {
		return err
	}
	urls, _, err := resolveDB(ctx)
	if err != nil {
		return err
	}
	// The scratch database is made and migrated by the superuser of the
	// development server, else by the owner role.
	base := urls.Admin
	if base == "" {
		base = urls.Owner
	}
	admin, err := db.Open(ctx, db.WithDatabase(base, "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "credits_bench_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") //nolint:errcheck
	cfg, err := pgxpool.ParseConfig(db.WithDatabase(base, name))
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(*workers + 16)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool); err != nil {
		return err
	}
	_, err = ledger.RunBenchmark(ctx, pool, ledger.BenchConfig{Workers: *workers, Accounts: *accounts, Duration: *dur, HistoryEvents: *events}, os.Stdout)
	return err
}

// runArchive is `credits ledger archive [-dir DIR] <month>`: connected as
// the owner role, it takes one month of ledger_events out to DIR (a gzip of
// COPY (FORMAT binary), its manifest and a SHA-256 sidecar) and records its
// checkpoint (ledger.Archive). A month leaves only once the revenue report
// has closed it (its month-end positions of paid lots exist), oldest first,
// and every credit line whose events it holds is billed through its end.
func runArchive(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ledger archive", flag.ContinueOnError)
	dir := fs.String("dir", ".", "folder the archive files are written to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: credits ledger archive [-dir DIR] <month 2027-01 | before>")
	}
	pool, err := openOwnerDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	closed, err := backoffice.PaidPositionsClosedThrough(ctx, pool)
	if err != nil {
		return err
	}
	r, err := ledger.Archive(ctx, pool, ledger.ArchiveRequest{Month: fs.Arg(0), Dir: *dir, ClosedThrough: closed,
		CreditBilledThrough: func(ctx context.Context, lots []ledger.LotRef) (map[ledger.LotRef]time.Time, error) {
			return creditline.BilledThrough(ctx, pool, lots)
		}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ledger archive: %s left the ledger: %d events of %d pools in %s (sha256 %s), manifest %s, sums %s\n",
		r.Partition, r.Events, r.Pools, r.File, r.SHA256, r.Manifest, r.SumFile)
	return nil
}

// runRestore is `credits ledger restore <file>`: connected as the owner
// role, it checks the archive's hashes against its sidecar and the ledger's
// record, loads it into a new table and attaches it again
// (ledger.Restore); `credits ledger verify` then reads the month again.
func runRestore(ctx context.Context, args []string, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: credits ledger restore <file.copy.gz>")
	}
	pool, err := openOwnerDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	r, err := ledger.Restore(ctx, pool, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ledger restore: %s is back in the ledger with its %d events\n", r.Partition, r.Events)
	return nil
}

// openOwnerDB connects as the owner role (MIGRATE_DATABASE_URL) to a
// migrated database, for the jobs the application role may not run.
func openOwnerDB(ctx context.Context) (*pgxpool.Pool, error) {
	urls, _, err := resolveDB(ctx)
	if err != nil {
		return nil, err
	}
	pool, err := db.Open(ctx, urls.Owner)
	if err != nil {
		return nil, err
	}
	if err := db.RequireMigrated(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
