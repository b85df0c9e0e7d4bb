package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
	"github.com/seed75218f88/credits/internal/usage"
	pv "github.com/seed75218f88/credits/views/portal"
)

// DefaultViewCache is how long the portal keeps what it read for a page
// (balances, usage totals, the first page of charges) before reading it
// again, even when nothing was recorded in between.
const DefaultViewCache = 5 * time.Second

// viewCacheSize bounds each view cache; a full cache drops what expired,
// then everything.
const viewCacheSize = 20_000

// viewCache keeps values computed from one pool's ledger, each tagged with
// the pool's head (its newest event id, usage.Store.Head) when it was read;
// the usage caches use usage.Store.Version instead, which also follows the
// free models' calls that the ledger does not record.
// The ledger is append-only and a pool's committed events are a prefix of
// its ids, so a value read after the head was h is current for as long as
// the head is still h: a get with any other head misses. Entries also expire
// (until), which bounds memory and covers what depends on the clock (a lot
// that expires without an event yet). Keys always hold the signed-in
// account's own id or scope, never a parameter alone, so one account's
// entries cannot answer another's request.
type viewCache[K comparable, V any] struct {
	mu     sync.Mutex
	ttl    time.Duration
	m      map[K]viewEntry[V]
	flight singleflight.Group
}

type viewEntry[V any] struct {
	v     V
	head  int64
	until time.Time
}

// newViewCache returns a cache keeping values for ttl; ttl <= 0 keeps nothing.
func newViewCache[K comparable, V any](ttl time.Duration) *viewCache[K, V] {
	return &viewCache[K, V]{ttl: ttl, m: map[K]viewEntry[V]{}}
}

// get returns the value stored for k at head, if it has not expired.
func (c *viewCache[K, V]) get(k K, head int64) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || e.head != head || !time.Now().Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// load returns the value for k at head, computing it with fn on a miss.
// Concurrent misses of one key and head share one computation (which
// finishes even if the request that started it goes away), so that many
// sessions asking at once after the pool moved cost one set of queries.
// fn also returns until (see put).
func (c *viewCache[K, V]) load(ctx context.Context, k K, head int64, fn func(context.Context) (V, time.Time, error)) (V, error) {
	if c.ttl <= 0 { // caching off: every request reads for itself
		v, _, err := fn(ctx)
		return v, err
	}
	if v, ok := c.get(k, head); ok {
		return v, nil
	}
	r, err, _ := c.flight.Do(fmt.Sprintf("%v/%d", k, head), func() (any, error) {
		v, until, err := fn(context.WithoutCancel(ctx))
		if err != nil {
			return v, err
		}
		c.put(k, head, v, until)
		return v, nil
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return r.(V), nil
}

// put stores v, read when the pool's head was head, until the cache's ttl
// or until (when earlier and not zero). An older head never replaces a
// newer one.
func (c *viewCache[K, V]) put(k K, head int64, v V, until time.Time) {
	if c.ttl <= 0 {
		return
	}
	now := time.Now()
	if limit := now.Add(c.ttl); until.IsZero() || until.After(limit) {
		until = limit
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && e.head > head && now.Before(e.until) {
		return
	}
	if len(c.m) >= viewCacheSize {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= viewCacheSize {
			clear(c.m)
		}
	}
	c.m[k] = viewEntry[V]{v: v, head: head, until: until}
}

// overviewData is what the overview reads from the ledger.
type overviewData struct {
	balance ledger.Balance
	events  []ledger.Event
	runway  usage.Runway
}

// usageKey is one usage filter of one scope.
type usageKey struct {
	scope          usage.Scope
	from, to       int64 // Unix seconds
	model, session string
}

func keyOf(q usageQuery) usageKey {
	return usageKey{scope: q.scope, from: q.filter.From.Unix(), to: q.filter.To.Unix(), model: q.filter.Model, session: q.filter.SessionID}
}

// portalViews are the portal's view caches.
type portalViews struct {
	overview  *viewCache[int64, overviewData]     // by account id
	summaries *viewCache[usageKey, usage.Summary] // totals and chart
	models    *viewCache[usage.Scope, []string]   // the model filter's options
	firstRows *viewCache[usageKey, pv.UsageRows]  // the first page of charges
	rowsHTML  *viewCache[rowsKey, string]         // ... rendered, by language
}

// rowsKey is a usage filter's first page of charges in one language.
type rowsKey struct {
	usageKey
	lang string
}

func newPortalViews(ttl time.Duration) *portalViews {
	return &portalViews{
		overview:  newViewCache[int64, overviewData](ttl),
		summaries: newViewCache[usageKey, usage.Summary](ttl),
		models:    newViewCache[usage.Scope, []string](ttl),
		firstRows: newViewCache[usageKey, pv.UsageRows](ttl),
		rowsHTML:  newViewCache[rowsKey, string](ttl),
	}
}

// Session cache settings: how long a session read from PostgreSQL is used
// without asking again, how far the idle-timeout expiry may move before it
// is written again, and how long a deleted token stays refused.
const (
	sessionTrust   = 2 * time.Second
	sessionSlack   = time.Minute
	sessionRevoked = 10 * time.Minute
	sessionMax     = 100_000
	// sessionRetry is how often a sign-out's delete that found no primary
	// (a failover) is tried again, and how long Redis is not asked after
	// it did not answer.
	sessionRetry = time.Second
	// sessionRedisWait bounds a session's check for a sign-out recorded
	// in Redis.
	sessionRedisWait = 250 * time.Millisecond
)

// SessionCache is an scs.Store in front of another (PostgreSQL) that spares
// most requests their two round trips for the session: scs finds the
// session on every request and, because the portal uses an idle timeout,
// writes it back on every request only to move its expiry.
//
//   - Find answers from memory for sessionTrust after the store (or this
//     process) last confirmed the session, then asks the store again.
//   - Commit skips the write when the data is unchanged and the new expiry
//     is less than sessionSlack after the one this process last wrote (the
//     24-hour idle timeout becomes exact to a minute).
//   - Delete (sign-out, and the token renewal at sign-in) deletes from the
//     store and remembers the token as revoked: it is refused at once in
//     this process and never written back, even by a request that loaded it
//     just before the sign-out and commits after it (which plain scs over
//     pgxstore would, its commit being an upsert).
//
// So a sign-out takes effect immediately in the process that handled it,
// and, once Share is called, in every other process as soon as it hears
// the sign-out (invalidate.Session); a DELETE run by hand, or a word lost,
// is obeyed within sessionTrust. Entries are kept by the token's SHA-256,
// which is also what the word names.
//
// Once StandIn is called, a session is read from the standby while no
// primary answers (a failover), and an unchanged session's write (only its
// idle expiry moving) that finds no primary is skipped rather than failing
// the page. A sign-out then cannot commit: with the hub's Redis relay it is
// announced there at once (every process refuses the token) and its delete
// is tried again every sessionRetry until a primary takes it.
//
// The sign-out is also recorded in Redis (invalidate.Hub.Revoke, by the
// token's SHA-256, for the session's remaining lifetime), for what the
// word cannot reach: every session read from the database (past
// sessionTrust) is checked there, one round trip, so a process that was
// not subscribed when the word went out (started or reconnected since)
// refuses the token too, and a process that finds the row of a revoked
// session while a primary answers deletes it — the delete does not depend
// on the process that handled the sign-out living until a primary returns.
// A Redis that does not answer is logged and the session accepted, as
// before: it never refuses every session.
type SessionCache struct {
	store    scs.Store
	mu       sync.Mutex
	m        map[[32]byte]sessionEntry
	publish  func(key string) error
	announce func(key string) error
	revoke   func(key string, ttl time.Duration) error
	revoked  func(key string) (bool, error)
	lifetime time.Duration // the sessions' absolute lifetime (scs's Lifetime)
	logger   *slog.Logger
	reader   *db.Reader
	// pending are the tokens whose delete waits for a primary; while
	// retrying, a goroutine retries them (retryDeletes) unless stopped.
	pending  map[string]bool
	retrying bool
	stopped  bool
	// redisDown: the last revocation check failed; checks resume at
	// redisRetry.
	redisDown  bool
	redisRetry time.Time
}

type sessionEntry struct {
	b       []byte
	expiry  time.Time // the expiry this process last wrote; zero: unknown
	checked time.Time // when the store last confirmed the session
	revoked bool      // deleted; checked is when
	// rowGone: a revoked session known to be gone from the store (this
	// process deleted it); a revoked one heard of may still have its row.
	rowGone bool
}

// NewSessionCache puts the cache in front of store.
func NewSessionCache(store scs.Store) *SessionCache {
	return &SessionCache{store: store, m: map[[32]byte]sessionEntry{}, logger: slog.New(slog.DiscardHandler)}
}

// Share makes sign-outs reach every process: Delete publishes
// invalidate.Session on q (or, when no primary can take it, records and
// announces it on the hub's Redis relay, for at most lifetime, the
// sessions' absolute lifetime), and what hub hears on it revokes the token
// here (an empty key: every session is asked of the store again). Redis
// that does not answer is said in logger.
func (s *SessionCache) Share(q db.DBTX, hub *invalidate.Hub, lifetime time.Duration, logger *slog.Logger) {
	s.lifetime = lifetime
	if logger != nil {
		s.logger = logger
	}
	s.publish = func(key string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return invalidate.Publish(ctx, q, invalidate.Session, key)
	}
	s.announce = func(key string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return hub.Announce(ctx, invalidate.Session, key)
	}
	s.revoke = func(key string, ttl time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return hub.Revoke(ctx, invalidate.Session, key, ttl)
	}
	s.revoked = func(key string) (bool, error) {
		// Every session read from the database waits for it: a Redis
		// that does not answer costs little, once (then redisRetry).
		ctx, cancel := context.WithTimeout(context.Background(), sessionRedisWait)
		defer cancel()
		return hub.Revoked(ctx, invalidate.Session, key)
	}
	hub.On(invalidate.Session, s.revokeKey)
}

// Stop ends the retries of deletes waiting for a primary (a server
// shutting down): the sign-outs' Redis records leave them to the other
// processes.
func (s *SessionCache) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
}

// StandIn lets Find read sessions from r's standby while no primary
// answers, when the standby lagged at most sessionTrust when the primary
// last answered: a sign-out committed before the primary was lost is then
// on the standby within the bound a lost word already has (sessionTrust),
// and with synchronous replication at once. A sign-out cannot commit while
// no primary answers: it fails, as every write does, and is refused only
// in the process that handled it.
func (s *SessionCache) StandIn(r *db.Reader) { s.reader = r }

// find reads the session from the store, or from the standby while no
// primary answers (StandIn); primary says it was the store.
func (s *SessionCache) find(token string) (b []byte, found, primary bool, err error) {
	ctx := context.Background()
	if s.reader.StandingIn() {
		if p, ok := s.reader.StandIn(ctx, errNoPrimary, sessionTrust); ok {
			b, found, err = pgxstore.NewWithCleanupInterval(p, 0).Find(token)
			return b, found, false, err
		}
	}
	b, found, err = s.store.Find(token)
	if err != nil && s.reader != nil {
		if p, ok := s.reader.StandIn(ctx, err, sessionTrust); ok {
			b, found, err = pgxstore.NewWithCleanupInterval(p, 0).Find(token)
			return b, found, false, err
		}
	}
	return b, found, err == nil, err
}

// revokedInRedis reports whether the sign-out of the session whose
// SHA-256 is the hex key was recorded in Redis (Share). When Redis does
// not answer it is false, said once in the log, and not asked again for
// sessionRetry: the session is accepted as it was before the record.
func (s *SessionCache) revokedInRedis(key string) bool {
	if s.revoked == nil {
		return false
	}
	s.mu.Lock()
	wait := time.Now().Before(s.redisRetry)
	s.mu.Unlock()
	if wait {
		return false
	}
	revoked, err := s.revoked(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.redisRetry = time.Now().Add(sessionRetry)
		if !s.redisDown {
			s.redisDown = true
			s.logger.Warn("session: Redis does not answer: sessions are not checked for sign-outs recorded there (during a failover)", "error", err.Error())
		}
		return false
	}
	if s.redisDown {
		s.redisDown = false
		s.logger.Info("session: Redis answers again: sessions are checked for sign-outs recorded there")
	}
	return revoked
}

// deleteRevoked deletes the row of a revoked session this process has not
// seen gone, when a primary may take it: the process that handled the
// sign-out may have stopped before one answered.
func (s *SessionCache) deleteRevoked(token string, key [32]byte) {
	if s.reader.StandingIn() {
		return
	}
	if err := s.store.Delete(token); err != nil {
		if !db.NoPrimary(err) {
			s.logger.Warn("session: deleting a revoked session failed", "error", err.Error())
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && e.revoked {
		e.rowGone = true
		s.m[key] = e
	}
}

// remaining is how long a revocation of the session e (if known) must be
// kept: until its deadline, at most the sessions' lifetime.
func (s *SessionCache) remaining(e sessionEntry, known bool, now time.Time) time.Duration {
	ttl := s.lifetime
	if known && !e.revoked {
		if deadline, _, err := (scs.GobCodec{}).Decode(e.b); err == nil {
			ttl = min(ttl, deadline.Sub(now))
		}
	}
	return max(ttl, time.Minute)
}

// errNoPrimary is what StandIn is told when the probe already found the
// primary gone.
var errNoPrimary = errors.New("web: no primary answers")

// revokeKey refuses the token whose SHA-256 is the hex key from now on.
func (s *SessionCache) revokeKey(key string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == "" {
		for k, e := range s.m {
			if !e.revoked {
				delete(s.m, k)
			}
		}
		return
	}
	var k [32]byte
	if b, err := hex.DecodeString(key); err == nil && len(b) == len(k) {
		copy(k[:], b)
		s.remember(k, sessionEntry{revoked: true, checked: now}, now)
	}
}

// Find returns the session data of token (see SessionCache).
func (s *SessionCache) Find(token string) ([]byte, bool, error) {
	now := time.Now()
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	e, ok := s.m[key]
	s.mu.Unlock()
	if ok && e.revoked && now.Sub(e.checked) < sessionRevoked {
		if !e.rowGone {
			s.deleteRevoked(token, key)
		}
		return nil, false, nil
	}
	if ok && !e.revoked && now.Sub(e.checked) < sessionTrust && (e.expiry.IsZero() || now.Before(e.expiry)) {
		return e.b, true, nil
	}
	b, found, primary, err := s.find(token)
	if err != nil {
		return nil, false, err
	}
	if found && s.revokedInRedis(hex.EncodeToString(key[:])) {
		// Signed out during a failover, and this process missed the word.
		s.mu.Lock()
		s.remember(key, sessionEntry{revoked: true, checked: now}, now)
		s.mu.Unlock()
		if primary {
			s.deleteRevoked(token, key)
		}
		return nil, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.m[key]; ok && cur.revoked && now.Sub(cur.checked) < sessionRevoked {
		return nil, false, nil // deleted while we asked
	}
	if !found {
		delete(s.m, key)
		return nil, false, nil
	}
	ne := sessionEntry{b: b, checked: now}
	if ok && !e.revoked && bytes.Equal(e.b, b) {
		ne.expiry = e.expiry
	}
	s.remember(key, ne, now)
	return b, true, nil
}

// Commit saves the session data (see SessionCache).
func (s *SessionCache) Commit(token string, b []byte, expiry time.Time) error {
	now := time.Now()
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	e, ok := s.m[key]
	s.mu.Unlock()
	if ok && e.revoked && now.Sub(e.checked) < sessionRevoked {
		return nil
	}
	if ok && !e.revoked && !e.expiry.IsZero() && sameSession(e.b, b) && expiry.Sub(e.expiry) < sessionSlack {
		return nil
	}
	if ok && !e.revoked && s.reader.StandingIn() && sameSession(e.b, b) {
		return nil // no primary (a failover): only the idle expiry would move
	}
	if err := s.store.Commit(token, b, expiry); err != nil {
		if ok && !e.revoked && sameSession(e.b, b) && (db.Unavailable(context.Background(), err) || db.NoPrimary(err)) {
			// No primary (a failover): the session is as stored, only its
			// idle expiry does not move this time.
			return nil
		}
		if !ok && db.NoPrimary(err) && !signedIn(b) {
			// No primary (a failover) for a new session of nobody (the
			// one a sign-out leaves): it holds nothing to keep, and the
			// next request starts another.
			return nil
		}
		s.forget(key)
		return err
	}
	s.mu.Lock()
	cur, ok := s.m[key]
	revoked := ok && cur.revoked && now.Sub(cur.checked) < sessionRevoked
	if !revoked {
		s.remember(key, sessionEntry{b: bytes.Clone(b), expiry: expiry, checked: now}, now)
	}
	s.mu.Unlock()
	if revoked {
		// Signed out while we wrote: our write may have landed after the
		// sign-out's delete, so delete again.
		return s.store.Delete(token)
	}
	return nil
}

// Delete removes the session and refuses its token from now on, here and
// (see Share) in every other process. Without a primary (a failover) it
// records and announces the sign-out on the Redis relay and deletes the
// session once a primary answers; when Redis takes neither (or without a
// relay) it fails, the token refused here only.
func (s *SessionCache) Delete(token string) error {
	now := time.Now()
	key := sha256.Sum256([]byte(token))
	hexKey := hex.EncodeToString(key[:])
	s.mu.Lock()
	prev, known := s.m[key]
	s.remember(key, sessionEntry{revoked: true, checked: now}, now)
	s.mu.Unlock()
	err := s.store.Delete(token)
	if err == nil {
		s.mu.Lock()
		if e, ok := s.m[key]; ok && e.revoked {
			e.rowGone = true
			s.m[key] = e
		}
		s.mu.Unlock()
		if s.publish != nil {
			return s.publish(hexKey)
		}
		return nil
	}
	if s.announce == nil || !db.NoPrimary(err) {
		return err
	}
	recorded := s.revoke(hexKey, s.remaining(prev, known, now))
	if recorded != nil && !errors.Is(recorded, invalidate.ErrNoRelay) {
		s.logger.Warn("session: a sign-out during a failover could not be recorded in Redis: processes that miss its word accept the session until its delete", "error", recorded.Error())
	}
	if s.announce(hexKey) != nil && recorded != nil {
		return err
	}
	s.deleteLater(token)
	return nil
}

// deleteLater queues token's delete until a primary takes it
// (retryDeletes).
func (s *SessionCache) deleteLater(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[string]bool{}
	}
	s.pending[token] = true
	if !s.retrying {
		s.retrying = true
		go s.retryDeletes()
	}
}

// retryDeletes tries the queued deletes every sessionRetry, each until it
// and its word (invalidate.Session, for the processes that missed the
// relay's) commit or fail for another reason than a missing primary, and
// ends when none is left.
func (s *SessionCache) retryDeletes() {
	for {
		time.Sleep(sessionRetry)
		s.mu.Lock()
		if s.stopped {
			clear(s.pending)
			s.retrying = false
			s.mu.Unlock()
			return
		}
		tokens := slices.Collect(maps.Keys(s.pending))
		s.mu.Unlock()
		for _, token := range tokens {
			err := s.store.Delete(token)
			if err == nil && s.publish != nil {
				err = s.publish(invalidate.SessionKey(token))
			}
			if err != nil && db.NoPrimary(err) {
				continue
			}
			s.mu.Lock()
			delete(s.pending, token)
			s.mu.Unlock()
		}
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.retrying = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// sameSession reports whether two encodings of a session hold the same
// deadline and values. scs's gob codec writes a map's entries in Go's
// random map order, so a session of several values encodes differently
// from one commit to the next: equal bytes are enough, not necessary.
func sameSession(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var codec scs.GobCodec
	ta, va, err := codec.Decode(a)
	if err != nil {
		return false
	}
	tb, vb, err := codec.Decode(b)
	return err == nil && ta.Equal(tb) && reflect.DeepEqual(va, vb)
}

// signedIn reports whether the encoded session b has a signed-in user.
func signedIn(b []byte) bool {
	_, values, err := scs.GobCodec{}.Decode(b)
	_, user := values[sessionUserKey]
	return err != nil || user
}

func (s *SessionCache) forget(key [32]byte) {
	s.mu.Lock()
	if e, ok := s.m[key]; ok && !e.revoked {
		delete(s.m, key)
	}
	s.mu.Unlock()
}

// remember stores e; s.mu is held.
func (s *SessionCache) remember(key [32]byte, e sessionEntry, now time.Time) {
	if _, ok := s.m[key]; !ok && len(s.m) >= sessionMax {
		for k, old := range s.m {
			if (old.revoked && now.Sub(old.checked) >= sessionRevoked) || (!old.revoked && now.Sub(old.checked) >= sessionTrust) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= sessionMax {
			for k, old := range s.m {
				if !old.revoked {
					delete(s.m, k)
				}
			}
		}
	}
	s.m[key] = e
}

// overviewData reads the account's balance and latest events, or reuses
// them while the pool's head is unchanged (and no lot has expired since).
func (s *Server) overviewData(c echo.Context, cu customer) (overviewData, error) {
	ctx := c.Request().Context()
	head, err := s.portal.usage.Head(ctx, cu.Account.PoolID)
	if err != nil {
		return overviewData{}, err
	}
	return s.portal.views.overview.load(ctx, cu.Account.ID, head, func(ctx context.Context) (overviewData, time.Time, error) {
		var d overviewData
		var err error
		if d.balance, err = s.portal.ledger.Balance(ctx, cu.Account.ID); err != nil {
			return overviewData{}, time.Time{}, err
		}
		if d.events, _, err = s.portal.ledger.Events(ctx, cu.Account.ID, ledger.EventFilter{}, 0, 5); err != nil {
			return overviewData{}, time.Time{}, err
		}
		now := time.Now()
		// How long the owned balance lasts (the overview's balance), or
		// the line once the account spends on it (ledger.Balance.RunwayCredit).
		if d.runway, err = s.portal.usage.Runway(ctx, cu.scope(), d.balance.RunwayCredit(), now); err != nil {
			return overviewData{}, time.Time{}, err
		}
		// The forecast's week moves on at midnight, and the first lot
		// expiry changes the balance: both without an event.
		until := usage.Day(now).AddDate(0, 0, 1)
		for _, l := range d.balance.Lots {
			if l.ExpiresAt != nil && l.ExpiresAt.Before(until) {
				until = *l.ExpiresAt
			}
		}
		return d, until, nil
	})
}
