package ledger

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// A month of events leaves ledger_events for a file and can come back
// (README, "Monthly partitions and the archive"). Archive detaches the
// month's partition (DETACH PARTITION … CONCURRENTLY: writes to the other
// months go on), writes it as COPY … (FORMAT binary) through gzip, with a
// SHA-256 sidecar and a manifest holding the checkpoint the month leaves:
// per pool its last event's id and balance_after and the sum of its
// amounts, per lot the sum of its events (and for a credit lot what its
// line's bills are checked against). The checkpoint is also stored
// (ledger_archives, migration 001741): verify starts each pool's chain from
// it and BalanceAt answers from it after the archived months. Restore
// checks the hashes, loads the file into a new table and attaches it.

// ArchiveRequest names the month to archive and where its files go.
type ArchiveRequest struct {
	// Month is the partition: a Shanghai month "2027-01", "before" (the
	// events from before ledger_events was partitioned) or a partition's
	// table name.
	Month string
	// Dir is the folder the three files are written to.
	Dir string
	// ClosedThrough is the end of the last month the revenue report has
	// closed (its month-end positions of paid lots exist up to it); a
	// month may leave only once it has ended by then.
	ClosedThrough time.Time
	// CreditBilledThrough answers, for the credit lots whose events the
	// month holds, until when each one's credit line is billed
	// (internal/creditline's billed_through; a lot missing from the
	// answer is billed through nothing). A month holding a credit lot's
	// events leaves only once that line is billed through the month's end,
	// so its consumption there is all on bills. nil refuses every month
	// holding events of credit lots.
	CreditBilledThrough func(ctx context.Context, lots []LotRef) (map[LotRef]time.Time, error)
}

// LotRef names a lot: its pool and its id.
type LotRef struct {
	PoolID int64
	LotID  int64
}

// ArchiveResult says what Archive wrote.
type ArchiveResult struct {
	Partition string
	File      string // the data: gzip of COPY (FORMAT binary)
	Manifest  string // the manifest (JSON)
	SumFile   string // SHA-256 of both, as sha256sum writes them
	SHA256    string // of File
	Events    int64
	Pools     int
}

// Manifest is the description of an archived month written beside its file.
type Manifest struct {
	Partition string           `json:"partition"`
	From      *time.Time       `json:"from"` // nil: from the start
	To        time.Time        `json:"to"`
	Columns   []string         `json:"columns"`
	Events    int64            `json:"events"`
	File      string           `json:"file"`
	SHA256    string           `json:"sha256"`
	Pools     []PoolCheckpoint `json:"pools"`
	Lots      []LotCheckpoint  `json:"lots"`
}

// PoolCheckpoint is what an archived month leaves of one pool: its last
// event in the month (id, ledger time, balance after it) and the sum of the month's amounts (transfers, which
// move allocation, left out).
type PoolCheckpoint struct {
	PoolID       int64           `json:"pool_id"`
	LastID       int64           `json:"last_id"`
	LastAt       time.Time       `json:"last_at"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
	Total        decimal.Decimal `json:"total"`
}

// LotCheckpoint is the sum of one lot's events in an archived month, and
// of them its credit_line events; for a credit lot also its consumption
// (deduction and reservation_expired_charge, positive) and its
// credit_restore events, what internal/creditline checks the line's bills
// against (zero for other lots, and in manifests written before).
type LotCheckpoint struct {
	PoolID        int64           `json:"pool_id"`
	LotID         int64           `json:"lot_id"`
	Total         decimal.Decimal `json:"total"`
	CreditLine    decimal.Decimal `json:"credit_line"`
	Consumed      decimal.Decimal `json:"consumed"`
	CreditRestore decimal.Decimal `json:"credit_restore"`
}

// PartitionName is the table of the partition a month argument names
// ("2027-01", "before", or the table name itself).
func PartitionName(month string) string {
	if strings.HasPrefix(month, "ledger_events_") {
		return month
	}
	return "ledger_events_" + strings.ReplaceAll(month, "-", "_")
}

// Archive takes the month r.Month out of ledger_events into three files
// in r.Dir and records its checkpoint. pool must be the owner role. It is
// not one transaction: the detach (CONCURRENTLY) commits on its own, then
// the files are written and synced, then the checkpoint is recorded and
// the detached table dropped in one transaction; if it stops in between,
// the month's table stays (detached, or with its detach pending) and
// running Archive again for the month finishes the job.
// Errors: ErrArchiveRefused (not a month that can leave; its revenue
// month-end positions do not exist yet; an older partition still holds
// events — months leave oldest first; it holds events of a credit line
// not billed through its end).
func Archive(ctx context.Context, pool *pgxpool.Pool, r ArchiveRequest) (ArchiveResult, error) {
	name := PartitionName(r.Month)
	parts, err := Partitions(ctx, pool)
	if err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}
	var part Partition
	var older []Partition
	detached := false
	if i := slices.IndexFunc(parts, func(p Partition) bool { return p.Name == name }); i >= 0 {
		part, older = parts[i], parts[:i]
	} else if part, detached, err = leftBehind(ctx, pool, name, parts); err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}
	if part.Name == "" || part.To.IsZero() {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w: %s is not a month of ledger_events that can leave", ErrArchiveRefused, name)
	}
	if r.ClosedThrough.Before(part.To) {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w: %s ends %s, but the revenue report's month-end positions exist only through %s: close the month first",
			ErrArchiveRefused, name, part.To.Format(time.RFC3339), r.ClosedThrough.Format(time.RFC3339))
	}
	for _, o := range older {
		var held bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{o.Name}.Sanitize()+`)`).Scan(&held); err != nil {
			return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
		}
		if held {
			return ArchiveResult{}, fmt.Errorf("ledger: archive: %w: %s, older than %s, still holds events: months leave oldest first", ErrArchiveRefused, o.Name, name)
		}
	}
	ident := pgx.Identifier{name}.Sanitize()
	if err := creditLinesBilled(ctx, pool, r, part); err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}
	cols, err := eventColumns(ctx, pool)
	if err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}
	if !detached {
		if _, err := pool.Exec(ctx, `ALTER TABLE ledger_events DETACH PARTITION `+ident+` CONCURRENTLY`); err != nil {
			return ArchiveResult{}, fmt.Errorf("ledger: archive: detach %s: %w", name, err)
		}
	}

	m := Manifest{Partition: name, To: part.To, Columns: cols}
	if !part.From.IsZero() {
		from := part.From
		m.From = &from
	}
	if m.Pools, m.Lots, err = checkpointOf(ctx, pool, ident); err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}
	res := ArchiveResult{Partition: name, Pools: len(m.Pools)}
	base := filepath.Join(r.Dir, name)
	res.File, res.Manifest, res.SumFile = base+".copy.gz", base+".manifest.json", base+".sha256"
	m.File = filepath.Base(res.File)
	if m.SHA256, m.Events, err = writeCopy(ctx, pool, res.File, `COPY (SELECT `+strings.Join(quoted(cols), ", ")+` FROM `+ident+` ORDER BY pool_id, at, id) TO STDOUT (FORMAT binary)`); err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}
	res.SHA256, res.Events = m.SHA256, m.Events
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}
	if err := writeFileSynced(res.Manifest, manifest); err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}
	sums := fmt.Sprintf("%s  %s\n%s  %s\n", m.SHA256, filepath.Base(res.File), sha256Hex(manifest), filepath.Base(res.Manifest))
	if err := writeFileSynced(res.SumFile, []byte(sums)); err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: %w", err)
	}

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `
INSERT INTO ledger_archives (partition, from_at, to_at, file, sha256, events) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			name, m.From, m.To, m.File, m.SHA256, m.Events).Scan(&id); err != nil {
			return err
		}
		for _, p := range m.Pools {
			if _, err := tx.Exec(ctx, `INSERT INTO ledger_archive_pools (archive_id, pool_id, last_id, last_at, balance_after, total) VALUES ($1, $2, $3, $4, $5, $6)`,
				id, p.PoolID, p.LastID, p.LastAt, p.BalanceAfter, p.Total); err != nil {
				return err
			}
		}
		for _, l := range m.Lots {
			if _, err := tx.Exec(ctx, `
INSERT INTO ledger_archive_lots (archive_id, pool_id, lot_id, total, credit_line, consumed, credit_restore) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				id, l.PoolID, l.LotID, l.Total, l.CreditLine, l.Consumed, l.CreditRestore); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DROP TABLE `+ident)
		return err
	})
	if err != nil {
		return ArchiveResult{}, fmt.Errorf("ledger: archive: record %s: %w", name, err)
	}
	return res, nil
}

// creditLinesBilled refuses a month holding events of a credit lot whose
// line is not billed through the month's end (r.CreditBilledThrough):
// internal/creditline counts an archived month's consumption of the lot as
// billed, and a bill of a later period reads only the events still in
// ledger_events.
func creditLinesBilled(ctx context.Context, pool *pgxpool.Pool, r ArchiveRequest, part Partition) error {
	rows, _ := pool.Query(ctx, `
SELECT DISTINCT e.pool_id, e.lot_id FROM `+pgx.Identifier{part.Name}.Sanitize()+` e
JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
WHERE l.kind = 'credit' ORDER BY 1, 2`)
	lots, err := pgx.CollectRows(rows, pgx.RowToStructByPos[LotRef])
	if err != nil || len(lots) == 0 {
		return err
	}
	if r.CreditBilledThrough == nil {
		return fmt.Errorf("%w: %s holds events of the credit line of account %d, and no one said until when it is billed", ErrArchiveRefused, part.Name, lots[0].PoolID)
	}
	billed, err := r.CreditBilledThrough(ctx, lots)
	if err != nil {
		return err
	}
	for _, l := range lots {
		if through, ok := billed[l]; !ok || through.Before(part.To) {
			return fmt.Errorf("%w: %s holds events of the credit line of account %d, billed only through %s: the month leaves once the line is billed through its end, %s (the line's next bill)",
				ErrArchiveRefused, part.Name, l.PoolID, billedText(through, ok), part.To.Format(time.RFC3339))
		}
	}
	return nil
}

func billedText(t time.Time, ok bool) string {
	if !ok {
		return "nothing"
	}
	return t.UTC().Format(time.RFC3339)
}

// leftBehind finds the table of a month an interrupted Archive detached
// but did not record (a DETACH … CONCURRENTLY still pending is finished
// first) and its bounds: a month's from its name, ledger_events_before's
// up to the oldest partition still attached. Its older partitions were
// checked empty before it was detached. ok is false when there is none.
func leftBehind(ctx context.Context, pool *pgxpool.Pool, name string, attached []Partition) (p Partition, ok bool, err error) {
	var exists bool
	var pending *bool
	if err := pool.QueryRow(ctx, `
SELECT to_regclass($1) IS NOT NULL, (SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass($1))`, name).Scan(&exists, &pending); err != nil {
		return p, false, err
	}
	if !exists || (pending != nil && !*pending) || !strings.HasPrefix(name, "ledger_events_") {
		return p, false, nil
	}
	if pending != nil {
		if _, err := pool.Exec(ctx, `ALTER TABLE ledger_events DETACH PARTITION `+pgx.Identifier{name}.Sanitize()+` FINALIZE`); err != nil {
			return p, false, fmt.Errorf("finish detaching %s: %w", name, err)
		}
	}
	p.Name = name
	if name == "ledger_events_before" {
		if len(attached) == 0 {
			return p, false, nil
		}
		p.To = attached[0].From
		return p, !p.To.IsZero(), nil
	}
	month, err := time.ParseInLocation("2006_01", strings.TrimPrefix(name, "ledger_events_"), Shanghai)
	if err != nil {
		return Partition{}, false, nil
	}
	p.From, p.To = month.UTC(), month.AddDate(0, 1, 0).UTC()
	return p, true, nil
}

// RestoredMonth says what Restore attached again.
type RestoredMonth struct {
	Partition string
	Events    int64
}

// Restore loads an archived month back from file (as Archive wrote it,
// with its manifest and SHA-256 sidecar beside it) and attaches it to
// ledger_events, in one transaction; its checkpoint then no longer counts
// and verify reads the month's events again. pool must be the owner role.
// Months come back newest first (the reverse of Archive).
// Errors: ErrArchiveCorrupt (a hash or the content disagrees; nothing is
// loaded), ErrArchiveRefused (no archive of that month awaits restore, or
// a newer archived month must come back first, or ledger_events' columns
// changed since).
func Restore(ctx context.Context, pool *pgxpool.Pool, file string) (RestoredMonth, error) {
	base := strings.TrimSuffix(file, ".copy.gz")
	sums, err := readSums(base + ".sha256")
	if err != nil {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w", err)
	}
	dataSum, err := fileSHA256(file)
	if err != nil {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w", err)
	}
	if sums[filepath.Base(file)] != dataSum {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w: %s has SHA-256 %s, its sidecar says %q", ErrArchiveCorrupt, file, dataSum, sums[filepath.Base(file)])
	}
	manifestFile := base + ".manifest.json"
	raw, err := os.ReadFile(manifestFile)
	if err != nil {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w", err)
	}
	if sums[filepath.Base(manifestFile)] != sha256Hex(raw) {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w: the manifest's SHA-256 differs from its sidecar", ErrArchiveCorrupt)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w: %w", ErrArchiveCorrupt, err)
	}
	if m.SHA256 != dataSum {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w: the manifest names another file", ErrArchiveCorrupt)
	}
	var id int64
	var recorded string
	err = pool.QueryRow(ctx, `SELECT id, sha256 FROM ledger_archives WHERE partition = $1 AND restored_at IS NULL`, m.Partition).Scan(&id, &recorded)
	if errors.Is(err, pgx.ErrNoRows) {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w: no archive of %s awaits restore", ErrArchiveRefused, m.Partition)
	}
	if err != nil {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w", err)
	}
	if recorded != dataSum {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w: the ledger recorded SHA-256 %s for %s's archive, the file has %s", ErrArchiveCorrupt, recorded, m.Partition, dataSum)
	}
	var newer string
	if err := pool.QueryRow(ctx, `SELECT coalesce((SELECT partition FROM ledger_archives WHERE restored_at IS NULL AND to_at > $1 ORDER BY to_at DESC LIMIT 1), '')`, m.To).Scan(&newer); err != nil {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w", err)
	}
	if newer != "" {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w: %s was archived after %s: restore it first", ErrArchiveRefused, newer, m.Partition)
	}
	cols, err := eventColumns(ctx, pool)
	if err != nil {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w", err)
	}
	if !slices.Equal(cols, m.Columns) {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %w: ledger_events' columns changed since %s left (%v, now %v)", ErrArchiveRefused, m.Partition, m.Columns, cols)
	}

	ident := pgx.Identifier{m.Partition}.Sanitize()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE `+ident+` (LIKE ledger_events INCLUDING DEFAULTS)`); err != nil {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		zr, err := gzip.NewReader(bufio.NewReader(io.TeeReader(f, h)))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrArchiveCorrupt, err)
		}
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, zr, `COPY `+ident+` (`+strings.Join(quoted(cols), ", ")+`) FROM STDIN (FORMAT binary)`)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrArchiveCorrupt, err)
		}
		if _, err := io.Copy(h, f); err != nil { // what gzip left unread
			return err
		}
		if hex.EncodeToString(h.Sum(nil)) != dataSum || tag.RowsAffected() != m.Events {
			return fmt.Errorf("%w: the file changed while loading, or holds %d events where the manifest says %d", ErrArchiveCorrupt, tag.RowsAffected(), m.Events)
		}
		pools, lots, err := checkpointOf(ctx, tx, ident)
		if err != nil {
			return err
		}
		if !checkpointsEqual(pools, lots, m) {
			return fmt.Errorf("%w: the events loaded do not give the manifest's checkpoint", ErrArchiveCorrupt)
		}
		bound, lower := `MINVALUE`, `true`
		if m.From != nil {
			bound = quoteLiteral(m.From.Format(time.RFC3339Nano))
			lower = `at >= ` + bound
		}
		upper := quoteLiteral(m.To.Format(time.RFC3339Nano))
		for _, stmt := range []string{
			`ALTER TABLE ` + ident + ` ADD CONSTRAINT ` + pgx.Identifier{m.Partition + "_at"}.Sanitize() + ` CHECK (` + lower + ` AND at < ` + upper + `)`,
			`CREATE TRIGGER ` + pgx.Identifier{m.Partition + "_append_only"}.Sanitize() + ` BEFORE UPDATE OR DELETE OR TRUNCATE ON ` + ident +
				` FOR EACH STATEMENT EXECUTE FUNCTION append_only('write a correcting event (adjustment, refund) instead')`,
			`ALTER TABLE ledger_events ATTACH PARTITION ` + ident + ` FOR VALUES FROM (` + bound + `) TO (` + upper + `)`,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE ledger_archives SET restored_at = now() WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return RestoredMonth{}, fmt.Errorf("ledger: restore: %s: %w", m.Partition, err)
	}
	return RestoredMonth{Partition: m.Partition, Events: m.Events}, nil
}

// eventColumns are ledger_events' columns in order.
func eventColumns(ctx context.Context, q db.DBTX) ([]string, error) {
	rows, _ := q.Query(ctx, `SELECT attname::text FROM pg_attribute WHERE attrelid = 'ledger_events'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// checkpointOf computes a month's checkpoint from its table.
func checkpointOf(ctx context.Context, q db.DBTX, ident string) ([]PoolCheckpoint, []LotCheckpoint, error) {
	rows, _ := q.Query(ctx, `
SELECT pool_id, max(id), max(at), (array_agg(balance_after ORDER BY id DESC))[1],
       coalesce(sum(amount) FILTER (WHERE type <> 'transfer'), 0)
FROM `+ident+` GROUP BY pool_id ORDER BY pool_id`)
	pools, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PoolCheckpoint, error) {
		var p PoolCheckpoint
		if err := r.Scan(&p.PoolID, &p.LastID, &p.LastAt, &p.BalanceAfter, &p.Total); err != nil {
			return p, err
		}
		p.LastAt = p.LastAt.UTC()
		return p, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	rows, _ = q.Query(ctx, `
SELECT e.pool_id, e.lot_id, sum(e.amount), coalesce(sum(e.amount) FILTER (WHERE e.type = 'credit_line'), 0),
       coalesce(sum(-e.amount) FILTER (WHERE l.kind = 'credit' AND e.type IN ('deduction', 'reservation_expired_charge')), 0),
       coalesce(sum(e.amount) FILTER (WHERE l.kind = 'credit' AND e.type = 'credit_restore'), 0)
FROM `+ident+` e JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
GROUP BY e.pool_id, e.lot_id ORDER BY e.pool_id, e.lot_id`)
	lots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LotCheckpoint, error) {
		var l LotCheckpoint
		return l, r.Scan(&l.PoolID, &l.LotID, &l.Total, &l.CreditLine, &l.Consumed, &l.CreditRestore)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	return pools, lots, nil
}

func checkpointsEqual(pools []PoolCheckpoint, lots []LotCheckpoint, m Manifest) bool {
	if len(pools) != len(m.Pools) || len(lots) != len(m.Lots) {
		return false
	}
	for i, p := range pools {
		q := m.Pools[i]
		if p.PoolID != q.PoolID || p.LastID != q.LastID || !p.LastAt.Equal(q.LastAt) || !p.BalanceAfter.Equal(q.BalanceAfter) || !p.Total.Equal(q.Total) {
			return false
		}
	}
	for i, l := range lots {
		k := m.Lots[i]
		if l.PoolID != k.PoolID || l.LotID != k.LotID || !l.Total.Equal(k.Total) || !l.CreditLine.Equal(k.CreditLine) ||
			!l.Consumed.Equal(k.Consumed) || !l.CreditRestore.Equal(k.CreditRestore) {
			return false
		}
	}
	return true
}

// writeCopy runs the COPY … TO STDOUT sql into path through gzip and
// returns the SHA-256 of what it wrote and the rows copied. The file
// appears under its name only once complete and synced.
func writeCopy(ctx context.Context, pool *pgxpool.Pool, path, sql string) (string, int64, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp)
	defer f.Close()
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(f, h))
	zw := gzip.NewWriter(bw)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return "", 0, err
	}
	tag, err := conn.Conn().PgConn().CopyTo(ctx, zw, sql)
	conn.Release()
	if err != nil {
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	if err := bw.Flush(); err != nil {
		return "", 0, err
	}
	if err := f.Sync(); err != nil {
		return "", 0, err
	}
	if err := f.Close(); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), tag.RowsAffected(), nil
}

func writeFileSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readSums reads a sha256sum file: file name → hex digest.
func readSums(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if ok {
			sums[strings.TrimSpace(name)] = sum
		}
	}
	return sums, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pgx.Identifier{n}.Sanitize()
	}
	return out
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
