package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Reads through a primary failover.
//
// When the primary goes away, the standby is promoted only once the leader
// key expires (about ten seconds with Patroni's ttl: 10), and until then no
// server accepts writes. The standby still answers reads, and with
// synchronous replication it has every commit the primary acknowledged. So
// a page (a request the web server pinned, see Pin) does not fail then: a
// read that finds no primary — the connection refused or lost, the server
// shutting down — runs again on the standby, if the standby can stand in:
// it answered the last probe, is still in recovery, lagged at most MaxLag
// when the primary last answered, and has replayed the customer's own last
// write (read-your-writes, as for stale reads). Once a probe has found the
// primary gone, Pin sends the request's reads straight to the standby,
// sparing each read a connection attempt. Writes are never rerouted: they
// fail, and the client resends them once a primary answers again.

// Querier is what Latest answers: a DBTX that also begins transactions
// (every *pgxpool.Pool is one).
type Querier interface {
	DBTX
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// outageFresh reports whether st is recent enough to act on while the
// primary does not answer: a probe then waits up to Probe+1 s for it before
// asking the standby, so one lasts longer than Probe (on a loaded machine,
// about that long every time), and two in a row must not leave the state
// stale.
func (r *Reader) outageFresh(st *standbyState) bool {
	return st != nil && time.Since(st.at) < 2*(r.opts.Probe+time.Second)+r.opts.Probe
}

// primaryDown reports whether the last probe, recent enough, could not
// reach the primary.
func (r *Reader) primaryDown() bool {
	st := r.state.Load()
	return r.outageFresh(st) && st.primaryDown
}

// canStandIn reports whether the standby may answer for a primary that
// does not: the last probe, recent enough, found it answering and in
// recovery, past lsn, and it lagged at most maxLag when the primary last
// answered.
func (r *Reader) canStandIn(lsn LSN, maxLag time.Duration) bool {
	st := r.state.Load()
	if !r.outageFresh(st) || !st.standby || st.replay < lsn {
		return false
	}
	lag := time.Duration(r.lastLag.Load())
	return lag >= 0 && lag <= maxLag
}

// StandingIn reports whether the primary is unreachable and the standby
// can answer reads in its place (a failover under way): the instance can
// still serve pages, so its readiness check passes.
func (r *Reader) StandingIn() bool {
	return r.Replicated() && r.primaryDown() && r.canStandIn(0, r.opts.MaxLag)
}

// CanStandIn reports whether the standby could answer reads for a primary
// that does not (see canStandIn): the readiness check asks it once its own
// ping of the primary has failed, before the probe may have noticed.
func (r *Reader) CanStandIn() bool {
	return r.Replicated() && r.canStandIn(0, r.opts.MaxLag)
}

// StandIn answers the standby's pool for a read that failed on the primary
// with err, when err says the primary could not be reached (Unavailable)
// and the standby can stand in for it with at most maxLag (see
// canStandIn), and false otherwise. It is for stores that cannot take a
// DBTX (the session store): everything else uses Latest or For.
func (r *Reader) StandIn(ctx context.Context, err error, maxLag time.Duration) (*pgxpool.Pool, bool) {
	if !r.Replicated() || !Unavailable(ctx, err) || !r.canStandIn(0, maxLag) {
		return nil, false
	}
	r.standIns.Add(1)
	return r.standby, true
}

// Latest is where a read that must see the primary's latest state (a
// balance, a user, a session, the customer's account) goes: pool, except
// in a request pinned by Pin, where it is the primary's pool but the
// standby should the primary not answer and the standby stand in for it;
// in a request Pin already sent to the standby for want of a primary,
// the standby. Safe on a nil Reader (pool, always).
func (r *Reader) Latest(ctx context.Context, pool *pgxpool.Pool) Querier {
	if !r.Replicated() {
		return pool
	}
	p, pinned := ctx.Value(pinKey{}).(pin)
	switch {
	case !pinned:
		return pool
	case p.outage:
		r.standIns.Add(1)
		return standbyDB{r}
	default:
		return failoverDB{r: r, lsn: p.lsn}
	}
}

// ReadTx runs fn in a read-only transaction with opts on q; when q is
// Latest's primary and the transaction fails for want of the primary, fn
// runs again on the standby if it can stand in. fn must only read.
func ReadTx(ctx context.Context, q Querier, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	opts.AccessMode = pgx.ReadOnly
	err := pgx.BeginTxFunc(ctx, q, opts, fn)
	if f, ok := q.(failoverDB); ok && Unavailable(ctx, err) && f.r.canStandIn(f.lsn, f.r.opts.MaxLag) {
		f.r.standIns.Add(1)
		return pgx.BeginTxFunc(ctx, f.r.standby, opts, fn)
	}
	return err
}

// failoverDB is the primary as a DBTX whose reads run again on the standby
// when the primary does not answer and the standby can stand in (for the
// customer's last write, lsn). Writes only ever go to the primary.
type failoverDB struct {
	r   *Reader
	lsn LSN
}

// standIn reports whether a read that failed with err on the primary runs
// again on the standby.
func (f failoverDB) standIn(ctx context.Context, err error) bool {
	if !Unavailable(ctx, err) || !f.r.canStandIn(f.lsn, f.r.opts.MaxLag) {
		return false
	}
	f.r.standIns.Add(1)
	return true
}

func (f failoverDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return f.r.primary.Exec(ctx, sql, args...)
}

func (f failoverDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	again := func() (pgx.Rows, error) { return f.r.standby.Query(ctx, sql, args...) }
	rows, err := f.r.primary.Query(ctx, sql, args...)
	if err == nil {
		return &firstRows{Rows: rows, ctx: ctx, unavailable: f.standIn, again: again}, nil
	}
	if f.standIn(ctx, err) {
		return again()
	}
	return rows, err
}

func (f failoverDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return failoverRow{ctx: ctx, f: f, sql: sql, args: args}
}

func (f failoverDB) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return f.r.primary.SendBatch(ctx, b)
}

func (f failoverDB) CopyFrom(ctx context.Context, t pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return f.r.primary.CopyFrom(ctx, t, cols, src)
}

// BeginTx begins on the primary, or on the standby (read-only transactions
// only) should the primary not answer.
func (f failoverDB) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	tx, err := f.r.primary.BeginTx(ctx, opts)
	if opts.AccessMode == pgx.ReadOnly && f.standIn(ctx, err) {
		return f.r.standby.BeginTx(ctx, opts)
	}
	return tx, err
}

// failoverRow runs its query on the primary when scanned, and on the
// standby should the primary not answer.
type failoverRow struct {
	ctx  context.Context
	f    failoverDB
	sql  string
	args []any
}

func (r failoverRow) Scan(dest ...any) error {
	err := r.f.r.primary.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	if r.f.standIn(r.ctx, err) {
		return r.f.r.standby.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	return err
}

// firstRows are rows whose query runs again elsewhere (again) when the
// server fails before the first row: pgx reports a connection lost while
// the query was sent, or before its answer, from the first Next, not from
// Query. A failure after rows were read is the caller's, as before.
type firstRows struct {
	pgx.Rows
	ctx         context.Context
	unavailable func(context.Context, error) bool
	down        func(error) // noted when the query runs again (optional)
	again       func() (pgx.Rows, error)
	started     bool
	err         error
}

func (f *firstRows) Next() bool {
	if f.started || f.err != nil {
		return f.err == nil && f.Rows.Next()
	}
	f.started = true
	if f.Rows.Next() {
		return true
	}
	err := f.Rows.Err()
	if !f.unavailable(f.ctx, err) {
		return false
	}
	f.Rows.Close()
	if f.down != nil {
		f.down(err)
	}
	rows, err := f.again()
	if err != nil {
		f.err = err
		return false
	}
	f.Rows = rows
	return rows.Next()
}

func (f *firstRows) Err() error {
	if f.err != nil {
		return f.err
	}
	return f.Rows.Err()
}
