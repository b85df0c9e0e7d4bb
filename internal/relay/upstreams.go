package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/readahead"
)

// Upstream is an OpenAI-compatible provider the gateway forwards to, as
// staff see it: never its secret, only whether it has one.
type Upstream struct {
	ID        int64
	Name      string
	BaseURL   string
	HasSecret bool
	// Models maps a public model name to the upstream's own.
	Models    map[string]string
	Weight    int
	Priority  int
	Timeout   time.Duration
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PublicModels are the upstream's public model names, sorted.
func (u Upstream) PublicModels() []string {
	out := make([]string, 0, len(u.Models))
	for m := range u.Models {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// MappingText is the model mapping as the form shows it: one "public" or
// "public=upstream" per line.
func (u Upstream) MappingText() string {
	var b strings.Builder
	for _, m := range u.PublicModels() {
		b.WriteString(m)
		if u.Models[m] != m {
			b.WriteString("=" + u.Models[m])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// UpstreamForm is the back office's upstream form as typed. An empty
// Secret on a change keeps the stored one.
type UpstreamForm struct {
	Name      string
	BaseURL   string
	Secret    string
	Models    string // lines "public" or "public=upstream"
	Weight    string
	Priority  string
	TimeoutMS string
	Enabled   bool
}

// FormOf is the form showing u (its secret left empty).
func FormOf(u Upstream) UpstreamForm {
	return UpstreamForm{Name: u.Name, BaseURL: u.BaseURL, Models: u.MappingText(), Weight: strconv.Itoa(u.Weight),
		Priority: strconv.Itoa(u.Priority), TimeoutMS: strconv.FormatInt(u.Timeout.Milliseconds(), 10), Enabled: u.Enabled}
}

// upstreamRow is the stored row.
type upstreamRow struct {
	ID        int64             `db:"id"`
	Name      string            `db:"name"`
	BaseURL   string            `db:"base_url"`
	Sealed    []byte            `db:"secret_sealed"`
	Models    map[string]string `db:"models"`
	Weight    int               `db:"weight"`
	Priority  int               `db:"priority"`
	TimeoutMS int               `db:"timeout_ms"`
	Enabled   bool              `db:"enabled"`
	CreatedAt time.Time         `db:"created_at"`
	UpdatedAt time.Time         `db:"updated_at"`
}

func (r upstreamRow) upstream() Upstream {
	return Upstream{ID: r.ID, Name: r.Name, BaseURL: r.BaseURL, HasSecret: len(r.Sealed) > 0, Models: r.Models,
		Weight: r.Weight, Priority: r.Priority, Timeout: time.Duration(r.TimeoutMS) * time.Millisecond, Enabled: r.Enabled,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// Upstreams stores the upstreams (admins change them, audited) and gives
// the gateway the enabled ones with their opened secrets, cached for
// Options.UpstreamTTL and read again in the background past half of it
// (enabled), each with its circuit breaker.
type Upstreams struct {
	pool   db.Querier
	sealer *piicrypto.Sealer
	opts   Options

	mu       sync.Mutex
	live     []*liveUpstream
	loadedAt time.Time // when the read of live began; zero: no list to serve
	// version counts this process's changes (invalidate): a read begun
	// before one neither stores its list nor is joined by a call after it.
	version  uint64
	breakers map[int64]*breakerEntry
	process  string // this process, in relay_breaker_states
	// reads shares one read of the list (by version) among the calls
	// waiting for it and the read ahead; ahead starts that one.
	reads singleflight.Group
	ahead readahead.Group
}

// liveUpstream is an enabled upstream as the gateway calls it.
type liveUpstream struct {
	Upstream
	secret  string
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
}

type breakerEntry struct {
	updated time.Time
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// NewUpstreams returns the store; secrets are sealed with sealer (the PII
// keys) and bound to the upstream's name.
func NewUpstreams(pool db.Querier, sealer *piicrypto.Sealer, opts Options) *Upstreams {
	opts.defaults()
	return &Upstreams{pool: pool, sealer: sealer, opts: opts, breakers: map[int64]*breakerEntry{}, process: processName()}
}

const upstreamColumns = `id, name, base_url, secret_sealed, models, weight, priority, timeout_ms, enabled, created_at, updated_at`

// List returns every upstream, by priority then name. Errors: database errors.
func (s *Upstreams) List(ctx context.Context) ([]Upstream, error) {
	rows, err := s.rows(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make([]Upstream, len(rows))
	for i, r := range rows {
		out[i] = r.upstream()
	}
	return out, nil
}

func (s *Upstreams) rows(ctx context.Context, enabledOnly bool) ([]upstreamRow, error) {
	q := `SELECT ` + upstreamColumns + ` FROM relay_upstreams`
	if enabledOnly {
		q += ` WHERE enabled`
	}
	rows, _ := s.pool.Query(ctx, q+` ORDER BY priority, name`)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[upstreamRow])
	if err != nil {
		return nil, fmt.Errorf("relay: upstreams: %w", err)
	}
	return out, nil
}

// Get returns upstream id. Errors: ErrNotFound.
func (s *Upstreams) Get(ctx context.Context, id int64) (Upstream, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+upstreamColumns+` FROM relay_upstreams WHERE id = $1`, id)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[upstreamRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return Upstream{}, ErrNotFound
	}
	if err != nil {
		return Upstream{}, fmt.Errorf("relay: upstream: %w", err)
	}
	return r.upstream(), nil
}

// parsedUpstream is a valid form.
type parsedUpstream struct {
	name, baseURL, secret string
	models                map[string]string
	weight, priority, ms  int
	enabled               bool
}

func parseUpstream(f UpstreamForm, creating bool) (parsedUpstream, error) {
	errs := fielderr.New("relay")
	p := parsedUpstream{name: strings.TrimSpace(f.Name), baseURL: strings.TrimRight(strings.TrimSpace(f.BaseURL), "/"),
		secret: strings.TrimSpace(f.Secret), enabled: f.Enabled, models: map[string]string{}}
	switch {
	case p.name == "":
		errs.Add("name", "required")
	case utf8.RuneCountInString(p.name) > KeyNameMaxLen:
		errs.Add("name", "too_long", "max", strconv.Itoa(KeyNameMaxLen))
	}
	if u, err := url.Parse(p.baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.Add("base_url", "relay_url_invalid")
	}
	if creating && p.secret == "" {
		errs.Add("secret", "relay_secret_required")
	}
	for _, line := range strings.FieldsFunc(f.Models, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		pub, up, found := strings.Cut(line, "=")
		pub, up = strings.TrimSpace(pub), strings.TrimSpace(up)
		if !found {
			up = pub
		}
		if pub == "" || up == "" || strings.ContainsAny(pub+up, " \t") || len(pub) > 128 || len(up) > 128 {
			errs.Add("models", "relay_mapping_invalid", "value", line)
			break
		}
		p.models[pub] = up
	}
	if len(p.models) == 0 && errs.Code("models") == "" {
		errs.Add("models", "required")
	}
	num := func(field, v string, lo, hi int) int {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			errs.Add(field, "relay_number_range", "min", strconv.Itoa(lo), "max", strconv.Itoa(hi))
		}
		return n
	}
	p.weight = num("weight", f.Weight, 1, 1000)
	p.priority = num("priority", f.Priority, 0, 100)
	p.ms = num("timeout_ms", f.TimeoutMS, 100, 600000)
	return p, errs.Err()
}

const insertUpstream = `
INSERT INTO relay_upstreams (name, base_url, models, weight, priority, timeout_ms, enabled)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`

const setSecret = `UPDATE relay_upstreams SET secret_sealed = $2 WHERE id = $1`

// Create adds an upstream, its secret sealed, and audits it in the same
// transaction. Admins only. Errors: backoffice.ErrForbidden, a
// *fielderr.Errors naming every field in error.
func (s *Upstreams) Create(ctx context.Context, a backoffice.Actor, f UpstreamForm) (Upstream, error) {
	if !auth.HasAnyRole(a.User, auth.RoleAdmin) {
		return Upstream{}, backoffice.ErrForbidden
	}
	p, err := parseUpstream(f, true)
	if err != nil {
		return Upstream{}, err
	}
	var id int64
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, insertUpstream, p.name, p.baseURL, p.models, p.weight, p.priority, p.ms, p.enabled).Scan(&id)
		if db.IsUniqueViolation(err, "relay_upstreams_name_key") {
			return fielderr.One("relay", "name", "relay_name_taken")
		}
		if err != nil {
			return err
		}
		if err := s.storeSecret(ctx, tx, id, p.secret); err != nil {
			return err
		}
		return auditStaff(ctx, tx, a, ActionUpstreamCreated, p.detail(id))
	})
	if err != nil {
		return Upstream{}, wrapForm("create upstream", err)
	}
	s.invalidate()
	return s.Get(ctx, id)
}

const updateUpstream = `
UPDATE relay_upstreams SET name = $2, base_url = $3, models = $4, weight = $5, priority = $6, timeout_ms = $7,
       enabled = $8, updated_at = now()
WHERE id = $1`

// Update changes upstream id (an empty secret keeps the stored one) and
// audits it in the same transaction. Admins only. Errors:
// backoffice.ErrForbidden, ErrNotFound, a *fielderr.Errors.
func (s *Upstreams) Update(ctx context.Context, a backoffice.Actor, id int64, f UpstreamForm) (Upstream, error) {
	if !auth.HasAnyRole(a.User, auth.RoleAdmin) {
		return Upstream{}, backoffice.ErrForbidden
	}
	p, err := parseUpstream(f, false)
	if err != nil {
		return Upstream{}, err
	}
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, updateUpstream, id, p.name, p.baseURL, p.models, p.weight, p.priority, p.ms, p.enabled)
		if db.IsUniqueViolation(err, "relay_upstreams_name_key") {
			return fielderr.One("relay", "name", "relay_name_taken")
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if p.secret != "" {
			if err := s.storeSecret(ctx, tx, id, p.secret); err != nil {
				return err
			}
		}
		d := p.detail(id)
		d["secret_changed"] = p.secret != ""
		return auditStaff(ctx, tx, a, ActionUpstreamChanged, d)
	})
	if err != nil {
		return Upstream{}, wrapForm("update upstream", err)
	}
	s.invalidate()
	return s.Get(ctx, id)
}

func wrapForm(what string, err error) error {
	if _, ok := fielderr.As(err); ok || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("relay: %s: %w", what, err)
}

// detail is what the audit log records: never the secret.
func (p parsedUpstream) detail(id int64) map[string]any {
	return map[string]any{"upstream_id": id, "name": p.name, "base_url": p.baseURL, "models": p.models,
		"weight": p.weight, "priority": p.priority, "timeout_ms": p.ms, "enabled": p.enabled}
}

// aad binds a sealed secret to its upstream row.
func aad(id int64) []byte { return []byte("relay_upstream:" + strconv.FormatInt(id, 10)) }

func (s *Upstreams) storeSecret(ctx context.Context, tx pgx.Tx, id int64, secret string) error {
	sealed, err := s.sealer.Seal([]byte(secret), aad(id))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, setSecret, id, sealed)
	return err
}

// invalidate makes the next call read the list (this process changed it).
func (s *Upstreams) invalidate() {
	s.mu.Lock()
	s.loadedAt = time.Time{}
	s.version++
	s.mu.Unlock()
}

// enabled returns the enabled upstreams with their secrets; each keeps its
// circuit breaker until it changes. A list is served for
// Options.UpstreamTTL from when its read began, so a change made elsewhere
// (an upstream disabled, a mapping) is obeyed within that; past half of it
// a call starts one read in the background and is served the list it has,
// so in steady traffic no call waits on the database. A call waits only
// when there is no list to serve: the first, one after a change here, or
// one after a TTL in which no call came past half of it; the calls waiting
// then share one read. A read that fails leaves the list it had, if any,
// being served.
func (s *Upstreams) enabled(ctx context.Context) ([]*liveUpstream, error) {
	now := s.opts.Now()
	s.mu.Lock()
	live, at, version := s.live, s.loadedAt, s.version
	s.mu.Unlock()
	if !at.IsZero() {
		if age := now.Sub(at); age < s.opts.UpstreamTTL {
			if age >= s.opts.UpstreamTTL/2 {
				s.ahead.Start(ctx, version, func(ctx context.Context) { _, _ = s.read(ctx, version) })
			}
			return live, nil
		}
	}
	// The read outlives a caller that gives up, for the others.
	return s.read(context.WithoutCancel(ctx), version)
}

// read reads the list at version, once for all who ask for it at once,
// and stores it unless the list changed here since (invalidate).
func (s *Upstreams) read(ctx context.Context, version uint64) ([]*liveUpstream, error) {
	v, err, _ := s.reads.Do(strconv.FormatUint(version, 10), func() (any, error) {
		began := s.opts.Now()
		rows, err := s.rows(ctx, true)
		if err != nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.live != nil { // keep serving what we had
				return s.live, nil
			}
			return nil, err
		}
		secrets := make([]string, len(rows))
		for i, r := range rows {
			if len(r.Sealed) == 0 {
				continue
			}
			b, err := s.sealer.Open(r.Sealed, aad(r.ID))
			if err != nil {
				return nil, fmt.Errorf("relay: open the secret of upstream %q: %w", r.Name, err)
			}
			secrets[i] = string(b)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		live := make([]*liveUpstream, 0, len(rows))
		seen := map[int64]bool{}
		for i, r := range rows {
			b := s.breakers[r.ID]
			if b == nil || !b.updated.Equal(r.UpdatedAt) {
				b = &breakerEntry{updated: r.UpdatedAt, cb: s.newBreaker(r.ID, r.Name)}
				s.breakers[r.ID] = b
			}
			seen[r.ID] = true
			live = append(live, &liveUpstream{Upstream: r.upstream(), secret: secrets[i], breaker: b.cb})
		}
		if s.version != version { // changed here while it was read: the next call reads it again
			return live, nil
		}
		for id := range s.breakers {
			if !seen[id] {
				delete(s.breakers, id)
			}
		}
		s.live, s.loadedAt = live, began
		return live, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]*liveUpstream), nil
}

func (s *Upstreams) newBreaker(id int64, name string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	failures := s.opts.BreakerFailures
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "upstream:" + name,
		MaxRequests: 1,
		Timeout:     s.opts.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			// off the call's path: a report that fails only leaves the
			// back office's view behind
			go s.reportBreaker(id, to, time.Now())
		},
	})
}

// candidates are the enabled upstreams serving model whose circuit is not
// open: by priority, lowest first, and within one priority in a random
// order weighted by weight.
func (s *Upstreams) candidates(ctx context.Context, model string) ([]*liveUpstream, bool, error) {
	all, err := s.enabled(ctx)
	if err != nil {
		return nil, false, err
	}
	var serving []*liveUpstream
	for _, u := range all {
		if _, ok := u.Models[model]; ok {
			serving = append(serving, u)
		}
	}
	if len(serving) == 0 {
		return nil, false, nil
	}
	var out []*liveUpstream
	for i := 0; i < len(serving); {
		j := i
		for j < len(serving) && serving[j].Priority == serving[i].Priority {
			j++
		}
		out = append(out, weightedOrder(serving[i:j])...)
		i = j
	}
	open := out[:0:0]
	for _, u := range out {
		if u.breaker.State() != gobreaker.StateOpen {
			open = append(open, u)
		}
	}
	return open, true, nil
}

// weightedOrder draws the upstreams one by one, each with probability
// proportional to its weight among those left.
func weightedOrder(us []*liveUpstream) []*liveUpstream {
	left := slices.Clone(us)
	out := make([]*liveUpstream, 0, len(us))
	for len(left) > 0 {
		total := 0
		for _, u := range left {
			total += u.Weight
		}
		n := rand.IntN(total)
		k := 0
		for i, u := range left {
			if n < u.Weight {
				k = i
				break
			}
			n -= u.Weight
		}
		out = append(out, left[k])
		left = slices.Delete(left, k, k+1)
	}
	return out
}

// PublicModels are the model names the enabled upstreams serve, sorted.
func (s *Upstreams) PublicModels(ctx context.Context) ([]string, error) {
	all, err := s.enabled(ctx)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, u := range all {
		for m := range u.Models {
			set[m] = true
		}
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

// Ensure creates or updates the upstream named f.Name without an actor or
// audit row: `credits gateway --demo-upstream` and dev seeding only.
func (s *Upstreams) Ensure(ctx context.Context, f UpstreamForm) (Upstream, error) {
	p, err := parseUpstream(f, true)
	if err != nil {
		return Upstream{}, err
	}
	var id int64
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		const q = `INSERT INTO relay_upstreams (name, base_url, models, weight, priority, timeout_ms, enabled)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (name) DO UPDATE SET base_url = EXCLUDED.base_url, models = EXCLUDED.models, updated_at = now()
RETURNING id`
		models, _ := json.Marshal(p.models)
		if err := tx.QueryRow(ctx, q, p.name, p.baseURL, models, p.weight, p.priority, p.ms, p.enabled).Scan(&id); err != nil {
			return err
		}
		return s.storeSecret(ctx, tx, id, p.secret)
	})
	if err != nil {
		return Upstream{}, fmt.Errorf("relay: ensure upstream: %w", err)
	}
	s.invalidate()
	return s.Get(ctx, id)
}
