package settings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
)

// DefaultCacheTTL is how long a process trusts its copy of the settings
// before reading them again (a change made by this process applies at once).
const DefaultCacheTTL = 5 * time.Second

// Options configure a Store.
type Options struct {
	// Now stamps changes (time.Now by default).
	Now func() time.Time
	// CacheTTL is DefaultCacheTTL when zero.
	CacheTTL time.Duration
	// Logger receives failed background reloads (discarded by default).
	Logger *slog.Logger
	// Apply, when set, is called in the transaction of each key a change
	// writes, with the new values, so a setting another domain keeps in
	// its own tables (the ledger's recharge tiers) changes with it.
	Apply func(ctx context.Context, tx pgx.Tx, k Key, next Values, actor backoffice.Actor) error
}

// Change is one stored change of a key: a business_settings row.
type Change struct {
	ID             int64           `db:"id"`
	Key            Key             `db:"key"`
	Value          json.RawMessage `db:"value"`
	PreviousID     *int64          `db:"previous_id"`
	ChangedBy      int64           `db:"changed_by"`
	ChangedByEmail string          `db:"changed_by_email"`
	ChangedAt      time.Time       `db:"changed_at"`
	Reason         string          `db:"reason"`
}

// Values decodes the change onto base (k's field replaced).
func (c Change) Values(base Values) (Values, error) {
	err := base.decode(c.Key, c.Value)
	return base, err
}

// State is every key's effective value and, for a key that was changed,
// its newest change (absent: the environment's value is in force).
type State struct {
	Values  Values
	Changed map[Key]Change
}

// snapshot is the cached State and when it was read.
type snapshot struct {
	state State
	at    time.Time
	// newest is the highest history row id the state was read with: a
	// load that read the table before another's commit never replaces the
	// state read after it.
	newest int64
}

// Store reads and changes the business settings. It is safe for concurrent
// use.
type Store struct {
	pool       db.Querier
	defaults   Values
	opts       Options
	cur        atomic.Pointer[snapshot]
	refreshing atomic.Bool
}

// New returns the store over pool with the environment's values as
// defaults. Call Load before serving so the first reads see stored changes.
func New(pool db.Querier, defaults Values, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, defaults: defaults, opts: opts}
	s.cur.Store(&snapshot{state: State{Values: defaults, Changed: map[Key]Change{}}, at: time.Now()})
	return s
}

// Defaults are the environment's values.
func (s *Store) Defaults() Values { return s.defaults }

const sqlCurrent = `
SELECT DISTINCT ON (key) id, key, value, previous_id, changed_by, changed_by_email, changed_at, reason
FROM business_settings ORDER BY key, id DESC`

// Load reads the effective values from the database into the cache and
// returns them. Errors: database errors (a stored value that no longer
// decodes is skipped: its key keeps the default).
func (s *Store) Load(ctx context.Context) (State, error) {
	rows, _ := s.pool.Query(ctx, sqlCurrent)
	changes, err := pgx.CollectRows(rows, pgx.RowToStructByName[Change])
	if err != nil {
		return State{}, fmt.Errorf("settings: load: %w", err)
	}
	st := State{Values: s.defaults, Changed: map[Key]Change{}}
	next := &snapshot{state: st, at: time.Now()}
	for _, c := range changes {
		next.newest = max(next.newest, c.ID)
		v, err := c.Values(st.Values)
		if err != nil {
			s.opts.Logger.Warn("settings: stored value skipped", "key", c.Key, "id", c.ID, "error", err.Error())
			continue
		}
		st.Values = v
		st.Changed[c.Key] = c
	}
	next.state = st
	for {
		cur := s.cur.Load()
		if cur != nil && cur.newest > next.newest {
			return cur.state, nil // a newer load got there first
		}
		if s.cur.CompareAndSwap(cur, next) {
			return st, nil
		}
	}
}

// Current is the effective values from the cache. When the copy is older
// than the cache lifetime one background reload starts; the caller never
// waits for the database.
func (s *Store) Current() Values {
	snap := s.cur.Load()
	if time.Since(snap.at) > s.opts.CacheTTL && s.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer s.refreshing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := s.Load(ctx); err != nil {
				s.opts.Logger.Warn("settings: reload", "error", err.Error())
			}
		}()
	}
	return snap.state.Values
}

// Reload reads the settings again now (another process changed them:
// invalidate.Settings); a failure is logged and the copy in hand kept,
// to be read again when it is older than the cache lifetime.
func (s *Store) Reload(ctx context.Context) {
	if _, err := s.Load(ctx); err != nil {
		s.opts.Logger.Warn("settings: reload", "error", err.Error())
	}
}

const sqlHistory = `
SELECT id, key, value, previous_id, changed_by, changed_by_email, changed_at, reason
FROM business_settings WHERE key = $1 ORDER BY id DESC LIMIT $2`

// History is key's changes, newest first, at most limit. Errors: database
// errors.
func (s *Store) History(ctx context.Context, key Key, limit int) ([]Change, error) {
	rows, _ := s.pool.Query(ctx, sqlHistory, string(key), limit)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Change])
	if err != nil {
		return nil, fmt.Errorf("settings: history: %w", err)
	}
	return out, nil
}

const (
	sqlLockKey = `SELECT pg_advisory_xact_lock(hashtextextended('business_settings:' || $1, 0))`
	sqlLatest  = `SELECT id, value FROM business_settings WHERE key = $1 ORDER BY id DESC LIMIT 1`
	sqlInsert  = `
INSERT INTO business_settings (key, value, previous_id, changed_by, changed_by_email, changed_at, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`
)

// Change applies an admin's form for group g: it parses every field of in
// (field name → text as typed; SeenField entries, when present, say which
// change of each key the admin saw) and, for each key of the group whose
// value differs from the one in force, appends a history row and an audit
// row (action setting_changed, with the old and new value) in one
// transaction. Changes to one key are serialized, so concurrent ones form
// one line of history and the last to commit is in force; a key changed
// since the form was shown is refused instead of overwritten (CodeStale).
// It returns the keys changed and reloads the cache. Errors:
// backoffice.ErrForbidden (not an admin), *fielderr.Errors (every failed
// field at once, a missing reason, nothing changed, a stale form; matches
// fielderr.ErrInvalid), database errors.
func (s *Store) Change(ctx context.Context, g Group, in map[string]string, reason string, actor backoffice.Actor) ([]Key, error) {
	if !auth.HasAnyRole(actor.User, auth.RoleAdmin) {
		return nil, backoffice.ErrForbidden
	}
	// Validate against what is stored now, not the cache.
	st, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	next, perr := Parse(g, in, st.Values)
	errs := fielderr.New("settings")
	if perr != nil && !errs.Merge(perr) {
		return nil, perr
	}
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		errs.Add(FieldReason, CodeRequired)
	case len([]rune(reason)) > MaxReasonText:
		errs.Add(FieldReason, CodeTooLong, "max", strconv.Itoa(MaxReasonText))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var changed []Key
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		changed = changed[:0]
		for _, k := range g.Keys() { // always in this order: no deadlock between groups
			c, err := s.changeKey(ctx, tx, k, next, in, reason, actor)
			if err != nil {
				return err
			}
			if c {
				changed = append(changed, k)
				if s.opts.Apply != nil {
					if err := s.opts.Apply(ctx, tx, k, next, actor); err != nil {
						return err
					}
				}
			}
		}
		if len(changed) == 0 {
			return nil
		}
		// Every other process reads the settings again when this commits.
		return invalidate.Publish(ctx, tx, invalidate.Settings, "")
	})
	if err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return nil, fielderr.One("settings", FieldForm, CodeUnchanged)
	}
	if _, err := s.Load(ctx); err != nil {
		// The change is committed; the next Current reloads.
		cur := s.cur.Load()
		s.cur.CompareAndSwap(cur, &snapshot{state: cur.state, newest: cur.newest})
	}
	return changed, nil
}

// changeKey writes k's value in next when it differs from the one in
// force, under k's lock; it reports whether it wrote.
func (s *Store) changeKey(ctx context.Context, tx pgx.Tx, k Key, next Values, in map[string]string, reason string,
	actor backoffice.Actor) (bool, error) {
	if _, err := tx.Exec(ctx, sqlLockKey, string(k)); err != nil {
		return false, fmt.Errorf("settings: lock %s: %w", k, err)
	}
	old := s.defaults
	var prev *int64
	var id int64
	var raw []byte
	switch err := tx.QueryRow(ctx, sqlLatest, string(k)).Scan(&id, &raw); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return false, fmt.Errorf("settings: read %s: %w", k, err)
	default:
		prev = &id
		if err := old.decode(k, raw); err != nil {
			old = s.defaults
		}
	}
	oldJSON, err := old.encode(k)
	if err != nil {
		return false, err
	}
	newJSON, err := next.encode(k)
	if err != nil {
		return false, err
	}
	if bytes.Equal(oldJSON, newJSON) {
		return false, nil
	}
	if seen, ok := in[SeenField(k)]; ok && seen != strconv.FormatInt(id, 10) {
		return false, fielderr.One("settings", FieldForm, CodeStale)
	}
	var newID int64
	if err := tx.QueryRow(ctx, sqlInsert, string(k), newJSON, prev, actor.User.ID, actor.User.Email, s.opts.Now().UTC(), reason).
		Scan(&newID); err != nil {
		return false, fmt.Errorf("settings: change %s: %w", k, err)
	}
	e := backoffice.Entry{ActorKind: backoffice.ActorStaff, ActorID: actor.User.ID, ActorEmail: actor.User.Email, IP: actor.IP,
		Action: backoffice.ActionSettingChanged, Reason: reason,
		Detail: map[string]any{"key": k, "id": newID, "previous_id": prev, "old": json.RawMessage(oldJSON), "new": json.RawMessage(newJSON),
			"from_default": prev == nil}}
	if _, err := backoffice.Audit(ctx, tx, e); err != nil {
		return false, err
	}
	return true, nil
}
