package db

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Reader routes the reads that may be a little stale — portal pages,
// reports, CSV exports — to a streaming standby (DATABASE_REPLICA_URL), and
// every other read to the primary. A read goes to the standby only when the
// request opted in (Pin, which the web server calls for such pages), the
// standby answered its last probe, it lags the primary by at most MaxLag,
// and it has replayed the customer's own last write (the LSN Pin is given:
// read-your-writes). A standby read that fails for want of the standby is
// run on the primary instead. Without a standby every read is the
// primary's, as before.
//
// Writes, and reads that feed a decision (a balance checked before a
// reserve), never go through a Reader: they use the primary pool.
//
// While no primary answers (a failover, see failover.go) a pinned request
// reads the standby, when it can stand in for the primary: the reads it
// pinned (For) and those that are otherwise always the primary's (Latest:
// sessions, users, balances) alike.
type Reader struct {
	primary *pgxpool.Pool
	standby *pgxpool.Pool
	opts    ReaderOptions

	state  atomic.Pointer[standbyState]
	mu     sync.Mutex
	recent []lsnAt // the primary's LSN at each probe, oldest first

	standbyReads, primaryReads, fallbacks, standIns atomic.Int64
	// lastLag is the standby's lag (nanoseconds) at the last probe that
	// reached both servers; -1 before the first.
	lastLag atomic.Int64
}

// ReaderOptions tune a Reader; the zero value is right for production.
type ReaderOptions struct {
	// MaxLag is how far behind the primary the standby may be and still
	// serve reads (DefaultMaxLag).
	MaxLag time.Duration
	// Probe is how often the standby's replay position and the primary's
	// LSN are read (DefaultProbe).
	Probe time.Duration
	// Logger receives the standby's ups and downs (discarded by default).
	Logger *slog.Logger
}

// Defaults of ReaderOptions.
const (
	DefaultMaxLag = 5 * time.Second
	DefaultProbe  = 200 * time.Millisecond
)

// LSN is a WAL position as a byte offset (pg_lsn - '0/0').
type LSN int64

// standbyState is what the last probe found.
type standbyState struct {
	ok     bool // answered, in recovery, within MaxLag
	replay LSN  // pg_last_wal_replay_lsn()
	lag    time.Duration
	at     time.Time
	// primaryDown: the primary could not be reached (Unavailable); the
	// standby was then still probed. standby: it answered and is in
	// recovery. lag is then the lag found when the primary last answered
	// (-1: never).
	primaryDown bool
	standby     bool
}

type lsnAt struct {
	lsn LSN
	at  time.Time
}

// NewReader returns a Reader over primary and standby (nil: no standby,
// every read on the primary). Call Run to start probing the standby.
func NewReader(primary, standby *pgxpool.Pool, opts ReaderOptions) *Reader {
	if opts.MaxLag <= 0 {
		opts.MaxLag = DefaultMaxLag
	}
	if opts.Probe <= 0 {
		opts.Probe = DefaultProbe
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{primary: primary, standby: standby, opts: opts}
	r.lastLag.Store(-1)
	return r
}

// OpenStandby makes the standby's pool without waiting for it to answer:
// a standby that is down at start is only not used until it answers.
// Errors: a URL that does not parse (named DATABASE_REPLICA_URL).
func OpenStandby(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("DATABASE_REPLICA_URL is not a valid PostgreSQL URL (" + redactParseError(err) + ")")
	}
	// A standby that went away must not hold a page for long.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 2*time.Second {
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Replicated reports whether there is a standby to read from at all.
func (r *Reader) Replicated() bool { return r != nil && r.standby != nil }

// Primary is the primary's pool.
func (r *Reader) Primary() *pgxpool.Pool { return r.primary }

type pinKey struct{}

// pin is what Pin decided for a request.
type pin struct {
	standby bool // its reads go to the standby
	outage  bool // because no primary answers: Latest goes there too
	lsn     LSN  // the customer's last write
}

// Pin marks ctx as a staleness-tolerant read and decides, once for the
// whole request (so all its reads see one server), where its reads go:
// the standby if it is healthy and has replayed minLSN (the customer's last
// write; 0 for none), else the primary. While no primary answers, the
// standby if it can stand in for it (StandIn), and every read of the
// request then goes there, Latest's too.
func (r *Reader) Pin(ctx context.Context, minLSN LSN) context.Context {
	if !r.Replicated() {
		return ctx
	}
	p := pin{lsn: minLSN}
	switch {
	case r.usable(minLSN):
		p.standby = true
	case r.primaryDown() && r.canStandIn(minLSN, r.opts.MaxLag):
		p.standby, p.outage = true, true
	}
	return context.WithValue(ctx, pinKey{}, p)
}

// PinFailover marks ctx as a page whose reads stay on the primary (no
// stale reads) but may stand in on the standby while no primary answers,
// as Pin's do: the back office's pages. minLSN is the user's last write.
func (r *Reader) PinFailover(ctx context.Context, minLSN LSN) context.Context {
	if !r.Replicated() {
		return ctx
	}
	p := pin{lsn: minLSN}
	if r.primaryDown() && r.canStandIn(minLSN, r.opts.MaxLag) {
		p.standby, p.outage = true, true
	}
	return context.WithValue(ctx, pinKey{}, p)
}

// fresh reports whether st is recent enough to act on.
func (r *Reader) fresh(st *standbyState) bool {
	return st != nil && time.Since(st.at) < 3*r.opts.Probe+time.Second
}

// usable reports whether the last probe, recent enough, found the standby
// healthy and past lsn.
func (r *Reader) usable(lsn LSN) bool {
	st := r.state.Load()
	return r.fresh(st) && st.ok && st.replay >= lsn
}

// For is where the reads of ctx go: the standby when ctx was pinned to it,
// else the primary (and, should the primary not answer, the standby if it
// can stand in: see failover.go). Safe on a nil Reader (the primary is then
// unknown: callers keep their pool, see Or).
func (r *Reader) For(ctx context.Context) DBTX {
	p, pinned := ctx.Value(pinKey{}).(pin)
	if pinned && p.standby && r.Replicated() {
		r.standbyReads.Add(1)
		return r.standbyFirst()
	}
	r.primaryReads.Add(1)
	if pinned && r.Replicated() {
		return r.primaryFirst(p.lsn)
	}
	return r.primary
}

// Or is For, or pool when r is nil (a store built without a Reader).
func (r *Reader) Or(ctx context.Context, pool DBTX) DBTX {
	if r == nil {
		return pool
	}
	return r.For(ctx)
}

// ReaderStats counts where reads went.
type ReaderStats struct {
	// StandbyReads and PrimaryReads count For's answers; Fallbacks the
	// standby reads that failed for want of the standby and ran on the
	// primary; StandIns the reads the standby answered because the
	// primary could not (failover.go).
	StandbyReads, PrimaryReads, Fallbacks, StandIns int64
	// Lag is the standby's lag at the last probe; Healthy whether it was
	// usable then.
	Lag     time.Duration
	Healthy bool
}

// Stats are the counts so far and the last probe's findings.
func (r *Reader) Stats() ReaderStats {
	s := ReaderStats{StandbyReads: r.standbyReads.Load(), PrimaryReads: r.primaryReads.Load(), Fallbacks: r.fallbacks.Load(),
		StandIns: r.standIns.Load()}
	if st := r.state.Load(); st != nil {
		s.Lag, s.Healthy = st.lag, st.ok
	}
	return s
}

const currentLSN = `SELECT (pg_current_wal_lsn() - '0/0')::bigint`

// PrimaryLSN is the primary's current WAL position: called after a
// customer's write has committed, it is at or past that write, so a
// standby that has replayed it has the write.
func (r *Reader) PrimaryLSN(ctx context.Context) (LSN, error) {
	var lsn LSN
	err := r.primary.QueryRow(ctx, currentLSN).Scan(&lsn)
	return lsn, err
}

// Run probes the standby every Probe until ctx ends (nothing to do
// without one).
func (r *Reader) Run(ctx context.Context) {
	if !r.Replicated() {
		return
	}
	tick := time.NewTicker(r.opts.Probe)
	defer tick.Stop()
	for {
		r.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

const replayLSN = `SELECT pg_is_in_recovery(), (coalesce(pg_last_wal_replay_lsn(), '0/0') - '0/0')::bigint`

// probe reads the primary's LSN, then the standby's replay position: the
// standby's lag is the age of the newest primary LSN it has replayed (an
// idle primary's LSN does not move, so a caught-up standby lags 0).
func (r *Reader) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, r.opts.Probe+time.Second)
	defer cancel()
	now := time.Now()
	var primary LSN
	if err := r.primary.QueryRow(pctx, currentLSN).Scan(&primary); err != nil {
		// Without the primary's LSN no lag is known: the standby serves
		// no stale reads, but may stand in for a primary that is gone —
		// unreachable, or not answering within the probe's time (while
		// a failover's connection attempts pile up, they can take that
		// long on a loaded machine).
		down := ctx.Err() == nil && (Unavailable(pctx, err) || pctx.Err() != nil)
		st := &standbyState{at: now, lag: time.Duration(r.lastLag.Load()), primaryDown: down}
		if down {
			sctx, cancel := context.WithTimeout(ctx, r.opts.Probe+time.Second)
			var inRecovery bool
			if r.standby.QueryRow(sctx, replayLSN).Scan(&inRecovery, &st.replay) == nil {
				st.standby = inRecovery
			}
			cancel()
			st.at = time.Now() // what the standby said is as old as its answer
		}
		r.set(st)
		return
	}
	r.mu.Lock()
	r.recent = append(r.recent, lsnAt{lsn: primary, at: now})
	keep := now.Add(-r.opts.MaxLag - 2*r.opts.Probe)
	i := 0
	for i < len(r.recent)-1 && r.recent[i].at.Before(keep) {
		i++
	}
	r.recent = r.recent[i:]
	samples := append([]lsnAt(nil), r.recent...)
	r.mu.Unlock()

	var inRecovery bool
	var replay LSN
	if err := r.standby.QueryRow(pctx, replayLSN).Scan(&inRecovery, &replay); err != nil {
		r.set(&standbyState{at: now, lag: -1})
		return
	}
	st := &standbyState{replay: replay, at: now, lag: -1, standby: inRecovery}
	for j := len(samples) - 1; j >= 0; j-- {
		if samples[j].lsn <= replay {
			st.lag = now.Sub(samples[j].at)
			break
		}
	}
	if st.lag < 0 { // behind every sample we keep
		st.lag = now.Sub(samples[0].at) + r.opts.Probe
	}
	// A server out of recovery was promoted: its positions are of another
	// timeline, and HAProxy's replica port will point elsewhere soon.
	st.ok = inRecovery && st.lag <= r.opts.MaxLag
	r.lastLag.Store(int64(st.lag))
	r.set(st)
}

func (r *Reader) set(st *standbyState) {
	old := r.state.Swap(st)
	if old != nil && old.primaryDown != st.primaryDown {
		if st.primaryDown {
			r.opts.Logger.Warn("db: the primary is unreachable: pages read from the standby while it can stand in", "standby", st.standby)
		} else {
			r.opts.Logger.Info("db: the primary answers again")
		}
	}
	if old == nil || old.ok != st.ok {
		if st.ok {
			r.opts.Logger.Info("db: reading from the standby", "lag", st.lag.String())
		} else {
			r.opts.Logger.Warn("db: the standby is down or lagging: reading from the primary", "lag", st.lag.String())
		}
	}
}

// down marks the standby unusable until the next probe finds it well.
func (r *Reader) down(err error) {
	r.fallbacks.Add(1)
	r.set(&standbyState{at: time.Now(), lag: -1})
	r.opts.Logger.Warn("db: a standby read failed: read from the primary", "error", err.Error())
}

// Unavailable reports an error that says nothing about the query and
// everything about the server: no connection, a connection lost, a server
// shutting down or out of resources, a connection attempt that timed out.
// It is false for a cancelled or expired ctx and for no rows.
func Unavailable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if neverReached(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return !errors.Is(err, pgx.ErrNoRows) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch pgErr.Code[:2] {
	case "08", "57", "53", "58":
		return true
	}
	return false
}

// standbyUnavailable is Unavailable, or a query cancelled by replay
// (conflict with recovery).
func standbyUnavailable(ctx context.Context, err error) bool {
	if Unavailable(ctx, err) {
		return true
	}
	var pgErr *pgconn.PgError
	return err != nil && ctx.Err() == nil && errors.As(err, &pgErr) && pgErr.Code == "40001"
}
