package db

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
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

// Querier is what a domain service is given and what Latest answers: a
// DBTX that also begins transactions (every *pgxpool.Pool is one, and so
// is Reader.Failover).
type Querier interface {
	DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
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
// in a request pinned by Pin or PinFailover, where it is the primary but
// the standby should the primary not answer and the standby stand in for
// it; in a request already sent to the standby for want of a primary, the
// standby. Safe on a nil Reader (pool, always).
func (r *Reader) Latest(ctx context.Context, pool Querier) Querier {
	if !r.Replicated() {
		return pool
	}
	p, pinned := ctx.Value(pinKey{}).(pin)
	switch {
	case !pinned:
		return pool
	case p.outage:
		r.standIns.Add(1)
		return r.standbyFirst()
	default:
		return r.primaryFirst(p.lsn)
	}
}

// Failover is the primary's pool as the domain services are given it:
// every query runs on the primary, except in a request pinned by Pin or
// PinFailover (a page), whose queries are Latest's — a read that finds no
// primary runs again on the standby when it can stand in, and a
// transaction that cannot begin on the primary begins on the standby,
// read-only, so a write in it is refused there, never run. Exec, SendBatch
// and CopyFrom only ever go to the primary. Without a standby it is the
// primary's pool itself.
func (r *Reader) Failover() Querier {
	if !r.Replicated() {
		return r.primary
	}
	return failoverPool{r}
}

// failoverPool is Failover's answer: Latest, decided query by query.
type failoverPool struct{ r *Reader }

func (f failoverPool) on(ctx context.Context) Querier { return f.r.Latest(ctx, f.r.primary) }

func (f failoverPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return f.on(ctx).Exec(ctx, sql, args...)
}

func (f failoverPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return f.on(ctx).Query(ctx, sql, args...)
}

func (f failoverPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return f.on(ctx).QueryRow(ctx, sql, args...)
}

func (f failoverPool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return f.on(ctx).SendBatch(ctx, b)
}

func (f failoverPool) CopyFrom(ctx context.Context, t pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return f.on(ctx).CopyFrom(ctx, t, cols, src)
}

func (f failoverPool) Begin(ctx context.Context) (pgx.Tx, error) {
	return f.on(ctx).BeginTx(ctx, pgx.TxOptions{})
}

func (f failoverPool) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	return f.on(ctx).BeginTx(ctx, opts)
}

// ReadPage runs read, the reads of a page pinned by Pin or PinFailover
// (ctx), and when it fails for want of the primary (NoPrimary) and again
// says it may run once more (nothing of the answer written yet), runs it
// again with the request sent to the standby, if the standby can stand in
// for the customer's last write. A read that loses the primary before its
// first row already runs again on the standby query by query (firstRows);
// this catches one that loses it later, halfway through its rows, and any
// other read of the page that failed the same way. Outside a pinned
// request, or one already on the standby for want of a primary, read runs
// once.
func (r *Reader) ReadPage(ctx context.Context, read func(context.Context) error, again func() bool) error {
	err := read(ctx)
	if err == nil || !r.Replicated() || !NoPrimary(err) || ctx.Err() != nil || !again() {
		return err
	}
	p, pinned := ctx.Value(pinKey{}).(pin)
	if !pinned || p.outage || !r.canStandIn(p.lsn, r.opts.MaxLag) {
		return err
	}
	r.standIns.Add(1)
	p.standby, p.outage = true, true
	return read(context.WithValue(ctx, pinKey{}, p))
}

// ReadTx runs fn in a read-only transaction with opts on q; when q is
// Latest's primary and the transaction fails for want of the primary, fn
// runs again on the standby if it can stand in. fn must only read.
func ReadTx(ctx context.Context, q Querier, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	opts.AccessMode = pgx.ReadOnly
	err := pgx.BeginTxFunc(ctx, q, opts, fn)
	if d, ok := q.(twoServers); ok && d.first == d.r.primary && d.again(ctx, err) {
		return pgx.BeginTxFunc(ctx, d.second, d.txOptions(d.second, opts), fn)
	}
	return err
}

// primaryFirst is the primary as a DBTX whose reads run again on the
// standby when the primary does not answer and the standby can stand in
// (for the customer's last write, lsn).
func (r *Reader) primaryFirst(lsn LSN) twoServers {
	return twoServers{r: r, first: r.primary, second: r.standby, again: func(ctx context.Context, err error) bool {
		if !Unavailable(ctx, err) || !r.canStandIn(lsn, r.opts.MaxLag) {
			return false
		}
		r.standIns.Add(1)
		return true
	}}
}

// standbyFirst is the standby as a DBTX whose reads run again on the
// primary when the standby is not there to answer (which is then marked
// down until the next good probe).
func (r *Reader) standbyFirst() twoServers {
	return twoServers{r: r, first: r.standby, second: r.primary, again: func(ctx context.Context, err error) bool {
		if !standbyUnavailable(ctx, err) {
			return false
		}
		r.down(err)
		return true
	}}
}

// twoServers reads on first and, when a read fails there for want of the
// server (again, which also notes it), runs it again on second. Writes
// (Exec, SendBatch, CopyFrom) only ever go to the primary, and a
// transaction on the standby is read-only whatever was asked.
type twoServers struct {
	r             *Reader
	first, second *pgxpool.Pool
	again         func(context.Context, error) bool
}

func (d twoServers) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return d.r.primary.Exec(ctx, sql, args...)
}

func (d twoServers) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return d.r.primary.SendBatch(ctx, b)
}

func (d twoServers) CopyFrom(ctx context.Context, t pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return d.r.primary.CopyFrom(ctx, t, cols, src)
}

func (d twoServers) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rerun := func() (pgx.Rows, error) { return d.second.Query(ctx, sql, args...) }
	rows, err := d.first.Query(ctx, sql, args...)
	if err == nil {
		return &firstRows{Rows: rows, ctx: ctx, again: d.again, rerun: rerun}, nil
	}
	if d.again(ctx, err) {
		return rerun()
	}
	return rows, err
}

func (d twoServers) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return rerunRow{ctx: ctx, d: d, sql: sql, args: args}
}

func (d twoServers) Begin(ctx context.Context) (pgx.Tx, error) {
	return d.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx begins on first, or on second should first not answer.
func (d twoServers) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	tx, err := d.first.BeginTx(ctx, d.txOptions(d.first, opts))
	if err != nil && d.again(ctx, err) {
		return d.second.BeginTx(ctx, d.txOptions(d.second, opts))
	}
	return tx, err
}

// txOptions are opts as p takes them: on the standby a transaction is
// read-only (a write in it is refused, never run) and at most repeatable
// read (a hot standby refuses serializable; its snapshot of what it
// replayed is consistent all the same).
func (d twoServers) txOptions(p *pgxpool.Pool, opts pgx.TxOptions) pgx.TxOptions {
	if p != d.r.standby {
		return opts
	}
	opts.AccessMode = pgx.ReadOnly
	if opts.IsoLevel == pgx.Serializable {
		opts.IsoLevel = pgx.RepeatableRead
	}
	opts.DeferrableMode = ""
	return opts
}

// rerunRow runs its query on first when scanned, and on second should
// first not answer.
type rerunRow struct {
	ctx  context.Context
	d    twoServers
	sql  string
	args []any
}

func (r rerunRow) Scan(dest ...any) error {
	err := r.d.first.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	if err != nil && r.d.again(r.ctx, err) {
		return r.d.second.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	return err
}

// firstRows are rows whose query runs again elsewhere (rerun) when the
// server fails before the first row: pgx reports a connection lost while
// the query was sent, or before its answer, from the first Next, not from
// Query. A failure after rows were read is the caller's, as before.
type firstRows struct {
	pgx.Rows
	ctx     context.Context
	again   func(context.Context, error) bool
	rerun   func() (pgx.Rows, error)
	started bool
	err     error
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
	if err == nil || !f.again(f.ctx, err) {
		return false
	}
	f.Rows.Close()
	rows, err := f.rerun()
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

// NotApplied reports an error NoPrimary reports that leaves no doubt the
// statement did not take effect: no connection could be made, nothing was
// sent, or a standby refused the write. Any other (a connection lost
// mid-statement, a shutdown cutting a commit waiting for its standby) may
// follow a commit whose answer was lost.
func NotApplied(err error) bool {
	if neverReached(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "25006" || pgErr.Code == "57P03") // read only; cannot connect now
}

// ErrNoPrimary names, in the web server's error table, the errors
// NoPrimary reports: no primary could take the request (a failover under
// way), so the same request may succeed once one answers.
var ErrNoPrimary = errors.New("db: no primary answers")

// NoPrimary reports an error that says no primary could take the
// statement: no connection could be made (pgx's multi-host URL refuses the
// standby as well, it is read-only), a connection was lost, the server is
// shutting down or starting up, or a standby standing in refused a write
// (read-only transaction). Unlike Unavailable it is false for every other
// error, so the web server answers "try again" (503) only for these. A
// connection attempt that timed out (a primary host gone, its SYNs
// unanswered) is one whatever deadline ended it; the caller's context
// ending otherwise is not.
func NoPrimary(err error) bool {
	if err == nil {
		return false
	}
	if neverReached(err) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "25006", "57P01", "57P02", "57P03": // read only; admin, crash shutdown; cannot connect now
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// neverReached reports an error of a connection attempt: pgconn's
// ConnectError, or a dial error, whatever it wraps — a connect_timeout
// or the caller's deadline ending the dial to a host that does not answer
// is a context.DeadlineExceeded too, yet no server took the statement.
func neverReached(err error) bool {
	var connErr *pgconn.ConnectError
	var opErr *net.OpError
	return errors.As(err, &connErr) || (errors.As(err, &opErr) && opErr.Op == "dial")
}
