package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/singleflight"

	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/readahead"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/internal/webhook"
)

// PortalLinker issues one-time portal sign-in links (auth.Service).
type PortalLinker interface {
	CreatePortalLink(ctx context.Context, accountID int64, ttl time.Duration) (string, time.Time, error)
}

// Service is the gateway API's domain. It is safe for concurrent use.
type Service struct {
	pool     db.Querier
	ledger   *ledger.Ledger
	pricing  *pricing.Service
	costs    *costs.Service
	limiter  ratelimit.Limiter
	verifier Verifier
	portal   PortalLinker
	opts     Options
	webhooks *webhook.Service
	quotas   *plans.Quotas
	subs     *plans.Subscriptions
	ents     EntitlementSource
	models   ModelLists
	// Keys checks service keys; Limits reads and sets accounts' own rate
	// limits (the portal sets its sub-accounts' limits through it).
	Keys   *KeyStore
	Limits *LimitStore

	byID    sync.Map           // account id -> *accountInfo
	reloads singleflight.Group // account id -> one reload at a time
	ahead   readahead.Group    // account id -> a reload ahead of expiry
	// forgetMu and forgets keep a reload begun before a forget (a change
	// heard) from caching its copy after it: a reload stores its copy
	// only when no forget happened since it began.
	forgetMu sync.Mutex
	forgets  uint64
	byExt    sync.Map  // extKey -> account id
	cards    sync.Map  // version -> pricing.Card (immutable)
	acards   sync.Map  // account card id -> pricing.AccountCard (immutable)
	macs     sync.Pool // hash.Hash: HMAC-SHA256 keyed with Options.Secret (reservation tokens)

	tiersMu sync.Mutex
	tiers   []ledger.Tier // the tier table, read at tiersAt
	tiersAt time.Time
}

// accountInfo is an account as the hot path needs it.
type accountInfo struct {
	acct     ledger.Account
	own      Limits // nil fields: the default
	verified bool
	models   []string              // the account's own model allow-list; nil: every model
	cards    []pricing.AccountCard // the versions of the account's own rate card, oldest first
	at       time.Time             // when its reload began
}

type extKey struct {
	mode ledger.Mode
	ext  string
}

// Deps are the collaborators of a Service.
type Deps struct {
	Pool    db.Querier
	Ledger  *ledger.Ledger
	Pricing *pricing.Service
	// Costs costs each charge (internal/costs); nil: charges record no cost.
	Costs    *costs.Service
	Limiter  ratelimit.Limiter
	Verifier Verifier     // nil: PGVerifier on Pool
	Portal   PortalLinker // nil: portal sessions answer ErrNotFound
	// Webhooks registers the accounts' webhook endpoints; nil: a service
	// over Pool with default options (pass serve's, which requires https
	// in production).
	Webhooks *webhook.Service
	// Quotas pays covered calls with plan quota; nil: plans pay by their
	// plan credits only.
	Quotas *plans.Quotas
	// Subscriptions answers GET /v1/accounts/{id}/subscription; nil: that
	// endpoint fails.
	Subscriptions *plans.Subscriptions
	// Entitlements lists accounts' product entitlements (internal/products);
	// nil: the entitlements endpoint answers an empty list.
	Entitlements EntitlementSource
	// Models reads accounts' model allow-lists (internal/access); nil:
	// every account may call every model.
	Models ModelLists
}

// ModelLists reads an account's own model allow-list (nil: none, every
// model); access.Store is one.
type ModelLists interface {
	Models(ctx context.Context, accountID int64) ([]string, error)
}

// New returns a Service. Options.Secret is required.
func New(d Deps, opts Options) (*Service, error) {
	opts.defaults()
	if len(opts.Secret) < 16 {
		return nil, errors.New("gateway: Options.Secret must be at least 16 bytes")
	}
	if d.Pool == nil || d.Ledger == nil || d.Pricing == nil || d.Limiter == nil {
		return nil, errors.New("gateway: New needs Pool, Ledger, Pricing and Limiter")
	}
	if d.Verifier == nil {
		d.Verifier = PGVerifier{Pool: d.Pool, Ledger: d.Ledger}
	}
	if d.Webhooks == nil {
		d.Webhooks = webhook.NewService(d.Pool, nil, webhook.Options{})
	}
	ks := NewKeyStore(d.Pool, opts.CacheTTL)
	ks.now = opts.Now
	s := &Service{pool: d.Pool, ledger: d.Ledger, pricing: d.Pricing, costs: d.Costs, limiter: d.Limiter,
		verifier: d.Verifier, portal: d.Portal, opts: opts, webhooks: d.Webhooks, quotas: d.Quotas, subs: d.Subscriptions,
		ents: d.Entitlements, models: d.Models, Keys: ks}
	s.Limits = &LimitStore{db: d.Pool, onChange: s.forget}
	return s, nil
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// Limiter is the rate limiter the API checks (for its health metrics).
func (s *Service) Limiter() ratelimit.Limiter { return s.limiter }

// account returns the account with externalID in the key's mode, cached.
// Errors: ErrNotFound.
func (s *Service) account(ctx context.Context, mode ledger.Mode, externalID string) (*accountInfo, error) {
	if externalID == "" {
		return nil, invalid("account", "required")
	}
	if strings.IndexByte(externalID, 0) >= 0 {
		return nil, ErrNotFound // no account can have one: PostgreSQL text cannot hold it
	}
	if v, ok := s.byExt.Load(extKey{mode, externalID}); ok {
		if a, err := s.accountByID(ctx, v.(int64)); err == nil && a.acct.Mode == mode {
			return a, nil
		}
	}
	began, forgets := s.opts.Now(), s.forgetsNow()
	acct, err := s.ledger.AccountByExternalID(ctx, mode, externalID)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	a, err := s.load(ctx, acct, began, forgets)
	if err != nil {
		return nil, err
	}
	s.byExt.Store(extKey{mode, externalID}, acct.ID)
	return a, nil
}

// accountByID returns a cached account. A copy is served for CacheTTL from
// when its reload began, so a change another process makes (a limit, the
// verification, the model allow-list, the own rate card) is obeyed within
// that; past half of it a call starts one reload in the background and is
// served the copy, so an account in steady use is never reloaded on a
// call's path. A call waits for the reload only when there is no copy to
// serve: the account's first call, one after a change heard here
// (Forget), or one after a CacheTTL in which no call came past half of it.
func (s *Service) accountByID(ctx context.Context, id int64) (*accountInfo, error) {
	if v, ok := s.byID.Load(id); ok {
		a := v.(*accountInfo)
		if age := s.opts.Now().Sub(a.at); age < s.opts.CacheTTL {
			if age >= s.opts.CacheTTL/2 {
				s.ahead.Start(ctx, id, func(ctx context.Context) { _, _ = s.reload(ctx, id) })
			}
			return a, nil
		}
	}
	// The reload outlives a caller that gives up, for the others.
	return s.reload(context.WithoutCancel(ctx), id)
}

// reload reads account id and caches it. Calls for an account whose copy
// expired share one reload (five reads) with each other and with the one
// ahead; forget ends the sharing, so a call after a change never joins a
// reload begun before it.
func (s *Service) reload(ctx context.Context, id int64) (*accountInfo, error) {
	v, err, _ := s.reloads.Do(strconv.FormatInt(id, 10), func() (any, error) {
		began, forgets := s.opts.Now(), s.forgetsNow()
		acct, err := s.ledger.Account(ctx, id)
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		return s.load(ctx, acct, began, forgets)
	})
	if err != nil {
		return nil, err
	}
	return v.(*accountInfo), nil
}

// forgetsNow is the count of forgets load compares with before caching.
func (s *Service) forgetsNow() uint64 {
	s.forgetMu.Lock()
	defer s.forgetMu.Unlock()
	return s.forgets
}

// load reads the rest of acct, read since began, and caches it unless a
// forget happened since forgets was taken.
func (s *Service) load(ctx context.Context, acct ledger.Account, began time.Time, forgets uint64) (*accountInfo, error) {
	a := &accountInfo{acct: acct, at: began}
	var err error
	if a.own, err = s.Limits.Get(ctx, acct.ID); err != nil {
		return nil, err
	}
	if a.verified, err = s.verifier.IsVerified(ctx, acct.ID); err != nil {
		return nil, err
	}
	if s.models != nil {
		if a.models, err = s.models.Models(ctx, acct.ID); err != nil {
			return nil, err
		}
	}
	if a.cards, err = s.pricing.AccountCards(ctx, acct.ID); err != nil {
		return nil, err
	}
	s.forgetMu.Lock()
	if s.forgets == forgets {
		s.byID.Store(acct.ID, a)
	}
	s.forgetMu.Unlock()
	return a, nil
}

// Forget drops the cached copy of an account (its limits, verification,
// model allow-list and own rate card), so this process reads it again on its next call.
func (s *Service) Forget(id int64) { s.forget(id) }

// ForgetAll drops every cached account (the invalidation hub may have
// missed words).
func (s *Service) ForgetAll() {
	s.byID.Range(func(k, _ any) bool { s.forget(k.(int64)); return true })
}

func (s *Service) forget(id int64) {
	s.forgetMu.Lock()
	defer s.forgetMu.Unlock()
	s.forgets++
	s.reloads.Forget(strconv.FormatInt(id, 10))
	s.byID.Delete(id)
}

// limit is the account's effective rate limit: its own, else its plan's
// (a subscriber's pool account), else the default; capped by the trial
// limit while unverified.
func (s *Service) limit(ctx context.Context, a *accountInfo) (ratelimit.Limit, error) {
	l := s.opts.DefaultLimit
	if a.acct.ID == a.acct.PoolID {
		// The tier its cumulative recharge reaches replaces the default.
		tiers, err := s.tierTable(ctx)
		if err != nil {
			return l, err
		}
		if i := ledger.TierFor(tiers, a.acct.PaidFen); i >= 0 {
			l = ratelimit.Limit{RPM: tiers[i].RPM, TPM: tiers[i].TPM}
		}
	}
	if s.quotas != nil && a.acct.ID == a.acct.PoolID {
		// A subscriber's plan sets its limits where it names them.
		rpm, tpm, err := s.quotas.PlanLimits(ctx, a.acct.ID)
		if err != nil {
			return l, err
		}
		if rpm > 0 && (!s.tiered(l) || int64(rpm) > l.RPM) {
			l.RPM = int64(rpm)
		}
		if tpm > 0 && (!s.tiered(l) || tpm > l.TPM) {
			l.TPM = tpm
		}
	}
	if a.own.RPM != nil {
		l.RPM = *a.own.RPM
	}
	if a.own.TPM != nil {
		l.TPM = *a.own.TPM
	}
	if !a.verified {
		l = ratelimit.Min(l, s.opts.TrialLimit)
	}
	return l, nil
}

// tiered reports whether l came from a tier (not the default).
func (s *Service) tiered(l ratelimit.Limit) bool { return l != s.opts.DefaultLimit }

// ForgetTiers drops the cached tier table.
func (s *Service) ForgetTiers() {
	s.tiersMu.Lock()
	defer s.tiersMu.Unlock()
	s.tiersAt = time.Time{}
}

// tierTable is the ledger's tier table, cached for CacheTTL (a refused
// call reads it again: see allow).
func (s *Service) tierTable(ctx context.Context) ([]ledger.Tier, error) {
	s.tiersMu.Lock()
	defer s.tiersMu.Unlock()
	if s.tiersAt.IsZero() || s.opts.Now().Sub(s.tiersAt) >= s.opts.CacheTTL {
		t, err := s.ledger.Tiers(ctx)
		if err != nil {
			return nil, err
		}
		s.tiers, s.tiersAt = t, s.opts.Now()
	}
	return s.tiers, nil
}

// validExternalID reports whether s may name a new account: 1 to 128
// bytes of UTF-8 without control characters (PostgreSQL text cannot hold
// NUL) and without surrounding spaces (" " would be an account no one can
// tell apart from "").
func validExternalID(s string) bool {
	if s == "" || len(s) > 128 || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// AccountInput is the body of PUT /v1/accounts/{external_id}.
type AccountInput struct {
	Kind         ledger.AccountKind `json:"kind"`
	Parent       string             `json:"parent"`
	Name         string             `json:"name"`
	Allocation   *decimal.Decimal   `json:"allocation"`
	RPM          *int64             `json:"rpm"`
	TPM          *int64             `json:"tpm"`
	Verification *VerificationInput `json:"verification"`
}

// VerificationInput reports a real-name verification the platform did.
type VerificationInput struct {
	Status    string `json:"status"`
	Reference string `json:"reference"`
}

// AccountView is an account as the API shows it.
type AccountView struct {
	ID         int64                `json:"id"`
	ExternalID string               `json:"external_id"`
	Mode       ledger.Mode          `json:"mode"`
	Kind       ledger.AccountKind   `json:"kind"`
	Parent     *string              `json:"parent"`
	Name       string               `json:"name"`
	Status     ledger.AccountStatus `json:"status"`
	Allocation *decimal.Decimal     `json:"allocation"`
	RPM        int64                `json:"rpm"`
	TPM        int64                `json:"tpm"`
	Verified   bool                 `json:"verified"`
	CreatedAt  time.Time            `json:"created_at"`
}

// PutAccount creates the account externalID in the key's mode or updates
// it: allocation (sub-accounts), rpm and tpm (omitted = the defaults) and a
// verification done by the platform. Kind and parent are fixed at creation;
// the name too (the ledger keeps the first). It reports whether the account
// was created. Errors: ErrInvalidRequest, ErrAccountConflict, ledger errors.
func (s *Service) PutAccount(ctx context.Context, key Key, externalID string, in AccountInput) (AccountView, bool, error) {
	if !validExternalID(externalID) {
		return AccountView{}, false, invalid("external_id", "1 to 128 characters, no control characters or surrounding spaces")
	}
	if in.Kind == "" {
		in.Kind = ledger.AccountIndividual
	}
	var f failures
	switch in.Kind {
	case ledger.AccountIndividual, ledger.AccountEnterprise, ledger.AccountSub:
		f.check((in.Kind == ledger.AccountSub) == (in.Parent != ""), "parent", "required for a sub-account and only for one")
	default:
		f.check(false, "kind", "individual, enterprise or sub")
	}
	f.check(in.Allocation == nil || (in.Kind == ledger.AccountSub && !in.Allocation.IsNegative() && ledger.Round(*in.Allocation).Equal(*in.Allocation)),
		"allocation", "a non-negative amount with at most 6 decimal places, for sub-accounts only")
	for _, l := range []struct {
		name string
		v    *int64
	}{{"rpm", in.RPM}, {"tpm", in.TPM}} {
		f.check(l.v == nil || (*l.v >= 0 && *l.v <= maxLimit), l.name, "a non-negative integer below 2,147,483,648")
	}
	f.check(in.Verification == nil || (in.Verification.Status == "verified" && in.Verification.Reference != ""), "verification", `status must be "verified" with a reference`)
	if err := f.err(); err != nil {
		return AccountView{}, false, err
	}
	var parentID int64
	if in.Parent != "" {
		p, err := s.ledger.AccountByExternalID(ctx, key.Mode, in.Parent)
		if errors.Is(err, ledger.ErrNotFound) {
			return AccountView{}, false, invalid("parent", "no such account")
		}
		if err != nil {
			return AccountView{}, false, err
		}
		parentID = p.ID
	}
	acct, err := s.ledger.AccountByExternalID(ctx, key.Mode, externalID)
	created := false
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		acct, err = s.ledger.UpsertAccountByExternalID(ctx, key.Mode, externalID, ledger.AccountSpec{
			Kind: in.Kind, ParentID: parentID, Name: in.Name, Allocation: in.Allocation})
		if err != nil {
			return AccountView{}, false, err
		}
		created = true
	case err != nil:
		return AccountView{}, false, err
	default:
		if acct.Kind != in.Kind || (acct.ParentID == nil) != (parentID == 0) || (acct.ParentID != nil && *acct.ParentID != parentID) {
			return AccountView{}, false, ErrAccountConflict
		}
		if in.Allocation != nil && (!acct.Allocation.Valid || !acct.Allocation.Decimal.Equal(ledger.Round(*in.Allocation))) {
			if err := s.ledger.SetAllocation(ctx, acct.ID, in.Allocation, key.Actor(), "api_put_account"); err != nil {
				return AccountView{}, false, err
			}
		}
	}
	if err := s.Limits.Set(ctx, acct.ID, Limits{RPM: in.RPM, TPM: in.TPM}); err != nil {
		return AccountView{}, false, err
	}
	if in.Verification != nil {
		if err := s.verifier.MarkVerifiedExternally(ctx, acct.ID, in.Verification.Reference, key.Actor()); err != nil {
			return AccountView{}, false, err
		}
	}
	s.forget(acct.ID)
	a, err := s.accountByID(ctx, acct.ID)
	if err != nil {
		return AccountView{}, false, err
	}
	v, err := s.view(ctx, a)
	return v, created, err
}

func (s *Service) view(ctx context.Context, a *accountInfo) (AccountView, error) {
	l, err := s.limit(ctx, a)
	if err != nil {
		return AccountView{}, err
	}
	v := AccountView{ID: a.acct.ID, Mode: a.acct.Mode, Kind: a.acct.Kind, Name: a.acct.Name,
		Status: a.acct.Status, RPM: l.RPM, TPM: l.TPM, Verified: a.verified, CreatedAt: a.acct.CreatedAt}
	if a.acct.ExternalID != nil {
		v.ExternalID = *a.acct.ExternalID
	}
	if a.acct.Allocation.Valid {
		d := a.acct.Allocation.Decimal
		v.Allocation = &d
	}
	if a.acct.ParentID != nil {
		p, err := s.ledger.Account(ctx, *a.acct.ParentID)
		if err != nil {
			return v, err
		}
		v.Parent = p.ExternalID
	}
	return v, nil
}

// GrantInput is the body of POST /v1/accounts/{external_id}/grants.
type GrantInput struct {
	Amount         decimal.Decimal `json:"amount"`
	Kind           ledger.LotKind  `json:"kind"`
	ExpiresAt      *time.Time      `json:"expires_at"`
	ReasonCode     string          `json:"reason_code"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// LotView is a lot as the API shows it.
type LotView struct {
	ID         int64           `json:"id"`
	Kind       ledger.LotKind  `json:"kind"`
	Amount     decimal.Decimal `json:"amount"`
	Remaining  decimal.Decimal `json:"remaining"`
	ExpiresAt  *time.Time      `json:"expires_at"`
	ReasonCode string          `json:"reason_code"`
	CreatedAt  time.Time       `json:"created_at"`
}

func lotView(l ledger.Lot) LotView {
	return LotView{ID: l.ID, Kind: l.Kind, Amount: l.Amount, Remaining: l.Remaining, ExpiresAt: l.ExpiresAt,
		ReasonCode: l.ReasonCode, CreatedAt: l.CreatedAt}
}

// Grant adds the platform's own promo or plan credit to the account. A
// retry with the same idempotency key and body returns the first lot.
// Errors: ErrNotFound, ErrInvalidRequest, ledger.ErrIdempotencyConflict.
func (s *Service) Grant(ctx context.Context, key Key, externalID string, in GrantInput) (LotView, error) {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return LotView{}, err
	}
	var f failures
	f.check(in.Kind == ledger.LotPromo || in.Kind == ledger.LotPlan, "kind", "promo or plan")
	f.check(in.Amount.IsPositive() && ledger.Round(in.Amount).Equal(in.Amount), "amount", "a positive amount with at most 6 decimal places")
	f.check(in.IdempotencyKey != "" && len(in.IdempotencyKey) <= 200, "idempotency_key", "1 to 200 characters")
	f.check(in.ReasonCode != "", "reason_code", "required")
	f.check(in.ExpiresAt == nil || in.ExpiresAt.After(s.now()), "expires_at", "must be in the future")
	if err := f.err(); err != nil {
		return LotView{}, err
	}
	res, err := s.ledger.Credit(ctx, ledger.CreditRequest{AccountID: a.acct.ID, Kind: in.Kind, Amount: in.Amount,
		ExpiresAt: in.ExpiresAt, EventType: ledger.EventGrant, SourceRef: "api_grant:" + in.IdempotencyKey,
		Actor: key.Actor(), ReasonCode: in.ReasonCode, IdempotencyKey: "grant:" + in.IdempotencyKey})
	if err != nil {
		return LotView{}, err
	}
	if res.Replayed && res.Lot.ReasonCode != "" && res.Lot.ReasonCode != in.ReasonCode {
		return LotView{}, ErrIdempotencyConflict
	}
	return lotView(res.Lot), nil
}

// BalanceView is GET /v1/accounts/{external_id}/balance.
type BalanceView struct {
	Account    string                             `json:"account"`
	Available  decimal.Decimal                    `json:"available"`
	Reserved   decimal.Decimal                    `json:"reserved"`
	ByKind     map[ledger.LotKind]decimal.Decimal `json:"by_kind"`
	Lots       []LotView                          `json:"lots"`
	Expiring   []ExpiringView                     `json:"expiring"`
	Allocation *decimal.Decimal                   `json:"allocation"`
}

// ExpiringView is how much credit expires at one instant.
type ExpiringView struct {
	At     time.Time       `json:"at"`
	Amount decimal.Decimal `json:"amount"`
}

// Balance returns the account's available and reserved credit, its lots in
// spending order and its expiry schedule. Errors: ErrNotFound.
func (s *Service) Balance(ctx context.Context, key Key, externalID string) (BalanceView, error) {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return BalanceView{}, err
	}
	b, err := s.ledger.Balance(ctx, a.acct.ID)
	if err != nil {
		return BalanceView{}, err
	}
	v := BalanceView{Account: externalID, Available: b.Available, Reserved: b.Reserved, Allocation: b.Allocation,
		ByKind: map[ledger.LotKind]decimal.Decimal{}, Lots: []LotView{}, Expiring: []ExpiringView{}}
	for _, k := range []ledger.LotKind{ledger.LotPaid, ledger.LotPromo, ledger.LotPlan, ledger.LotGrace} {
		v.ByKind[k] = b.ByKind[k]
	}
	for _, l := range b.Lots {
		v.Lots = append(v.Lots, lotView(l))
	}
	for _, e := range b.Expiring {
		v.Expiring = append(v.Expiring, ExpiringView{At: e.At, Amount: e.Amount})
	}
	return v, nil
}

// EventView is one ledger row as the API shows it.
type EventView struct {
	ID            int64            `json:"id"`
	Type          ledger.EventType `json:"type"`
	Amount        decimal.Decimal  `json:"amount"`
	BalanceAfter  decimal.Decimal  `json:"balance_after"`
	Unpaid        decimal.Decimal  `json:"unpaid"`
	LotID         *int64           `json:"lot_id"`
	LotKind       *ledger.LotKind  `json:"lot_kind"`
	ReservationID *int64           `json:"reservation_id"`
	Model         string           `json:"model"`
	SessionID     string           `json:"session_id"`
	Project       string           `json:"project"`
	Key           string           `json:"key"`
	RequestID     string           `json:"request_id"`
	ReasonCode    string           `json:"reason_code"`
	Detail        any              `json:"detail"`
	OccurredAt    time.Time        `json:"occurred_at"`
	RecordedAt    time.Time        `json:"recorded_at"`
}

// LedgerPage is one page of GET /v1/accounts/{external_id}/ledger.
type LedgerPage struct {
	Events     []EventView `json:"events"`
	NextCursor *string     `json:"next_cursor"`
}

// Ledger lists the account's events newest first, limit (1-200, default
// 50) at a time after cursor ("" for the first page). Errors: ErrNotFound,
// ErrInvalidRequest (a malformed cursor).
func (s *Service) Ledger(ctx context.Context, key Key, externalID string, cursor int64, limit int) (LedgerPage, error) {
	if limit <= 0 {
		limit = 50
	}
	if limit > 200 || cursor < 0 {
		return LedgerPage{}, invalid("limit", "1 to 200")
	}
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return LedgerPage{}, err
	}
	evs, next, err := s.ledger.Events(ctx, a.acct.ID, ledger.EventFilter{}, cursor, limit)
	if err != nil {
		return LedgerPage{}, err
	}
	p := LedgerPage{Events: make([]EventView, 0, len(evs))}
	for _, e := range evs {
		v := EventView{ID: e.ID, Type: e.Type, Amount: e.Amount, BalanceAfter: e.BalanceAfter, Unpaid: e.Unpaid,
			LotID: e.LotID, LotKind: e.LotKind, ReservationID: e.ReservationID, Model: e.Model, SessionID: e.SessionID,
			Project: e.Project, Key: e.Key, RequestID: e.RequestID, ReasonCode: e.ReasonCode, OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt}
		if len(e.Detail) > 0 {
			v.Detail = e.Detail
		}
		p.Events = append(p.Events, v)
	}
	if next != 0 {
		c := fmt.Sprint(next)
		p.NextCursor = &c
	}
	return p, nil
}

// RateCardView is GET /v1/rate-card.
type RateCardView struct {
	Version     int                  `json:"version"`
	EffectiveAt time.Time            `json:"effective_at"`
	Models      []pricing.ModelPrice `json:"models"`
	// AccountCard names the account's own card (or its enterprise's)
	// that prices the models listed, when GET /v1/rate-card?account=
	// names an account that has one.
	AccountCard *AccountCardRef `json:"account_card,omitempty"`
}

// AccountCardRef names an account rate card version.
type AccountCardRef struct {
	ID        int64            `json:"id"`
	Version   int              `json:"version"`
	Kind      pricing.CardKind `json:"kind"`
	AccountID string           `json:"account"` // the external id of the account it belongs to
}

// RateCard returns the card in force now. Errors: pricing.ErrNoRateCard.
func (s *Service) RateCard(ctx context.Context) (RateCardView, error) {
	c, err := s.pricing.InForce(ctx, s.now())
	if err != nil {
		return RateCardView{}, err
	}
	return RateCardView{Version: c.Version, EffectiveAt: c.EffectiveAt, Models: c.Models}, nil
}

// RateCardFor is the rate card as it prices the account with externalID
// now: every model of the public card in force, each priced by
// pricing.Resolve with the account's own card (or its enterprise's).
// Errors: ErrNotFound, pricing.ErrNoRateCard.
func (s *Service) RateCardFor(ctx context.Context, key Key, externalID string) (RateCardView, error) {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return RateCardView{}, err
	}
	now := s.now()
	c, err := s.pricing.InForce(ctx, now)
	if err != nil {
		return RateCardView{}, err
	}
	own, err := s.accountCardAt(ctx, a, now)
	if err != nil {
		return RateCardView{}, err
	}
	v := RateCardView{Version: c.Version, EffectiveAt: c.EffectiveAt, Models: make([]pricing.ModelPrice, 0, len(c.Models))}
	for _, m := range c.Models {
		q, err := pricing.Resolve(c, own, s.versionFunc(ctx), m.Model)
		if err != nil {
			return RateCardView{}, err
		}
		v.Models = append(v.Models, q.Price)
	}
	if own != nil {
		owner := a
		if own.AccountID != a.acct.ID {
			if owner, err = s.accountByID(ctx, own.AccountID); err != nil {
				return RateCardView{}, err
			}
		}
		ext := ""
		if owner.acct.ExternalID != nil {
			ext = *owner.acct.ExternalID
		}
		v.AccountCard = &AccountCardRef{ID: own.ID, Version: own.Version, Kind: own.Kind, AccountID: ext}
	}
	return v, nil
}

// PortalSession is a one-time sign-in link into the customer portal.
type PortalSession struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreatePortalSession issues a one-time portal link for the account.
// Errors: ErrNotFound.
func (s *Service) CreatePortalSession(ctx context.Context, key Key, externalID string) (PortalSession, error) {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return PortalSession{}, err
	}
	if s.portal == nil {
		return PortalSession{}, fmt.Errorf("gateway: portal sessions are not configured: %w", ErrNotFound)
	}
	token, exp, err := s.portal.CreatePortalLink(ctx, a.acct.ID, s.opts.PortalLinkTTL)
	if err != nil {
		return PortalSession{}, err
	}
	return PortalSession{URL: s.opts.PortalBaseURL + "/portal/link/" + token, ExpiresAt: exp}, nil
}
