package plans

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/webhook"
)

// Preference says what pays a call to a model the account's plan covers.
type Preference string

// The billing preferences.
const (
	// PlanFirst: the item's quota; past it, credits (plan lots first, then
	// the wallet, in the usual spend order). The default.
	PlanFirst Preference = "plan_first"
	// WalletFirst: credits; when they do not cover the hold, the quota.
	WalletFirst Preference = "wallet_first"
	// PlanOnly: the quota, and past it the call is refused.
	PlanOnly Preference = "plan_only"
	// WalletOnly: credits only; the quota is not used.
	WalletOnly Preference = "wallet_only"
)

// Preferences lists the preferences in the order screens offer them.
var Preferences = []Preference{PlanFirst, WalletFirst, PlanOnly, WalletOnly}

// ErrInvalidPreference: not one of Preferences.
var ErrInvalidPreference = errors.New("plans: invalid billing preference")

// ParsePreference checks s. Errors: ErrInvalidPreference.
func ParsePreference(s string) (Preference, error) {
	for _, p := range Preferences {
		if string(p) == s {
			return p, nil
		}
	}
	return "", ErrInvalidPreference
}

// Errors of quota spending.
var (
	// ErrQuotaExhausted: a window of the item has no room for the call
	// (as *ExhaustedError, which says which and when it frees up).
	ErrQuotaExhausted = errors.New("plans: plan quota exhausted")
	// ErrUseNotFound: no such quota use in the account.
	ErrUseNotFound = errors.New("plans: quota use not found")
	// ErrUseClosed: the use was committed (release) or released (commit).
	ErrUseClosed = errors.New("plans: quota use closed")
	// ErrUseConflict: the idempotency key was used with another request.
	ErrUseConflict = errors.New("plans: idempotency key reused with another request")
	// ErrAccountFrozen: the account or its pool is frozen.
	ErrAccountFrozen = errors.New("plans: account frozen")
	// ErrDeclined: this idempotency key's call found the quota exhausted
	// and went to credits (HoldRequest.Fallback); a retry goes there too.
	ErrDeclined = errors.New("plans: call paid by credits")
	// ErrNoHold: HoldRequest.ReplayOnly and the key is new.
	ErrNoHold = errors.New("plans: no quota held under this key")
	// errStale: the subscription changed since it was read.
	errStale = errors.New("plans: subscription changed")
)

// ExhaustedError says which window refused a call and when it can take it.
type ExhaustedError struct {
	Item   string
	Quota  Quota
	Used   int64
	FreeAt *time.Time // nil: the call is larger than the quota itself
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("plans: quota of %s exhausted (%s per %s: %d of %d used)", e.Item, e.Quota.Unit, e.Quota.Window.Kind, e.Used, e.Quota.Limit)
}

// Unwrap makes errors.Is(err, ErrQuotaExhausted) true.
func (e *ExhaustedError) Unwrap() error { return ErrQuotaExhausted }

// RetryAt is when the call would fit (zero when never).
func (e *ExhaustedError) RetryAt() time.Time {
	if e.FreeAt == nil {
		return time.Time{}
	}
	return *e.FreeAt
}

// Coverage is what a pool's plan says about one model.
type Coverage struct {
	Subscription Subscription
	Plan         Plan
	Item         Item
	Preference   Preference
}

// Covered reports whether a plan in force has an item for the model.
func (c Coverage) Covered() bool { return c.Subscription.ID != 0 && len(c.Item.Models) > 0 }

// ItemKey names the item in quota records: its group, or its one model.
// It is the same across plan versions, so a window's use carries over an
// upgrade.
func (it Item) Key() string {
	if it.Group != "" {
		return it.Group
	}
	if len(it.Models) > 0 {
		return it.Models[0]
	}
	return ""
}

// QuotaOptions configure Quotas.
type QuotaOptions struct {
	Now func() time.Time
	// CacheTTL bounds how long a process trusts what it read of a pool's
	// plan and preference without hearing of a change (2 s by default;
	// changes are announced on plan_changes at once, see Listen).
	CacheTTL time.Duration
	// Webhooks sends plan.quota_exhausted (none when nil).
	Webhooks *webhook.Service
	// Writer, when set, runs holds, settles and releases in the ledger's
	// writer batches (ledger.Ledger.Apply): many calls share one
	// transaction and one WAL flush, as the ledger's reserves and commits
	// do. Without it each runs as its own statement on the pool.
	Writer Writer
	// Reader, when set, lets the reads of the plan, the preference and
	// the windows' use in a pinned request (an API GET, a page) be
	// answered by the standby while no primary answers (db.Reader.Latest).
	Reader *db.Reader
}

// Writer runs a registered SQL function in the pool's writer batch
// (implemented by ledger.Ledger).
type Writer interface {
	Apply(ctx context.Context, poolID int64, fn string, arg json.RawMessage) (json.RawMessage, error)
}

// Quotas spends plan quota: holds, settles and releases, each one statement
// of internal/plans/schema/quota.sql that locks the subscription first.
type Quotas struct {
	pool     *pgxpool.Pool
	opts     QuotaOptions
	cache    sync.Map // pool id → *coverEntry
	versions sync.Map // versionKey → Plan (published versions never change)
}

type coverEntry struct {
	sub    *Subscription
	plan   Plan
	pref   Preference
	loaded time.Time
}

// NewQuotas returns the quota spender on pool.
func NewQuotas(pool *pgxpool.Pool, o QuotaOptions) *Quotas {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 2 * time.Second
	}
	return &Quotas{pool: pool, opts: o}
}

func (q *Quotas) now() time.Time { return q.opts.Now().UTC() }

// reads is where the plan, the preference and the windows' use are read:
// the pool, or the standby in a pinned request while no primary answers.
func (q *Quotas) reads(ctx context.Context) db.DBTX { return q.opts.Reader.Latest(ctx, q.pool) }

// Forget drops what this process knows of the pool's plan and preference.
func (q *Quotas) Forget(poolID int64) { q.cache.Delete(poolID) }

// Listen forgets a pool's cached plan whenever a subscription or
// preference of it changes in any process (the plan_changes notification),
// until ctx ends; when the connection drops it forgets everything and
// listens again.
func (q *Quotas) Listen(ctx context.Context) {
	for ctx.Err() == nil {
		if err := q.listenOnce(ctx); err != nil && ctx.Err() == nil {
			q.cache.Clear()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (q *Quotas) listenOnce(ctx context.Context) error {
	// A connection of its own, not the pool's: a listener holds it for
	// good, and the pool's few connections are for queries (several
	// processes' listeners on one pool would starve it).
	conn, err := pgx.ConnectConfig(ctx, q.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN plan_changes"); err != nil {
		return err
	}
	q.cache.Clear() // changes made before LISTEN took effect
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			q.Forget(id)
		}
	}
}

// Cover says whether the pool's plan in force covers model, with the
// pool's billing preference.
func (q *Quotas) Cover(ctx context.Context, poolID int64, model string) (Coverage, error) {
	e, err := q.entry(ctx, poolID)
	if err != nil || e.sub == nil {
		return Coverage{Preference: e.pref}, err
	}
	c := Coverage{Subscription: *e.sub, Plan: e.plan, Preference: e.pref}
	c.Item, _ = e.plan.Item(model)
	return c, nil
}

func (q *Quotas) entry(ctx context.Context, poolID int64) (*coverEntry, error) {
	now := q.now()
	if v, ok := q.cache.Load(poolID); ok {
		e := v.(*coverEntry)
		if now.Sub(e.loaded) < q.opts.CacheTTL && (e.sub == nil || e.sub.InForce(now)) {
			return e, nil
		}
	}
	e := &coverEntry{loaded: now, pref: PlanFirst}
	var pref string
	err := q.reads(ctx).QueryRow(ctx, `SELECT preference FROM plan_billing_preferences WHERE account_id = $1`, poolID).Scan(&pref)
	switch {
	case err == nil:
		e.pref = Preference(pref)
	case !errors.Is(err, pgx.ErrNoRows):
		return e, fmt.Errorf("plans: preference: %w", err)
	}
	sub, err := subscriptionWhere(ctx, q.reads(ctx), `account_id = $1 AND state <> 'expired'`, poolID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return e, fmt.Errorf("plans: cover: %w", err)
	case sub.InForce(now):
		p, err := q.version(ctx, sub.PlanCode, sub.PlanVersion)
		if err != nil {
			return e, err
		}
		e.sub, e.plan = &sub, p
	}
	q.cache.Store(poolID, e)
	return e, nil
}

func (q *Quotas) version(ctx context.Context, code string, version int) (Plan, error) {
	k := code + ":" + strconv.Itoa(version)
	if v, ok := q.versions.Load(k); ok {
		return v.(Plan), nil
	}
	ps, err := loadPlans(ctx, q.reads(ctx), `WHERE code = $1 AND version = $2`, code, version)
	if err != nil {
		return Plan{}, err
	}
	if len(ps) != 1 {
		return Plan{}, fmt.Errorf("plans: version %s: %w", k, ErrNotFound)
	}
	q.versions.Store(k, ps[0])
	return ps[0], nil
}

// PlanLimits are the RPM and TPM of the pool's plan in force (0: the plan
// leaves the platform's default; no plan: 0, 0).
func (q *Quotas) PlanLimits(ctx context.Context, poolID int64) (rpm int, tpm int64, err error) {
	e, err := q.entry(ctx, poolID)
	if err != nil || e.sub == nil {
		return 0, 0, err
	}
	return e.plan.RPM, e.plan.TPM, nil
}

// quotaWindow is one quota with its window's bounds at an instant, as the
// SQL functions read it.
type quotaWindow struct {
	Unit  Unit      `json:"unit"`
	Kind  string    `json:"kind"`
	Hours int       `json:"hours"`
	Limit int64     `json:"limit"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

func windowsAt(sub Subscription, it Item, at time.Time) []quotaWindow {
	period := sub.Period(at)
	out := make([]quotaWindow, 0, len(it.Quotas))
	for _, qt := range it.Quotas {
		start, end := qt.Window.Bounds(at, period)
		out = append(out, quotaWindow{Unit: qt.Unit, Kind: string(qt.Window.Kind), Hours: qt.Window.Hours,
			Limit: qt.Limit, Start: start, End: end})
	}
	return out
}

// HoldRequest asks quota for one call of a covered model.
type HoldRequest struct {
	Coverage        Coverage
	AccountID       int64 // the caller (a sub-account spends its pool's plan)
	Model           string
	IdempotencyKey  string
	RequestHash     string // fingerprints the request: a retry must match
	SessionID       string
	RateCardVersion int
	Requests        int64
	Tokens          int64
	TTL             time.Duration
	// Fallback: when the quota is exhausted the call goes to credits;
	// the key remembers it (later holds of the key answer ErrDeclined).
	Fallback bool
	// ReplayOnly answers a hold already made under the key (ErrDeclined,
	// or the Held) and holds nothing new (ErrNoHold).
	ReplayOnly bool
}

// Held is quota held for a call.
type Held struct {
	ID        int64     `json:"use_id"`
	Item      string    `json:"item"`
	ExpiresAt time.Time `json:"expires_at"`
	Replayed  bool      `json:"replayed"`
}

// Hold holds r.Requests and r.Tokens in every window of the item, or none.
// When the subscription changed since Cover read it, Hold reads it again
// and answers for the plan now in force (ErrNotFound when it no longer
// covers the model). Errors: *ExhaustedError (ErrQuotaExhausted),
// ErrDeclined, ErrNoHold, ErrUseConflict, ErrAccountFrozen, ErrNotFound.
func (q *Quotas) Hold(ctx context.Context, r HoldRequest) (Held, error) {
	for attempt := 0; ; attempt++ {
		use, err := q.hold(ctx, r)
		if !errors.Is(err, errStale) || attempt == 2 {
			return use, err
		}
		q.Forget(r.Coverage.Subscription.AccountID)
		c, err := q.Cover(ctx, r.Coverage.Subscription.AccountID, r.Model)
		if err != nil {
			return Held{}, err
		}
		if !c.Covered() {
			return Held{}, ErrNotFound
		}
		r.Coverage = c
	}
}

func (q *Quotas) hold(ctx context.Context, r HoldRequest) (Held, error) {
	now := q.now()
	sub, it := r.Coverage.Subscription, r.Coverage.Item
	arg, err := json.Marshal(map[string]any{
		"subscription_id": sub.ID, "plan_code": sub.PlanCode, "plan_version": sub.PlanVersion,
		"anchor": sub.Anchor, "cycle": sub.Cycle, "pool_id": sub.AccountID, "account_id": r.AccountID,
		"item": it.Key(), "model": r.Model, "key": r.IdempotencyKey, "hash": r.RequestHash,
		"session_id": r.SessionID, "rate_card_version": r.RateCardVersion,
		"requests": r.Requests, "tokens": r.Tokens, "now": now, "expires_at": now.Add(r.TTL),
		"windows": windowsAt(sub, it, now), "fallback": r.Fallback, "replay_only": r.ReplayOnly,
	})
	if err != nil {
		return Held{}, err
	}
	var out struct {
		Held
		Stale     bool        `json:"stale"`
		Declined  bool        `json:"declined"`
		None      bool        `json:"none"`
		Exhausted bool        `json:"exhausted"`
		FreeAt    *time.Time  `json:"free_at"`
		Window    quotaWindow `json:"window"`
		Used      int64       `json:"used"`
		Notify    bool        `json:"notify"`
		Error     string      `json:"error"`
	}
	if err := q.call(ctx, sub.AccountID, "plan_quota_hold", arg, &out); err != nil {
		return Held{}, err
	}
	switch {
	case out.Stale:
		return Held{}, errStale
	case out.Declined:
		return Held{}, ErrDeclined
	case out.None:
		return Held{}, ErrNoHold
	case out.Error != "":
		return Held{}, useError(out.Error)
	case out.Exhausted:
		e := &ExhaustedError{Item: it.Key(), Used: out.Used, FreeAt: out.FreeAt,
			Quota: Quota{Unit: out.Window.Unit, Limit: out.Window.Limit,
				Window: Window{Kind: WindowKind(out.Window.Kind), Hours: out.Window.Hours}}}
		if out.Notify {
			// Best effort here; the sweep sends what this could not.
			_ = q.notifyExhausted(ctx)
		}
		return Held{}, e
	}
	out.Held.Item = it.Key()
	out.Held.ExpiresAt = out.Held.ExpiresAt.UTC()
	return out.Held, nil
}

// call runs the quota function fn (a name from quota.sql, or a caller's
// registered wrapper, see SettleRequest.Via) with arg for the pool.
func (q *Quotas) call(ctx context.Context, poolID int64, fn string, arg []byte, out any) error {
	var raw []byte
	var err error
	if q.opts.Writer != nil {
		raw, err = q.opts.Writer.Apply(ctx, poolID, fn, arg)
	} else {
		err = q.pool.QueryRow(ctx, "SELECT "+pgx.Identifier{fn}.Sanitize()+"($1::jsonb)", arg).Scan(&raw)
	}
	if err == nil && raw == nil {
		err = fmt.Errorf("%s is not a registered quota function", fn)
	}
	if err != nil {
		return fmt.Errorf("plans: quota: %w", err)
	}
	return json.Unmarshal(raw, out)
}

func useError(code string) error {
	switch code {
	case "idempotency_conflict":
		return ErrUseConflict
	case "account_frozen":
		return ErrAccountFrozen
	case "not_found":
		return ErrUseNotFound
	case "reservation_closed":
		return ErrUseClosed
	}
	return fmt.Errorf("plans: quota: %s", code)
}

// SettleRequest commits a held use with what the call used.
type SettleRequest struct {
	// PoolID is the pool of the subscription (the use's pool_id): the
	// writer batch the settle runs in.
	UseID, PoolID, AccountID                  int64
	Requests                                  int64
	InputTokens, OutputTokens, CacheHitTokens int64
	Outcome                                   string
	// Via, when set, names the caller's SQL function (registered in
	// ledger_extensions) that settles and records the caller's own rows of
	// the call in the same transaction: it gets {"settle": plan_quota_settle's
	// request, "with": With}, must answer plan_quota_settle's result and
	// puts its own answer under "with" (Settlement.With).
	Via  string
	With any
}

// Settlement is what a use settled at; ExcessTokens did not fit the quota
// and are the caller's to charge as credits.
type Settlement struct {
	UseID        int64  `json:"use_id"`
	Item         string `json:"item"`
	Requests     int64  `json:"requests"`
	Tokens       int64  `json:"tokens"`
	ExcessTokens int64  `json:"excess_tokens"`
	Replayed     bool   `json:"replayed"`
	// With is the answer of SettleRequest.Via's own part.
	With json.RawMessage `json:"with,omitempty"`
}

// CallTokens is what a call counts against a tokens quota: input, output
// and cache hits alike.
func CallTokens(input, output, cacheHit int64) int64 { return input + output + cacheHit }

// Settle commits the use: the windows count what the call used, less than
// the hold gives the rest back, more takes what room the windows have. A
// repeat with the same figures answers the first. Errors: ErrUseNotFound,
// ErrUseClosed (released), ErrUseConflict (other figures).
func (q *Quotas) Settle(ctx context.Context, r SettleRequest) (Settlement, error) {
	tokens := CallTokens(r.InputTokens, r.OutputTokens, r.CacheHitTokens)
	var req any = map[string]any{
		"use_id": r.UseID, "account_id": r.AccountID, "requests": r.Requests, "tokens": tokens,
		"input_tokens": r.InputTokens, "output_tokens": r.OutputTokens, "cache_hit_tokens": r.CacheHitTokens,
		"outcome": r.Outcome, "now": q.now(),
		"hash": fmt.Sprintf("%d/%d/%d/%d/%s", r.Requests, r.InputTokens, r.OutputTokens, r.CacheHitTokens, r.Outcome),
	}
	fn := "plan_quota_settle"
	if r.Via != "" {
		fn, req = r.Via, map[string]any{"settle": req, "with": r.With}
	}
	arg, err := json.Marshal(req)
	if err != nil {
		return Settlement{}, err
	}
	var out struct {
		Settlement
		Error string `json:"error"`
	}
	if err := q.call(ctx, r.PoolID, fn, arg, &out); err != nil {
		return Settlement{}, err
	}
	if out.Error != "" {
		return Settlement{}, useError(out.Error)
	}
	return out.Settlement, nil
}

// Release gives a held use's quota back; releasing twice answers the first.
// Errors: ErrUseNotFound, ErrUseClosed (committed).
func (q *Quotas) Release(ctx context.Context, useID, poolID, accountID int64) (Settlement, error) {
	arg, _ := json.Marshal(map[string]any{"use_id": useID, "account_id": accountID, "now": q.now()})
	var out struct {
		Settlement
		Error string `json:"error"`
	}
	if err := q.call(ctx, poolID, "plan_quota_release", arg, &out); err != nil {
		return Settlement{}, err
	}
	if out.Error != "" {
		return Settlement{}, useError(out.Error)
	}
	return out.Settlement, nil
}

// Sweep releases held uses past their expiry (calls never committed nor
// released) and sends the exhaustion webhooks not sent yet.
func (q *Quotas) Sweep(ctx context.Context) (int, error) {
	var n int
	if err := q.pool.QueryRow(ctx, `SELECT plan_quota_sweep($1, 1000)`, q.now()).Scan(&n); err != nil {
		return 0, fmt.Errorf("plans: quota sweep: %w", err)
	}
	return n, q.notifyExhausted(ctx)
}

// QuotaExhaustedPayload is the data of a plan.quota_exhausted webhook.
type QuotaExhaustedPayload struct {
	AccountID      int64      `json:"account_id"`
	SubscriptionID int64      `json:"subscription_id"`
	Item           string     `json:"item"`
	Unit           Unit       `json:"unit"`
	Window         Window     `json:"window"`
	WindowStart    time.Time  `json:"window_start"`
	FreeAt         *time.Time `json:"free_at"`
	At             time.Time  `json:"at"`
}

// notifyExhausted sends plan.quota_exhausted once per exhausted window:
// each unsent row is marked and its webhook queued in one transaction (the
// event id comes from the row, so a repeat queues nothing twice).
func (q *Quotas) notifyExhausted(ctx context.Context) error {
	if q.opts.Webhooks == nil {
		return nil
	}
	return pgx.BeginFunc(ctx, q.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
UPDATE plan_quota_exhaustions x SET notified_at = $1
FROM subscriptions s
WHERE s.id = x.subscription_id AND (x.subscription_id, x.item, x.unit, x.window_kind, x.window_hours, x.window_start) IN (
    SELECT subscription_id, item, unit, window_kind, window_hours, window_start FROM plan_quota_exhaustions
    WHERE notified_at IS NULL ORDER BY at LIMIT 100 FOR UPDATE SKIP LOCKED)
RETURNING s.account_id, x.subscription_id, x.item, x.unit, x.window_kind, x.window_hours, x.window_start, x.free_at, x.at`, q.now())
		if err != nil {
			return err
		}
		var events []QuotaExhaustedPayload
		for rows.Next() {
			var p QuotaExhaustedPayload
			if err := rows.Scan(&p.AccountID, &p.SubscriptionID, &p.Item, &p.Unit, &p.Window.Kind, &p.Window.Hours,
				&p.WindowStart, &p.FreeAt, &p.At); err != nil {
				return err
			}
			events = append(events, p)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range events {
			ev := &webhook.Event{AccountID: p.AccountID, Type: "plan.quota_exhausted", Payload: p,
				ID: fmt.Sprintf("evt_quota_%d_%s_%s_%s%d_%d", p.SubscriptionID, p.Item, p.Unit, p.Window.Kind, p.Window.Hours, p.WindowStart.Unix())}
			if err := q.opts.Webhooks.EnqueueEventTx(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetPreference records the pool account's billing preference.
func (q *Quotas) SetPreference(ctx context.Context, accountID int64, p Preference, actor string) error {
	if _, err := ParsePreference(string(p)); err != nil {
		return err
	}
	_, err := q.pool.Exec(ctx, `
INSERT INTO plan_billing_preferences (account_id, preference, updated_at, updated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (account_id) DO UPDATE SET preference = EXCLUDED.preference, updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by`, accountID, p, q.now(), actor)
	if isForeignKeyViolation(err, "plan_billing_preferences_account_id_fkey") {
		return ErrNotFound
	}
	q.Forget(accountID)
	return err
}

// Preference is the pool account's billing preference (PlanFirst unless
// set).
func (q *Quotas) Preference(ctx context.Context, accountID int64) (Preference, error) {
	var p string
	err := q.reads(ctx).QueryRow(ctx, `SELECT preference FROM plan_billing_preferences WHERE account_id = $1`, accountID).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return PlanFirst, nil
	}
	return Preference(p), err
}

// WindowUsage is one quota of the plan in force as it stands: what its
// window used, its limit, and when it resets (a calendar or period window's
// end; for a rolling window, when its oldest counted use leaves it, or nil
// when it counts none).
type WindowUsage struct {
	Item    Item
	Quota   Quota
	Used    int64
	ResetAt *time.Time
	// Start is when the window began (a rolling window: its length ago).
	Start time.Time
	// Forecast is RunsOutAt when the window was read (nil: nothing to
	// forecast).
	Forecast *RunOut
}

// RunOut is a quota window's forecast: its quota is used up At, before the
// window resets (BeforeReset), or lasts until the reset (At is the reset).
type RunOut struct {
	At          time.Time
	BeforeReset bool
}

// RunsOutAt forecasts a calendar or period window at its pace so far (what
// it used ÷ the time since it began): when its quota would be used up, and
// whether that comes before the window resets. ok is false when there is
// nothing to forecast: an unlimited quota, nothing used yet, a quota
// already used up, or a rolling window (at a steady pace a rolling window
// counts the same all along, so it never runs out).
func (u WindowUsage) RunsOutAt(now time.Time) (at time.Time, beforeReset, ok bool) {
	if u.Quota.Limit < 0 || u.Used <= 0 || u.Used >= u.Quota.Limit || u.Quota.Window.Kind == WindowRolling ||
		u.ResetAt == nil || !now.After(u.Start) {
		return time.Time{}, false, false
	}
	elapsed := decimal.NewFromInt(int64(now.Sub(u.Start) / time.Second))
	left := elapsed.Mul(decimal.NewFromInt(u.Quota.Limit - u.Used)).Div(decimal.NewFromInt(u.Used)).Ceil()
	untilReset := int64(u.ResetAt.Sub(now) / time.Second)
	if left.GreaterThanOrEqual(decimal.NewFromInt(untilReset)) {
		return *u.ResetAt, false, true
	}
	return now.Add(time.Duration(left.IntPart()) * time.Second), true, true
}

// Usage reads every quota window of the pool's plan in force.
func (q *Quotas) Usage(ctx context.Context, poolID int64) ([]WindowUsage, error) {
	q.Forget(poolID)
	e, err := q.entry(ctx, poolID)
	if err != nil || e.sub == nil {
		return nil, err
	}
	now := q.now()
	var out []WindowUsage
	for _, it := range e.plan.Items {
		ws := windowsAt(*e.sub, it, now)
		for i, w := range ws {
			arg, _ := json.Marshal(w)
			u := WindowUsage{Item: it, Quota: it.Quotas[i], Start: w.Start}
			var oldest *time.Time
			if err := q.reads(ctx).QueryRow(ctx, `
SELECT plan_quota_used($1, $2, $3),
       CASE WHEN $3::jsonb->>'kind' = 'rolling' THEN (SELECT min(at) FROM plan_quota_uses
            WHERE subscription_id = $1 AND item = $2 AND at > ($3::jsonb->>'start')::timestamptz AND state IN ('held', 'committed')) END`,
				e.sub.ID, it.Key(), arg).Scan(&u.Used, &oldest); err != nil {
				return nil, fmt.Errorf("plans: usage: %w", err)
			}
			switch {
			case w.Kind != string(WindowRolling):
				end := w.End
				u.ResetAt = &end
			case oldest != nil:
				r := oldest.Add(time.Duration(w.Hours) * time.Hour).UTC()
				u.ResetAt = &r
			}
			if at, before, ok := u.RunsOutAt(now); ok {
				u.Forecast = &RunOut{At: at, BeforeReset: before}
			}
			out = append(out, u)
		}
	}
	return out, nil
}
