package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// GracePolicy configures grace credit: when an account that has paid before
// reaches zero, it receives one lot of Amount expiring after Lifetime, at
// most one active at a time and none again until its next top-up.
type GracePolicy struct {
	Enabled  bool
	Amount   decimal.Decimal
	Lifetime time.Duration
}

// ExpiredReservationPolicy says what the sweep does with a reservation past
// its TTL.
type ExpiredReservationPolicy string

// Expired-reservation policies.
const (
	// ExpiredRelease gives the hold back (the default); a late commit then
	// charges from the available balance.
	ExpiredRelease ExpiredReservationPolicy = "release"
	// ExpiredCharge charges the whole hold; a late commit charges only what
	// exceeds it.
	ExpiredCharge ExpiredReservationPolicy = "charge"
)

// DefaultTrialCap is TRIAL_CREDIT_CAP's default (credits), and the cap
// migration 000205 gave the accounts it put in trial.
var DefaultTrialCap = decimal.NewFromInt(10000)

// Options configures a Ledger. The zero value is usable.
type Options struct {
	// Now is the ledger's clock (time.Now by default); tests move it.
	Now func() time.Time
	// Grace is the grace-credit policy (off by default).
	Grace GracePolicy
	// ExpiredReservations is the sweep's policy (ExpiredRelease by default).
	ExpiredReservations ExpiredReservationPolicy
	// DefaultTTL is a reservation's lifetime when the request gives none (5 minutes).
	DefaultTTL time.Duration
	// Writers is the number of in-process writers (one connection each) that
	// coalesce concurrent writes: all writes for one pool go through the same
	// writer, and one writer sends whatever is queued as one pipelined
	// transaction (one commit). Default 2: on two cores fewer, larger
	// transactions beat more, smaller ones (see BENCH.md).
	Writers int
	// MaxBatch caps the operations folded into one transaction (default 64).
	MaxBatch int
	// TrialCap puts every account this Ledger creates in trial with this
	// cap (TRIAL_CREDIT_CAP): until EndTrial (real-name verification), it
	// may spend granted credit only (promo, plan, grace), and what it is
	// charged plus what its open reservations hold may not pass the cap.
	// Zero creates accounts out of trial.
	TrialCap decimal.Decimal
	// CurrentTrialCap and CurrentGrace, when set, give TrialCap and Grace
	// in force at each account creation and each write (the settings
	// screen, internal/settings changes them while the process runs).
	CurrentTrialCap func() decimal.Decimal
	CurrentGrace    func() GracePolicy
	// CurrentEnforcement is the global enforcement mode in force
	// (EnforceAll by default; see Enforcement): an account's own mode, else
	// its enterprise's, else this one applies to its holds and charges.
	CurrentEnforcement func() Enforcement
	// InFlight is how many batches one writer may have in flight at once,
	// each on its own connection (default 1): with 2, a writer starts its
	// next batch while the previous one's COMMIT waits for the WAL flush.
	// A pool is never in two in-flight batches, so its operations still
	// run one after another, in the order they were queued. Measured on two
	// shared cores, 2 was slower than 1 (smaller batches, more commits; see
	// BENCH.md), hence the default.
	InFlight int
	// Reader, when set, lets the reads a page shows (Account, Balance,
	// Events, BalanceAt) be answered by the standby while no primary
	// answers (db.Reader.Latest); they are the primary's otherwise, and
	// every other read and every write always is.
	Reader *db.Reader
}

// latest is where a page's read of the latest state goes (Options.Reader).
func (l *Ledger) latest(ctx context.Context) db.Querier { return l.opts.Reader.Latest(ctx, l.pool) }

// Ledger is the credit ledger. It is safe for concurrent use; Close stops
// its writers.
type Ledger struct {
	pool    db.Querier
	opts    Options
	writers []*writer
	pools   sync.Map // account id -> pool id (immutable)
	resPool sync.Map // reservation id -> pool id
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	// written and transactions count the operations the writers applied
	// and the transactions they took (Stats).
	written, transactions atomic.Int64
	// shadow counts shadow refusals by code (ShadowCount).
	shadow sync.Map
}

// WriterStats counts the writers' work since New: Operations applied in
// Transactions transactions, so Operations/Transactions is how well
// concurrent writes coalesce (the mean batch).
type WriterStats struct {
	Operations, Transactions int64
}

// Stats answers the writers' counts so far.
func (l *Ledger) Stats() WriterStats {
	return WriterStats{Operations: l.written.Load(), Transactions: l.transactions.Load()}
}

// New returns a Ledger over pool and starts its writers.
func New(pool db.Querier, opts Options) *Ledger {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ExpiredReservations == "" {
		opts.ExpiredReservations = ExpiredRelease
	}
	if opts.DefaultTTL <= 0 {
		opts.DefaultTTL = 5 * time.Minute
	}
	if opts.Writers <= 0 {
		opts.Writers = 2
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 64
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 1
	}
	l := &Ledger{pool: pool, opts: opts, stop: make(chan struct{})}
	for range opts.Writers {
		w := &writer{l: l, jobs: make(chan *job, 1024)}
		l.writers = append(l.writers, w)
		l.wg.Add(1)
		go w.run()
	}
	return l
}

// Close stops the writers after the queued operations finish.
func (l *Ledger) Close() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *Ledger) now() time.Time { return l.opts.Now().UTC() }

// Now is the ledger's clock (Options.Now, UTC): a reader deciding whether a
// period is over in ledger time (a closed month's statement) asks it.
func (l *Ledger) Now() time.Time { return l.now() }

// grace is the grace policy in force (Options.CurrentGrace when set).
func (l *Ledger) grace() GracePolicy {
	if l.opts.CurrentGrace != nil {
		return l.opts.CurrentGrace()
	}
	return l.opts.Grace
}

// trialCap is the trial cap in force (Options.CurrentTrialCap when set).
func (l *Ledger) trialCap() decimal.Decimal {
	if l.opts.CurrentTrialCap != nil {
		return l.opts.CurrentTrialCap()
	}
	return l.opts.TrialCap
}

// payload is a request to one SQL function.
type payload map[string]any

// stamp adds the idempotency key, the hash of the arguments that define
// the operation (identity: every argument that changes what it does or
// what it records about the usage — account, amount, model, session,
// request, detail … — but not who asked or why, so a retry by another
// process replays), the clock and the grace policy.
func (l *Ledger) stamp(p payload, key string, identity ...any) payload {
	p["key"] = key
	b, _ := json.Marshal(identity)
	sum := sha256.Sum256(b)
	p["hash"] = hex.EncodeToString(sum[:16])
	p["now"] = l.now()
	if l.opts.CurrentEnforcement != nil {
		if m := l.opts.CurrentEnforcement(); m == EnforceShadow || m == EnforceOff {
			p["enforcement"] = string(m)
		}
	}
	if g := l.grace(); g.Enabled && g.Amount.IsPositive() {
		p["grace"] = map[string]any{
			"amount":           Round(g.Amount).String(),
			"lifetime_seconds": g.Lifetime.Seconds(),
		}
	}
	return p
}

// canonical is a JSON document in one spelling (keys sorted, no spaces),
// so that an idempotency hash does not depend on how a retry formats it.
func canonical(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if s, ok := canonicalFlat(raw); ok {
		return s
	}
	return canonicalSlow(raw)
}

// canonicalSlow is canonical through encoding/json, for any document.
func canonicalSlow(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // numbers keep their digits
	if err := d.Decode(&v); err != nil {
		return string(raw)
	}
	if m, ok := v.(map[string]any); ok {
		// The cost a charge records beside its price (internal/costs) is
		// derived from the other fields and the cost card in force: it
		// stays out of the identity, so a retry that meets another cost
		// card, or a release that began costing, replays the first charge
		// instead of conflicting. Details without these keys hash as before.
		delete(m, "cost_version")
		delete(m, "cost")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

var errorKey = []byte(`"error"`)

// decode turns a function's jsonb result into out, or its error code into
// a wrapped sentinel.
func decode(raw []byte, out any) error {
	if !bytes.Contains(raw, errorKey) {
		// No error key (a key can only appear unescaped): a result, so it
		// is parsed once rather than twice.
		if out == nil {
			return nil
		}
		return json.Unmarshal(raw, out)
	}
	var head struct {
		Error     string           `json:"error"`
		Available *decimal.Decimal `json:"available"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return err
	}
	if head.Error != "" {
		if head.Error == "budget_exceeded" {
			return budgetRefusal(raw)
		}
		s, ok := codeErrors[head.Error]
		if !ok {
			return fmt.Errorf("unknown ledger error %q", head.Error)
		}
		if head.Available != nil && (s == ErrInsufficientCredits || s == ErrAllocationExceeded || s == ErrRefundExceedsLot || s == ErrTrialCapReached ||
			s == ErrCreditLineInUse || s == ErrCreditRestoreExceeds) {
			return &ShortfallError{Err: s, Available: *head.Available}
		}
		return s
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// poolOf returns the pool (owning account) of an account, cached.
func (l *Ledger) poolOf(ctx context.Context, accountID int64) (int64, error) {
	if v, ok := l.pools.Load(accountID); ok {
		return v.(int64), nil
	}
	var pool int64
	err := l.latest(ctx).QueryRow(ctx, `SELECT pool_id FROM ledger_accounts WHERE id = $1`, accountID).Scan(&pool)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	l.pools.Store(accountID, pool)
	return pool, nil
}

// cachedPool returns the account's pool if it is known, else the account
// itself (presumed to be its own pool, the usual case) and false. The
// presumption only picks a writer and the lock order within a batch; the
// database's lock on the real pool keeps the operation correct.
func (l *Ledger) cachedPool(accountID int64) (int64, bool) {
	if v, ok := l.pools.Load(accountID); ok {
		return v.(int64), true
	}
	return accountID, false
}

// poolOfReservation returns the pool of a reservation.
func (l *Ledger) poolOfReservation(ctx context.Context, id int64) (int64, error) {
	if v, ok := l.resPool.Load(id); ok {
		return v.(int64), nil
	}
	var pool int64
	err := l.pool.QueryRow(ctx, `SELECT pool_id FROM ledger_reservations WHERE id = $1`, id).Scan(&pool)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return pool, err
}

// sqlExtension runs an extension operation on its own (see Apply).
const sqlExtension = `SELECT ledger_extension($1::text, $2::jsonb)`

// extensionName is what an extension operation may be called: a plain SQL
// function name, registered in ledger_extensions by the SQL defining it.
var extensionName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Apply runs another package's operation through the pool's writer: fn is
// a SQL function fn(jsonb) RETURNS jsonb registered in ledger_extensions,
// arg its JSON request, and the answer is its JSON result. It commits in a
// batch with the pool's ledger operations and others' (one transaction, one
// WAL flush for many calls) and in order with the pool's other operations;
// a failure of the batch as a whole reruns it on its own, as for the
// ledger's operations. fn must report refusals in its result, not raise:
// an exception fails the batch it is in. poolID must be the pool the
// operation locks rows of (a batch locks pools in ascending order).
func (l *Ledger) Apply(ctx context.Context, poolID int64, fn string, arg json.RawMessage) (json.RawMessage, error) {
	if !extensionName.MatchString(fn) {
		return nil, fmt.Errorf("%w: ledger extension %q", ErrInvalidArgument, fn)
	}
	if _, builtin := singleSQL[fn]; builtin {
		return nil, fmt.Errorf("%w: %q is a ledger operation", ErrInvalidArgument, fn)
	}
	return l.submit(ctx, &job{pool: poolID, op: fn, arg: arg, done: make(chan struct{})})
}

// exec runs one operation (ledger_<op> in SQL) through the pool's writer.
func (l *Ledger) exec(ctx context.Context, poolID int64, op string, p payload) ([]byte, error) {
	arg, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return l.submit(ctx, &job{pool: poolID, op: op, arg: arg, done: make(chan struct{})})
}

// submit queues j on its pool's writer and waits for its answer.
func (l *Ledger) submit(ctx context.Context, j *job) ([]byte, error) {
	if err := l.enqueue(ctx, j); err != nil {
		return nil, err
	}
	return l.await(ctx, j)
}

// enqueue queues j on its pool's writer.
func (l *Ledger) enqueue(ctx context.Context, j *job) error {
	w := l.writers[uint64(j.pool)%uint64(len(l.writers))]
	select {
	case w.jobs <- j:
		return nil
	case <-l.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// await waits for a queued job's answer.
func (l *Ledger) await(ctx context.Context, j *job) ([]byte, error) {
	select {
	case <-j.done:
		return j.raw, j.err
	case <-ctx.Done():
		// The operation may still complete; a retry with the same
		// idempotency key returns its result.
		return nil, ctx.Err()
	}
}

// execTx runs one SQL function call inside the caller's transaction.
func (l *Ledger) execTx(ctx context.Context, tx db.DBTX, sql string, p payload) ([]byte, error) {
	arg, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var raw []byte
	err = tx.QueryRow(ctx, sql, arg).Scan(&raw)
	return raw, err
}

type job struct {
	pool int64
	op   string
	arg  []byte
	raw  []byte
	err  error
	done chan struct{}
}

// writer folds queued operations into one pipelined transaction.
type writer struct {
	l    *Ledger
	jobs chan *job
	// fallbacks counts batches that failed as a whole and were rerun one
	// operation at a time.
	fallbacks atomic.Int64
	// observe, when set (tests), is told when a pipelined batch starts and ends.
	observe func(batch []*job, started bool)
}

func (w *writer) run() {
	defer w.l.wg.Done()
	if w.l.opts.InFlight > 1 {
		w.runPipelined(w.l.opts.InFlight)
		return
	}
	batch := make([]*job, 0, w.l.opts.MaxBatch)
	for {
		select {
		case <-w.l.stop:
			for {
				select {
				case j := <-w.jobs:
					w.flush([]*job{j})
				default:
					return
				}
			}
		case j := <-w.jobs:
			batch = w.gather(append(batch[:0], j))
			w.flush(batch)
		}
	}
}

// gatherYields bounds how often gather yields the processor while jobs
// keep arriving.
const gatherYields = 4

// gather adds the jobs already queued to batch, yielding the processor
// between rounds while more keep arriving. The clients a flush has just
// woken sit in this goroutine's run queue: without the yield the first of
// them to queue its next operation would start a batch of one while the
// rest wait a whole batch behind it.
func (w *writer) gather(batch []*job) []*job {
	for round := 0; ; round++ {
		n := len(batch)
	drain:
		for len(batch) < w.l.opts.MaxBatch {
			select {
			case j := <-w.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		if len(batch) >= w.l.opts.MaxBatch || round >= gatherYields || (round > 0 && len(batch) == n) {
			return batch
		}
		runtime.Gosched()
	}
}

// runPipelined keeps up to lanes batches in flight, each flushed on its own
// connection. A job whose pool is in a batch in flight waits in pending
// (behind any earlier job of its pool) until that batch is done, so one
// pool is never in two transactions at once and its jobs keep their order.
func (w *writer) runPipelined(lanes int) {
	var (
		pending []*job
		busy    = map[int64]bool{} // pools in a batch in flight
		free    = lanes
		done    = make(chan []*job, lanes)
		stop    = w.l.stop
		closing bool
	)
	finish := func(b []*job) {
		for _, j := range b {
			delete(busy, j.pool)
		}
		free++
	}
	for {
		// Start as many batches as there are free lanes and eligible jobs.
		for free > 0 && len(pending) > 0 {
			batch := make([]*job, 0, min(len(pending), w.l.opts.MaxBatch))
			rest := pending[:0]
			taken := map[int64]bool{}
			for _, j := range pending {
				if len(batch) < w.l.opts.MaxBatch && !busy[j.pool] {
					batch = append(batch, j)
					taken[j.pool] = true
					continue
				}
				rest = append(rest, j)
			}
			clear(pending[len(rest):])
			pending = rest
			if len(batch) == 0 {
				break
			}
			for p := range taken {
				busy[p] = true
			}
			free--
			if w.observe != nil {
				w.observe(batch, true)
			}
			go func() {
				w.flush(batch)
				if w.observe != nil {
					w.observe(batch, false)
				}
				done <- batch
			}()
		}
		if closing && len(pending) == 0 && free == lanes {
			return
		}
		select {
		case <-stop:
			closing, stop = true, nil
			// Whatever is queued is still run.
			for {
				select {
				case j := <-w.jobs:
					pending = append(pending, j)
					continue
				default:
				}
				break
			}
		case b := <-done:
			finish(b)
		case j := <-w.jobs:
			pending = append(pending, j)
		drain:
			for len(pending) < 4*w.l.opts.MaxBatch {
				select {
				case j := <-w.jobs:
					pending = append(pending, j)
				default:
					break drain
				}
			}
		}
	}
}

// sqlApply runs a whole batch in one statement (see ledger_apply).
const sqlApply = `SELECT ledger_apply($1::text[], $2::jsonb[], $3::bigint[])`

// flush runs the jobs as one statement, one transaction, one commit: a
// single call of ledger_apply. Pools are locked in ascending order so
// writers in several processes do not deadlock. Refusals are results, not
// errors; if the call fails (an exception in one operation), each job is
// retried on its own so one bad request cannot fail its neighbours.
func (w *writer) flush(jobs []*job) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slices.SortStableFunc(jobs, func(a, b *job) int {
		switch {
		case a.pool < b.pool:
			return -1
		case a.pool > b.pool:
			return 1
		}
		return 0
	})
	w.l.written.Add(int64(len(jobs)))
	if len(jobs) == 1 {
		w.l.transactions.Add(1)
		w.single(ctx, jobs[0])
		return
	}
	ops := make([]string, len(jobs))
	args := make([]string, len(jobs))
	pools := make([]int64, len(jobs))
	for i, j := range jobs {
		ops[i], args[i], pools[i] = j.op, string(j.arg), j.pool
	}
	var out [][]byte
	err := w.l.pool.QueryRow(ctx, sqlApply, ops, args, pools).Scan(&out)
	if err == nil && len(out) != len(jobs) {
		err = fmt.Errorf("ledger_apply returned %d results for %d operations", len(out), len(jobs))
	}
	if err != nil {
		w.fallbacks.Add(1)
		w.l.transactions.Add(int64(len(jobs)) + 1) // the failed one and one per operation
		for _, j := range jobs {
			w.single(ctx, j)
		}
		return
	}
	w.l.transactions.Add(1)
	for i, j := range jobs {
		j.raw = out[i]
		close(j.done)
	}
}

func (w *writer) single(ctx context.Context, j *job) {
	for attempt := 0; ; attempt++ {
		if sql, ok := singleSQL[j.op]; ok {
			j.err = w.l.pool.QueryRow(ctx, sql, j.arg).Scan(&j.raw)
		} else {
			j.err = w.l.pool.QueryRow(ctx, sqlExtension, j.op, j.arg).Scan(&j.raw)
			if j.err == nil && j.raw == nil {
				j.err = fmt.Errorf("%w: %q is not a registered ledger extension", ErrInvalidArgument, j.op)
			}
		}
		if !db.IsRetryable(j.err) || attempt == 4 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	close(j.done)
}
