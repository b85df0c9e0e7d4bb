package ledger

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// BenchConfig sizes the ledger benchmark (see RunBenchmark).
type BenchConfig struct {
	Workers       int           // concurrent clients (32)
	Accounts      int           // accounts for the spread runs (10,000)
	Duration      time.Duration // per run (8 s)
	HistoryEvents int           // events on the BalanceAt account (1,000,000)
	BalanceAtRuns int           // BalanceAt calls measured (2,000)
	Writers       int           // the ledger's Options.Writers (its default when 0)
	InFlight      int           // the ledger's Options.InFlight (its default when 0)
	// Variants, when set, runs the ledger phases once per variant, back to
	// back against the same baseline (Writers and InFlight are then
	// ignored); the report's main figures are the first variant's.
	Variants []BenchVariant
}

// BenchVariant is one writer configuration to measure.
type BenchVariant struct {
	Writers, InFlight int
}

// VariantReport is what one variant measured.
type VariantReport struct {
	BenchVariant
	BaselineOps                     float64 // the baseline measured next to it (the run's, for one variant)
	BaselineP99                     time.Duration
	SpreadOps, HotOps               float64
	SpreadReserveP99, HotReserveP99 time.Duration
	SpreadReserveP50, HotReserveP50 time.Duration
	// RawOps is the batched raw-SQL ceiling measured next to it
	// (benchRawCeiling), in transactions of RawBatch operations.
	RawOps   float64
	RawBatch int
}

// BenchReport holds the figures RunBenchmark measured.
type BenchReport struct {
	BaselineOps, SpreadOps, HotOps     float64 // operations per second
	BaselineP50, BaselineP99           time.Duration
	SpreadReserveP50, SpreadReserveP99 time.Duration
	HotReserveP50, HotReserveP99       time.Duration
	BalanceAtP50, BalanceAtP99         time.Duration
	HistoryEvents                      int
	Variants                           []VariantReport
	// Budgets: reserve + commit with three nested budgets over every call
	// (account, project, key) and without, over the same accounts, taking
	// turns in this run; the ratio is with ÷ without.
	BudgetSpreadOps, NoBudgetSpreadOps float64
	BudgetHotOps, NoBudgetHotOps       float64
	Workers, Accounts                  int
	Duration                           time.Duration
}

// RunBenchmark measures, in one process against the database behind pool
// (a scratch database: it creates tables and thousands of accounts):
// the baseline rate of plain transactions doing one conditional UPDATE and
// one INSERT; ledger operations per second (each reserve and each commit
// counts one) spread over Accounts accounts and all on one hot account, with
// reserve's p50/p99; and BalanceAt's latency on an account with
// HistoryEvents events. It prints a report with the ratios to w.
func RunBenchmark(ctx context.Context, pool *pgxpool.Pool, cfg BenchConfig, w io.Writer) (BenchReport, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.Accounts <= 0 {
		cfg.Accounts = 10000
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 8 * time.Second
	}
	if cfg.HistoryEvents <= 0 {
		cfg.HistoryEvents = 1000000
	}
	if cfg.BalanceAtRuns <= 0 {
		cfg.BalanceAtRuns = 2000
	}
	r := BenchReport{Workers: cfg.Workers, Accounts: cfg.Accounts, Duration: cfg.Duration, HistoryEvents: cfg.HistoryEvents}
	fmt.Fprintf(w, "ledger benchmark: %d workers, %d accounts, %s per run\n", cfg.Workers, cfg.Accounts, cfg.Duration)

	// Baseline: BEGIN; conditional UPDATE; INSERT; COMMIT.
	const setupBaseline = `
DROP TABLE IF EXISTS bench_baseline_log, bench_baseline_accounts;
CREATE TABLE bench_baseline_accounts (id bigint PRIMARY KEY, balance numeric(24,6) NOT NULL);
CREATE TABLE bench_baseline_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id bigint NOT NULL,
    amount numeric(24,6) NOT NULL, at timestamptz NOT NULL DEFAULT now());`
	if _, err := pool.Exec(ctx, setupBaseline); err != nil {
		return r, err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO bench_baseline_accounts SELECT g, 1000000000 FROM generate_series(1, $1::int) g`, cfg.Accounts); err != nil {
		return r, err
	}
	baselineTxn := func(ctx context.Context, rng *rand.Rand) (time.Duration, int, error) {
		id := rng.IntN(cfg.Accounts) + 1
		start := time.Now()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE bench_baseline_accounts SET balance = balance - 1 WHERE id = $1 AND balance >= 1`, id)
			if err != nil || tag.RowsAffected() != 1 {
				return fmt.Errorf("baseline update: %v", err)
			}
			_, err = tx.Exec(ctx, `INSERT INTO bench_baseline_log (account_id, amount) VALUES ($1, -1)`, id)
			return err
		})
		return time.Since(start), 1, err
	}
	ops, lat, err := drive(ctx, cfg.Workers, cfg.Duration, baselineTxn)
	if err != nil {
		return r, err
	}
	r.BaselineOps = ops
	r.BaselineP50, r.BaselineP99 = pct(lat, 50), pct(lat, 99)
	fmt.Fprintf(w, "baseline (UPDATE+INSERT txn): %10.0f tx/s   p50 %-9s p99 %s\n", ops, r.BaselineP50.Round(time.Microsecond), r.BaselineP99.Round(time.Microsecond))

	// Accounts for the ledger runs, funded in one statement each.
	var first int64
	err = pool.QueryRow(ctx, `
WITH ins AS (
  INSERT INTO ledger_accounts (id, pool_id, kind, name)
  SELECT n, n, 'individual', 'bench' FROM (SELECT nextval('ledger_accounts_id_seq') n FROM generate_series(1, $1::int)) s
  RETURNING id)
SELECT min(id) FROM ins`, cfg.Accounts+1).Scan(&first)
	if err != nil {
		return r, err
	}
	_, err = pool.Exec(ctx, `
SELECT ledger_credit(jsonb_build_object('account_id', id, 'kind', 'paid', 'amount', '1000000000', 'event_type', 'purchase',
       'key', 'bench-fund', 'hash', 'x', 'now', now()))
FROM ledger_accounts WHERE id BETWEEN $1 AND $2`, first, first+int64(cfg.Accounts))
	if err != nil {
		return r, err
	}
	hot := first + int64(cfg.Accounts)
	variants := cfg.Variants
	if len(variants) == 0 {
		variants = []BenchVariant{{Writers: cfg.Writers, InFlight: cfg.InFlight}}
	}
	var seq atomic.Int64
	for _, v := range variants {
		l := New(pool, Options{Writers: v.Writers, InFlight: v.InFlight})
		vr := VariantReport{BenchVariant: BenchVariant{Writers: l.opts.Writers, InFlight: l.opts.InFlight}}
		cycle := func(pick func(*rand.Rand) int64) func(context.Context, *rand.Rand) (time.Duration, int, error) {
			return func(ctx context.Context, rng *rand.Rand) (time.Duration, int, error) {
				acc := pick(rng)
				start := time.Now()
				res, err := l.Reserve(ctx, ReserveRequest{AccountID: acc, Amount: decimal.NewFromInt(1), TTL: time.Minute,
					IdempotencyKey: "b" + strconv.FormatInt(seq.Add(1), 10), Model: "bench"})
				lat := time.Since(start)
				if err != nil {
					return lat, 0, err
				}
				_, err = l.Commit(ctx, CommitRequest{ReservationID: res.ID, Actual: decimal.New(8, -1)})
				return lat, 2, err
			}
		}
		fmt.Fprintf(w, "-- %d writers, %d batches in flight each\n", vr.Writers, vr.InFlight)
		if len(cfg.Variants) > 1 {
			// The machine's load drifts: measure the baseline next to each variant.
			ops, lat, err := drive(ctx, cfg.Workers, cfg.Duration, baselineTxn)
			if err != nil {
				l.Close()
				return r, err
			}
			vr.BaselineOps, vr.BaselineP99 = ops, pct(lat, 99)
			fmt.Fprintf(w, "baseline again:               %10.0f tx/s   p99 %s\n", ops, vr.BaselineP99.Round(time.Microsecond))
		} else {
			vr.BaselineOps, vr.BaselineP99 = r.BaselineOps, r.BaselineP99
		}
		before := l.Stats()
		ops, lat, err := drive(ctx, cfg.Workers, cfg.Duration, cycle(func(rng *rand.Rand) int64 { return first + int64(rng.IntN(cfg.Accounts)) }))
		if err != nil {
			l.Close()
			return r, err
		}
		after := l.Stats()
		vr.SpreadOps, vr.SpreadReserveP50, vr.SpreadReserveP99 = ops, pct(lat, 50), pct(lat, 99)
		fmt.Fprintf(w, "ledger, %d accounts:        %10.0f ops/s  reserve p50 %-9s p99 %-9s (%.2f, p99 %.2fx)\n", cfg.Accounts, ops,
			vr.SpreadReserveP50.Round(time.Microsecond), vr.SpreadReserveP99.Round(time.Microsecond), ops/vr.BaselineOps, float64(vr.SpreadReserveP99)/float64(vr.BaselineP99))
		// The batched raw-SQL ceiling, in batches of the size the writers
		// just reached, on as many connections as they use.
		batch := 16
		if n := after.Transactions - before.Transactions; n > 0 {
			batch = max(int((after.Operations-before.Operations)/n), 2)
		}
		raw, err := benchRawCeiling(ctx, pool, cfg.Accounts, vr.Writers*vr.InFlight, batch, cfg.Duration)
		if err != nil {
			l.Close()
			return r, err
		}
		vr.RawOps, vr.RawBatch = raw, batch
		fmt.Fprintf(w, "raw SQL ceiling (batches of %d): %6.0f ops/s  ledger over it %.2f (target >= 1.0; over the old baseline %.2f)\n",
			batch, raw, vr.SpreadOps/raw, vr.SpreadOps/vr.BaselineOps)
		ops, lat, err = drive(ctx, cfg.Workers, cfg.Duration, cycle(func(*rand.Rand) int64 { return hot }))
		l.Close()
		if err != nil {
			return r, err
		}
		vr.HotOps, vr.HotReserveP50, vr.HotReserveP99 = ops, pct(lat, 50), pct(lat, 99)
		fmt.Fprintf(w, "ledger, one hot account:      %10.0f ops/s  reserve p50 %-9s p99 %-9s (%.2f, p99 %.2fx)\n", ops,
			vr.HotReserveP50.Round(time.Microsecond), vr.HotReserveP99.Round(time.Microsecond), ops/vr.BaselineOps, float64(vr.HotReserveP99)/float64(vr.BaselineP99))
		r.Variants = append(r.Variants, vr)
	}
	v0 := r.Variants[0]
	r.SpreadOps, r.SpreadReserveP50, r.SpreadReserveP99 = v0.SpreadOps, v0.SpreadReserveP50, v0.SpreadReserveP99
	r.HotOps, r.HotReserveP50, r.HotReserveP99 = v0.HotOps, v0.HotReserveP50, v0.HotReserveP99
	l := New(pool, Options{})
	defer l.Close()

	if err := benchBudgets(ctx, pool, l, cfg, first, hot, &r, w); err != nil {
		return r, err
	}

	// BalanceAt on a long history.
	hist, t0, err := benchHistory(ctx, pool, cfg.HistoryEvents)
	if err != nil {
		return r, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var bl []time.Duration
	for range cfg.BalanceAtRuns {
		at := t0.Add(time.Duration(rng.IntN(cfg.HistoryEvents+10)) * time.Second)
		start := time.Now()
		if _, err := l.BalanceAt(ctx, hist, at); err != nil {
			return r, err
		}
		bl = append(bl, time.Since(start))
	}
	slices.Sort(bl)
	r.BalanceAtP50, r.BalanceAtP99 = pct(bl, 50), pct(bl, 99)
	fmt.Fprintf(w, "BalanceAt, %d events:    p50 %s  p99 %s (target p99 < 10ms)\n", cfg.HistoryEvents, r.BalanceAtP50.Round(time.Microsecond), r.BalanceAtP99.Round(time.Microsecond))

	fmt.Fprintf(w, "\nratios to the baseline, %d writers x %d in flight (targets: spread >= 0.8, hot >= 0.5, reserve p99 <= 2x baseline p99)\n", v0.Writers, v0.InFlight)
	fmt.Fprintf(w, "  spread rate:        %.2f\n", r.SpreadOps/r.BaselineOps)
	fmt.Fprintf(w, "  hot-account rate:   %.2f\n", r.HotOps/r.BaselineOps)
	fmt.Fprintf(w, "  reserve p99 spread: %.2fx baseline p99\n", float64(r.SpreadReserveP99)/float64(r.BaselineP99))
	fmt.Fprintf(w, "  reserve p99 hot:    %.2fx baseline p99\n", float64(r.HotReserveP99)/float64(r.BaselineP99))
	return r, nil
}

// benchHistory creates an account with n events, one a second from t0.
func benchHistory(ctx context.Context, pool *pgxpool.Pool, n int) (int64, time.Time, error) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var id int64
	err := pool.QueryRow(ctx, `INSERT INTO ledger_accounts (id, pool_id, kind, name)
SELECT n, n, 'individual', 'bench-history' FROM (SELECT nextval('ledger_accounts_id_seq') n) s RETURNING id`).Scan(&id)
	if err != nil {
		return 0, t0, err
	}
	_, err = pool.Exec(ctx, `
INSERT INTO ledger_events (pool_id, account_id, op_id, type, amount, balance_after, occurred_at, at)
SELECT $1, $1, g, (CASE WHEN g = 1 THEN 'purchase' ELSE 'deduction' END)::ledger_event_type,
       CASE WHEN g = 1 THEN $2::numeric ELSE -1 END, $2::numeric - (g - 1),
       $3::timestamptz + g * interval '1 second', $3::timestamptz + g * interval '1 second'
FROM generate_series(1, $2::int) g`, id, n, t0)
	if err != nil {
		return 0, t0, err
	}
	_, err = pool.Exec(ctx, `ANALYZE ledger_events`)
	return id, t0, err
}

// drive runs fn from workers goroutines for d and returns operations per
// second and the sorted latencies fn reported.
func drive(ctx context.Context, workers int, d time.Duration, fn func(context.Context, *rand.Rand) (time.Duration, int, error)) (float64, []time.Duration, error) {
	var (
		mu       sync.Mutex
		all      []time.Duration
		total    atomic.Int64
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			var lats []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				lat, n, err := fn(ctx, rng)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				lats = append(lats, lat)
				total.Add(int64(n))
			}
			mu.Lock()
			all = append(all, lats...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	return float64(total.Load()) / elapsed.Seconds(), all, firstErr
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	if i > 0 {
		i--
	}
	return sorted[i]
}

// benchBudgets measures reserve + commit on the spread accounts and the hot
// one with three nested hard-stop budgets over every call (the account's,
// project p's and key k's within it; caps never reached, so every call
// checks and counts all three) against the same calls without budgets.
// The budgets stay; only the pools' budgeted flag is switched between
// phases, so both see the same tables. Phases take turns (without, with,
// without, with) so that the machine's drift falls on both.
func benchBudgets(ctx context.Context, pool *pgxpool.Pool, l *Ledger, cfg BenchConfig, first, hot int64, r *BenchReport, w io.Writer) error {
	_, err := pool.Exec(ctx, `
SELECT ledger_budget_set(jsonb_build_object('account_id', a.id, 'project', s.p, 'key_label', s.k, 'period', 'month',
       'cap', '1000000000', 'unit', 'credits', 'amount', '1000000000', 'thresholds', '[50, 80, 100]'::jsonb,
       'hard_stop', true, 'actor', 'bench', 'now', now()))
FROM ledger_accounts a, (VALUES ('', ''), ('p', ''), ('p', 'k')) s(p, k)
WHERE a.id BETWEEN $1 AND $2`, first, hot)
	if err != nil {
		return err
	}
	setBudgeted := func(on bool) error {
		_, err := pool.Exec(ctx, `UPDATE ledger_accounts SET budgeted = $3 WHERE id BETWEEN $1 AND $2`, first, hot, on)
		return err
	}
	var seq atomic.Int64
	cycle := func(pick func(*rand.Rand) int64) func(context.Context, *rand.Rand) (time.Duration, int, error) {
		return func(ctx context.Context, rng *rand.Rand) (time.Duration, int, error) {
			start := time.Now()
			res, err := l.Reserve(ctx, ReserveRequest{AccountID: pick(rng), Amount: decimal.NewFromInt(1), TTL: time.Minute,
				IdempotencyKey: "bb" + strconv.FormatInt(seq.Add(1), 10), Model: "bench", Project: "p", Key: "k"})
			lat := time.Since(start)
			if err != nil {
				return lat, 0, err
			}
			_, err = l.Commit(ctx, CommitRequest{ReservationID: res.ID, Actual: decimal.New(8, -1)})
			return lat, 2, err
		}
	}
	spread := cycle(func(rng *rand.Rand) int64 { return first + int64(rng.IntN(cfg.Accounts)) })
	hotCycle := cycle(func(*rand.Rand) int64 { return hot })
	// Each comparison runs in ABBA order (without, with, with, without),
	// half the run's duration a phase: a drift that is linear over the run
	// (tables and indexes growing, a checkpoint) weighs on both sides alike.
	type phase struct {
		name    string
		budgets bool
		fn      func(context.Context, *rand.Rand) (time.Duration, int, error)
		sum     *float64
	}
	abba := func(name string, fn func(context.Context, *rand.Rand) (time.Duration, int, error), without, with *float64) []phase {
		a := phase{name + ", no budgets     ", false, fn, without}
		b := phase{name + ", 3 nested budgets", true, fn, with}
		return []phase{a, b, b, a}
	}
	phases := append(abba("spread", spread, &r.NoBudgetSpreadOps, &r.BudgetSpreadOps),
		abba("hot   ", hotCycle, &r.NoBudgetHotOps, &r.BudgetHotOps)...)
	fmt.Fprintf(w, "-- budgets: reserve (labelled project p, key k) + commit, with and without three nested budgets\n")
	for _, ph := range phases {
		if err := setBudgeted(ph.budgets); err != nil {
			return err
		}
		ops, lat, err := drive(ctx, cfg.Workers, cfg.Duration/2, ph.fn)
		if err != nil {
			return err
		}
		*ph.sum += ops
		fmt.Fprintf(w, "%s: %10.0f ops/s  reserve p50 %-9s p99 %s\n", ph.name, ops, pct(lat, 50).Round(time.Microsecond), pct(lat, 99).Round(time.Microsecond))
	}
	r.NoBudgetSpreadOps /= 2
	r.BudgetSpreadOps /= 2
	r.NoBudgetHotOps /= 2
	r.BudgetHotOps /= 2
	fmt.Fprintf(w, "budgets: with three nested budgets / without (target >= 0.90): spread %.2f, hot %.2f\n",
		r.BudgetSpreadOps/r.NoBudgetSpreadOps, r.BudgetHotOps/r.NoBudgetHotOps)
	return setBudgeted(true)
}
