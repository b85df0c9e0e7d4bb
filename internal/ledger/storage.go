package ledger

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// HotTables are the ledger tables every billed request (a reserve and its
// commit, or a charge) writes rows into: what "hot storage per request"
// counts (issue 21).
var HotTables = []string{"ledger_events", "ledger_reservations", "ledger_idempotency"}

// RelationSize is one table's on-disk size, partitions included: its heap
// (with TOAST) and each index, in bytes, and its row count as the
// planner's statistics estimate it (exact after ANALYZE).
type RelationSize struct {
	Table   string
	Bytes   int64 // heap + TOAST + indexes
	Heap    int64
	Rows    int64
	Indexes []IndexSize
}

// IndexSize is one index's size summed over a table's partitions.
type IndexSize struct {
	Name  string // the index of the table (or partitioned table)
	Bytes int64
}

// The sizes of a table and of its indexes, partitions included
// (pg_partition_tree returns the table itself when it is not partitioned;
// a partition's index is attached to its parent index, whose name it is
// reported under).
const storageTableSQL = `
WITH parts AS (
  SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf
  UNION ALL SELECT $1::regclass WHERE NOT EXISTS (SELECT FROM pg_partition_tree($1::regclass)))
SELECT coalesce(sum(pg_total_relation_size(p.relid)), 0)::bigint,
       coalesce(sum(pg_table_size(p.relid)), 0)::bigint,
       coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint
FROM parts p JOIN pg_class c ON c.oid = p.relid`

const storageIndexSQL = `
SELECT top.relname::text,
       coalesce((SELECT sum(pg_relation_size(t.relid)) FROM pg_partition_tree(i.indexrelid) t),
                pg_relation_size(i.indexrelid))::bigint
FROM pg_index i
JOIN pg_class top ON top.oid = i.indexrelid
WHERE i.indrelid = $1::regclass
ORDER BY 2 DESC, 1`

// Storage reports the size of each hot table (HotTables) and its indexes.
func Storage(ctx context.Context, q db.DBTX) ([]RelationSize, error) {
	out := make([]RelationSize, 0, len(HotTables))
	for _, t := range HotTables {
		s := RelationSize{Table: t}
		if err := q.QueryRow(ctx, storageTableSQL, t).Scan(&s.Bytes, &s.Heap, &s.Rows); err != nil {
			return nil, fmt.Errorf("ledger: storage of %s: %w", t, err)
		}
		rows, err := q.Query(ctx, storageIndexSQL, t)
		if err != nil {
			return nil, fmt.Errorf("ledger: storage of %s: %w", t, err)
		}
		s.Indexes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (IndexSize, error) {
			var ix IndexSize
			return ix, r.Scan(&ix.Name, &ix.Bytes)
		})
		if err != nil {
			return nil, fmt.Errorf("ledger: storage of %s: %w", t, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// StorageConfig sizes MeasureStorage.
type StorageConfig struct {
	Requests int // billed requests (reserve + commit) to run (20,000)
	Accounts int // accounts they are spread over (1,000)
	Workers  int // concurrent clients (16)
	// Rounds splits the requests into rounds, each reported on its own;
	// with Retire, the retention job runs after each (as if the retry
	// window had passed) and VACUUM frees what it moved, so the later
	// rounds show the steady state: what a request adds to the hot tables
	// for good.
	Rounds int
	Retire bool
	// History, when set, gives each round a history to run against: before
	// round i the ledger's events are topped up (by SQL, spread over the
	// measured accounts, as billed requests would leave them) to
	// History[i] events, so the report shows whether bytes and CPU per
	// request stay flat as history grows. Rounds is then len(History).
	History []int
}

// StorageReport is what MeasureStorage measured: bytes each hot table grew
// by per billed request, and CPU per billed request in this process and in
// the database's backends (0 when the server is not on this machine).
type StorageReport struct {
	Requests     int
	Before       []RelationSize
	After        []RelationSize
	BytesPer     map[string]float64 // table → bytes per request
	TotalPer     float64            // all hot tables, bytes per request
	ClientCPUPer time.Duration
	ServerCPUPer time.Duration
	Elapsed      time.Duration
}

// MeasureStorage runs cfg.Requests billed requests the way the gateway
// bills a call (a reserve with a client key, the gateway's detail, then a
// commit of a smaller actual with its usage detail) through a Ledger on
// pool, over fresh accounts, and reports what the hot tables grew by and
// the CPU spent, per request. It writes accounts and history: run it on a
// scratch database.
func MeasureStorage(ctx context.Context, pool *pgxpool.Pool, cfg StorageConfig, w io.Writer) (StorageReport, error) {
	if cfg.Requests <= 0 {
		cfg.Requests = 20000
	}
	if cfg.Accounts <= 0 {
		cfg.Accounts = 1000
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	r := StorageReport{Requests: cfg.Requests, BytesPer: map[string]float64{}}
	var first int64
	err := pool.QueryRow(ctx, `
WITH ins AS (
  INSERT INTO ledger_accounts (id, pool_id, kind, name)
  SELECT n, n, 'individual', 'storage' FROM (SELECT nextval('ledger_accounts_id_seq') n FROM generate_series(1, $1::int)) s
  RETURNING id)
SELECT min(id) FROM ins`, cfg.Accounts).Scan(&first)
	if err != nil {
		return r, err
	}
	_, err = pool.Exec(ctx, `
SELECT ledger_credit(jsonb_build_object('account_id', id, 'kind', 'paid', 'amount', '1000000000', 'event_type', 'purchase',
       'key', 'storage-fund', 'hash', 'x', 'now', now()))
FROM ledger_accounts WHERE id BETWEEN $1 AND $1 + $2 - 1`, first, cfg.Accounts)
	if err != nil {
		return r, err
	}
	l := New(pool, Options{})
	defer l.Close()
	rounds := max(cfg.Rounds, 1)
	if len(cfg.History) > 0 {
		rounds = len(cfg.History)
	}
	per := cfg.Requests / rounds
	r.Requests = per
	var next atomic.Int64
	for round := 1; round <= rounds; round++ {
		if len(cfg.History) > 0 {
			n, err := storageHistory(ctx, pool, first, cfg.Accounts, cfg.History[round-1])
			if err != nil {
				return r, err
			}
			fmt.Fprintf(w, "history: %d events\n", n)
		}
		if r.Before, err = Storage(ctx, pool); err != nil {
			return r, err
		}
		server := db.ServerCPU(ctx, pool)
		client := db.ProcessCPU()
		start := time.Now()
		if err := storageRound(ctx, l, &next, int64(per*round), first, cfg); err != nil {
			return r, err
		}
		r.Elapsed = time.Since(start)
		r.ClientCPUPer = (db.ProcessCPU() - client) / time.Duration(per)
		r.ServerCPUPer = db.ServerCPUSpent(server, db.ServerCPU(ctx, pool)) / time.Duration(per)
		if cfg.Retire {
			// The window passing, as the job sees it an hour later: every
			// closed reservation and request record moves out, and VACUUM
			// (autovacuum, in production) frees their space for the next
			// round's rows.
			if _, err := Retire(ctx, pool, time.Now().Add(time.Second), 10000); err != nil {
				return r, err
			}
			if _, err := pool.Exec(ctx, `VACUUM ledger_reservations, ledger_idempotency`); err != nil {
				return r, err
			}
		}
		if _, err := pool.Exec(ctx, `ANALYZE ledger_events, ledger_reservations, ledger_idempotency`); err != nil {
			return r, err
		}
		if r.After, err = Storage(ctx, pool); err != nil {
			return r, err
		}
		r.TotalPer = 0
		for i, a := range r.After {
			b := float64(a.Bytes-r.Before[i].Bytes) / float64(per)
			r.BytesPer[a.Table] = b
			r.TotalPer += b
		}
		if rounds > 1 {
			fmt.Fprintf(w, "round %d of %d:\n", round, rounds)
		}
		PrintStorage(w, r)
	}
	return r, nil
}

// storageHistory tops the ledger up to target events: billed-request rows
// (a deduction with the gateway's model, session, key and usage detail)
// over the accounts from first, dated in 2024, a million per statement.
// They are history for the indexes and the planner, not a consistent
// ledger (their balances are not chained): a benchmark database only.
func storageHistory(ctx context.Context, pool *pgxpool.Pool, first int64, accounts, target int) (int64, error) {
	var have int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_events`).Scan(&have); err != nil {
		return 0, err
	}
	for have < int64(target) {
		n := min(int64(target)-have, 1000000)
		_, err := pool.Exec(ctx, `
INSERT INTO ledger_events (pool_id, account_id, op_id, type, amount, balance_after, reservation_id, idempotency_key, model,
                           session_id, detail, occurred_at, at)
SELECT $1 + g % $2, $1 + g % $2, g, 'deduction'::ledger_event_type, -8.4321, 1000, g, 'rsv:history-' || g, 'deepseek-chat', 'sess-' || g / 8,
       '{"input_tokens":1187,"output_tokens":2301,"cache_hit_tokens":0,"requests":1,"rate_card_version":3,"outcome":"ok"}'::jsonb,
       timestamptz '2024-01-01' + g * interval '1 millisecond', timestamptz '2024-01-01' + g * interval '1 millisecond'
FROM generate_series($3::bigint, $3::bigint + $4::bigint - 1) g`, first, accounts, have, n)
		if err != nil {
			return have, err
		}
		have += n
	}
	_, err := pool.Exec(ctx, `VACUUM ANALYZE ledger_events`)
	return have, err
}

// storageRound runs billed requests until next passes upto.
func storageRound(ctx context.Context, l *Ledger, next *atomic.Int64, upto, first int64, cfg StorageConfig) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	hold, actual := decimal.NewFromInt(12), decimal.RequireFromString("8.4321")
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > upto || ctx.Err() != nil {
					next.Add(-1)
					return
				}
				acc := first + n%int64(cfg.Accounts)
				id := strconv.FormatInt(n, 10)
				res, err := l.Reserve(ctx, ReserveRequest{AccountID: acc, Amount: hold, IdempotencyKey: "rsv:storage-" + id,
					Model: "deepseek-chat", SessionID: "sess-" + strconv.FormatInt(n/8, 10),
					Detail: []byte(`{"max_input_tokens":1200,"max_output_tokens":4096,"rate_card_version":3}`)})
				if err == nil {
					_, err = l.Commit(ctx, CommitRequest{ReservationID: res.ID, Actual: actual,
						Detail: []byte(`{"input_tokens":1187,"output_tokens":2301,"cache_hit_tokens":0,"requests":1,"rate_card_version":3,"outcome":"ok"}`)})
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// PrintStorage writes the report: bytes per request in each hot table
// (with its indexes' shares) and CPU per request.
func PrintStorage(w io.Writer, r StorageReport) {
	fmt.Fprintf(w, "hot storage over %d billed requests (reserve + commit), %s:\n", r.Requests, r.Elapsed.Round(time.Millisecond))
	for i, a := range r.After {
		b := r.Before[i]
		fmt.Fprintf(w, "  %-22s %7.0f B/request   (heap %6.0f", a.Table, r.BytesPer[a.Table], float64(a.Heap-b.Heap)/float64(r.Requests))
		for _, ix := range a.Indexes {
			was := int64(0)
			for _, bx := range b.Indexes {
				if bx.Name == ix.Name {
					was = bx.Bytes
				}
			}
			fmt.Fprintf(w, ", %s %.0f", ix.Name, float64(ix.Bytes-was)/float64(r.Requests))
		}
		fmt.Fprintf(w, ")   now %s in %d rows\n", humanBytes(a.Bytes), a.Rows)
	}
	fmt.Fprintf(w, "  total                  %7.0f B/request\n", r.TotalPer)
	fmt.Fprintf(w, "CPU per billed request: %s in this process, %s in PostgreSQL backends\n",
		r.ClientCPUPer.Round(100*time.Nanosecond), r.ServerCPUPer.Round(100*time.Nanosecond))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
}
