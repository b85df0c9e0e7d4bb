package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

// reservationToken is what the API calls a reservation id: the ledger
// reservation, its account, the rate-card version and the model's index on
// that (immutable) card, in the key's mode, signed with HMAC-SHA256. A
// commit or release therefore needs no lookup before its one ledger call,
// and a key of the other mode (or a forged id) gets ErrNotFound.
type reservationToken struct {
	mode        ledger.Mode
	free        bool  // a free model's call: reservation is its gateway_free_calls row
	quota       bool  // a call paid by plan quota: reservation is its plan_quota_uses row
	reservation int64 // the ledger reservation (or free call); 0 in tokens issued before free calls were recorded
	account     int64
	version     int
	model       int
	card        int64 // the account card that priced the call (pricing.Quote.Card); 0: the public card
	cost        int   // the cost card in force at the reservation (costs.Card.Version); 0: none
}

const tokenPrefix = "rsv_"
const tokenMACLen = 12

func (s *Service) encodeToken(t reservationToken) string {
	b := make([]byte, 0, 48)
	kind := byte(1)
	switch {
	case t.free:
		kind = 2
	case t.quota:
		kind = 3
	}
	b = append(b, kind, modeByte(t.mode))
	b = binary.AppendUvarint(b, uint64(t.reservation))
	b = binary.AppendUvarint(b, uint64(t.account))
	b = binary.AppendUvarint(b, uint64(t.version))
	b = binary.AppendUvarint(b, uint64(t.model))
	if t.card != 0 || t.cost != 0 {
		b = binary.AppendUvarint(b, uint64(t.card))
	}
	if t.cost != 0 {
		b = binary.AppendUvarint(b, uint64(t.cost))
	}
	b = append(b, s.mac(b)...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) decodeToken(mode ledger.Mode, id string) (reservationToken, error) {
	if len(id) <= len(tokenPrefix) || id[:len(tokenPrefix)] != tokenPrefix {
		return reservationToken{}, ErrNotFound
	}
	b, err := base64.RawURLEncoding.DecodeString(id[len(tokenPrefix):])
	if err != nil || len(b) < 2+4+tokenMACLen {
		return reservationToken{}, ErrNotFound
	}
	body, sig := b[:len(b)-tokenMACLen], b[len(b)-tokenMACLen:]
	if !hmac.Equal(sig, s.mac(body)) || body[0] < 1 || body[0] > 3 || body[1] != modeByte(mode) {
		return reservationToken{}, ErrNotFound
	}
	t := reservationToken{mode: mode, free: body[0] == 2, quota: body[0] == 3}
	rest := body[2:]
	var vals [4]uint64
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return reservationToken{}, ErrNotFound
		}
		vals[i], rest = v, rest[n:]
	}
	t.reservation, t.account, t.version, t.model = int64(vals[0]), int64(vals[1]), int(vals[2]), int(vals[3])
	// Then the account card that priced the call and the cost card, each
	// when present (tokens from before either end earlier).
	for i := 0; len(rest) > 0; i++ {
		v, n := binary.Uvarint(rest)
		if n <= 0 || i > 1 {
			return reservationToken{}, ErrNotFound
		}
		if i == 0 {
			t.card = int64(v)
		} else {
			t.cost = int(v)
		}
		rest = rest[n:]
	}
	return t, nil
}

func (s *Service) mac(b []byte) []byte {
	m, _ := s.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, s.opts.Secret)
	}
	m.Reset() // back to the keyed state
	m.Write([]byte("reservation\x00"))
	m.Write(b)
	sum := m.Sum(make([]byte, 0, sha256.Size))[:tokenMACLen]
	s.macs.Put(m)
	return sum
}

func modeByte(m ledger.Mode) byte {
	if m == ledger.ModeLive {
		return 'L'
	}
	return 'T'
}

// card returns a published version (immutable, cached forever).
func (s *Service) card(ctx context.Context, version int) (pricing.Card, error) {
	if v, ok := s.cards.Load(version); ok {
		return v.(pricing.Card), nil
	}
	cards, err := s.pricing.Versions(ctx)
	if err != nil {
		return pricing.Card{}, err
	}
	for _, c := range cards {
		s.cards.Store(c.Version, c)
	}
	if v, ok := s.cards.Load(version); ok {
		return v.(pricing.Card), nil
	}
	return pricing.Card{}, fmt.Errorf("gateway: rate card version %d: %w", version, ErrNotFound)
}

// accountCard returns an account card version by id (immutable, cached
// forever); id 0 is no card (nil). Errors: ErrNotFound.
func (s *Service) accountCard(ctx context.Context, id int64) (*pricing.AccountCard, error) {
	if id == 0 {
		return nil, nil
	}
	if v, ok := s.acards.Load(id); ok {
		c := v.(pricing.AccountCard)
		return &c, nil
	}
	c, err := s.pricing.AccountCard(ctx, id)
	if errors.Is(err, pricing.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	s.acards.Store(id, c)
	return &c, nil
}

// quote prices a call of model at `at` for account a, once, by
// pricing.Resolve: the public card in force and the account card in force
// (its own, else its enterprise's), both from memory (an account's cards
// are cached with it). Errors: pricing.ErrNoRateCard,
// pricing.ErrUnknownModel.
func (s *Service) quote(ctx context.Context, a *accountInfo, model string, at time.Time) (pricing.Quote, error) {
	card, err := s.pricing.InForce(ctx, at)
	if err != nil {
		return pricing.Quote{}, err
	}
	own, err := s.accountCardAt(ctx, a, at)
	if err != nil {
		return pricing.Quote{}, err
	}
	return pricing.Resolve(card, own, s.versionFunc(ctx), model)
}

// accountCardAt is the account card in force for a at `at`
// (pricing.Effective over its cached cards and its enterprise's); nil:
// the public card.
func (s *Service) accountCardAt(ctx context.Context, a *accountInfo, at time.Time) (*pricing.AccountCard, error) {
	var enterprise []pricing.AccountCard
	if a.acct.ParentID != nil {
		parent, err := s.accountByID(ctx, *a.acct.ParentID)
		if err != nil {
			return nil, err
		}
		enterprise = parent.cards
	}
	return pricing.Effective(a.cards, enterprise, at), nil
}

// versionFunc looks up published public versions (cached for good).
func (s *Service) versionFunc(ctx context.Context) func(int) (pricing.Card, error) {
	return func(v int) (pricing.Card, error) { return s.card(ctx, v) }
}

// priced is the line the call of t was priced with at its reservation
// (pricing.Requote), and the account card that priced it (nil: the public
// card). Errors: ErrNotFound.
func (s *Service) priced(ctx context.Context, t reservationToken) (pricing.ModelPrice, *pricing.AccountCard, error) {
	card, err := s.card(ctx, t.version)
	if err != nil {
		return pricing.ModelPrice{}, nil, err
	}
	own, err := s.accountCard(ctx, t.card)
	if err != nil {
		return pricing.ModelPrice{}, nil, err
	}
	p, ok := pricing.Requote(card, own, t.model)
	if !ok {
		return pricing.ModelPrice{}, nil, ErrNotFound
	}
	return p, own, nil
}

// ReserveInput is the body of POST /v1/reservations.
type ReserveInput struct {
	Account         string `json:"account"`
	Model           string `json:"model"`
	MaxInputTokens  int64  `json:"max_input_tokens"`
	MaxOutputTokens int64  `json:"max_output_tokens"`
	IdempotencyKey  string `json:"idempotency_key"`
	SessionID       string `json:"session_id"`
	// Project and Key label the call (at most 100 characters each, no
	// control characters): they are stored with it, shown in the usage
	// views, and name the budgets it counts in (see ledger.Budget).
	Project string `json:"project,omitempty"`
	Key     string `json:"key,omitempty"`
}

// ReservationView is a reservation as the API shows it.
type ReservationView struct {
	ID              string          `json:"id"`
	Reserved        decimal.Decimal `json:"reserved"`
	ExpiresAt       time.Time       `json:"expires_at"`
	RateCardVersion int             `json:"rate_card_version"`
	// PaidBy says what holds the call: quota of a plan item, or credits
	// (plan lots and the wallet).
	PaidBy PaidBy `json:"paid_by"`
	// ShadowRefusal names the refusal shadow mode let through
	// (insufficient_credits, budget_exceeded, concurrency_limit,
	// allocation_exceeded, plan_quota_exhausted); absent when none.
	ShadowRefusal string `json:"shadow_refusal,omitempty"`
}

// reserveDetail is stored on the reservation's ledger event:
// {"max_input_tokens":…,"max_output_tokens":…,"rate_card_version":…}, and
// "account_card_id" and "account_card_version" when an account card
// priced the call.
// The ledger compares it (as a JSON document) on an idempotent retry, with
// the account, amount, model and session, so a retry replays only when the
// whole request body is the same (see Reserve).
func reserveDetail(maxIn, maxOut int64, q pricing.Quote) json.RawMessage {
	b := make([]byte, 0, 128)
	b = append(b, `{"max_input_tokens":`...)
	b = strconv.AppendInt(b, maxIn, 10)
	b = append(b, `,"max_output_tokens":`...)
	b = strconv.AppendInt(b, maxOut, 10)
	b = append(b, `,"rate_card_version":`...)
	b = strconv.AppendInt(b, int64(q.Version), 10)
	b = appendCard(b, q.Card, q.CardVersion)
	return append(b, '}')
}

// appendCard appends the account card fields of a detail (none for 0).
func appendCard(b []byte, id int64, version int) []byte {
	if id == 0 {
		return b
	}
	b = append(b, `,"account_card_id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"account_card_version":`...)
	return strconv.AppendInt(b, int64(version), 10)
}

// hash fingerprints the body for a free model's call, whose idempotency
// the gateway keeps itself (gateway_free_calls.request_hash).
func (in ReserveInput) hash() string {
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

func (in ReserveInput) validate() error {
	switch {
	case in.Account == "":
		return invalid("account", "required")
	case in.Model == "":
		return invalid("model", "required")
	case !pricing.CountsInRange(in.MaxInputTokens, in.MaxOutputTokens):
		return invalid("max_input_tokens", "token counts are 0 to 1,000,000,000")
	case in.IdempotencyKey == "" || len(in.IdempotencyKey) > 200:
		return invalid("idempotency_key", "1 to 200 characters")
	case len(in.SessionID) > 200:
		return invalid("session_id", "at most 200 characters")
	case !ledger.ValidLabel(in.Project):
		return invalid("project", "at most 100 characters, no control characters or surrounding spaces")
	case !ledger.ValidLabel(in.Key):
		return invalid("key", "at most 100 characters, no control characters or surrounding spaces")
	}
	return nil
}

// Reserve holds max_input × input rate + max_output × output rate of the
// model on the card in force, after the account's rate limit and the
// verification gate. A retry with the same idempotency key and body returns
// the first reservation; another body gets ledger.ErrIdempotencyConflict.
// Errors: ErrNotFound, ErrInvalidRequest, *RateLimitedError,
// ErrVerificationRequired, pricing.ErrUnknownModel, pricing.ErrNoRateCard,
// ledger.ErrInsufficientCredits, ledger.ErrAllocationExceeded,
// ErrModelNotAllowed, ledger.ErrAccountFrozen, ledger.ErrIdempotencyConflict (ErrIdempotencyConflict
// for a free model's call), ledger.ErrBudgetExceeded (*ledger.BudgetExceededError:
// a hard-stop budget over the account, project or key is full; a call
// quota pays spends no credits and counts in no budget).
func (s *Service) Reserve(ctx context.Context, key Key, in ReserveInput) (ReservationView, error) {
	if err := in.validate(); err != nil {
		return ReservationView{}, err
	}
	a, err := s.account(ctx, key.Mode, in.Account)
	if err != nil {
		return ReservationView{}, err
	}
	return s.reserve(ctx, key, a, in)
}

// reserve is Reserve once the account is known.
func (s *Service) reserve(ctx context.Context, key Key, a *accountInfo, in ReserveInput) (ReservationView, error) {
	if err := s.modelAllowed(ctx, a, in.Model); err != nil {
		return ReservationView{}, err
	}
	if err := s.allow(ctx, a, in.MaxInputTokens+in.MaxOutputTokens); err != nil {
		return ReservationView{}, err
	}
	q, err := s.quote(ctx, a, in.Model, s.now())
	if err != nil {
		return ReservationView{}, err
	}
	c, err := s.cover(ctx, a, in.Model)
	if err != nil {
		return ReservationView{}, err
	}
	credits := func(shadow string) (ReservationView, error) {
		return s.reserveCredits(ctx, key, a, in, q, shadow)
	}
	if c.Covered() {
		if v, handled, err := s.reserveWithPlan(ctx, key, a, in, c, q, credits); handled {
			return v, err
		}
	}
	return credits("")
}

// reserveCredits is Reserve paid by credits (or recorded free).
// shadow is a refusal of the caller's own that shadow mode lets through
// (recorded with the hold).
func (s *Service) reserveCredits(ctx context.Context, key Key, a *accountInfo, in ReserveInput, q pricing.Quote,
	shadow string) (ReservationView, error) {
	version := q.Version
	hold := pricing.ReservationHold(q.Price, in.MaxInputTokens, in.MaxOutputTokens)
	tok := reservationToken{mode: key.Mode, account: a.acct.ID, version: version, model: q.Index, card: q.Card,
		cost: s.costVersion(ctx, s.now())}
	if !hold.IsPositive() { // a free model: nothing to hold, but the call is recorded
		id, stored, _, err := s.recordFree(ctx, a.acct, freeCall{key: "rsv:" + in.IdempotencyKey, hash: in.hash(),
			model: in.Model, session: in.SessionID, version: version, state: freeReserved, at: s.now()})
		if err != nil {
			return ReservationView{}, err
		}
		tok.free, tok.reservation = true, id
		if stored != version { // a retry of a call reserved on an earlier card
			if tok.model, err = s.modelIndex(ctx, stored, in.Model); err != nil {
				return ReservationView{}, err
			}
			tok.version, tok.card = stored, 0
		}
		return ReservationView{ID: s.encodeToken(tok), Reserved: decimal.Zero,
			ExpiresAt: s.now().Add(s.opts.ReservationTTL), RateCardVersion: tok.version}, nil
	}
	// The ledger's idempotency covers every argument: the account (the
	// key's scope), the amount, model, session and the detail (token
	// maxima and rate-card version). A replay therefore had this very body
	// on this very card, and a retry with another body gets
	// ledger.ErrIdempotencyConflict (the API's 409 idempotency_conflict).
	res, err := s.ledger.Reserve(ctx, ledger.ReserveRequest{AccountID: a.acct.ID, Amount: hold,
		IdempotencyKey: "rsv:" + in.IdempotencyKey, TTL: s.opts.ReservationTTL, Model: in.Model,
		SessionID: in.SessionID, Detail: reserveDetail(in.MaxInputTokens, in.MaxOutputTokens, q),
		Project: in.Project, Key: in.Key, ShadowRefusal: shadow})
	if err != nil {
		return ReservationView{}, verificationRequired(err)
	}
	tok.reservation = res.ID
	return ReservationView{ID: s.encodeToken(tok), Reserved: res.Amount, ExpiresAt: res.ExpiresAt,
		RateCardVersion: tok.version, PaidBy: creditsPaid(res.Amount, res.PlanHeld()), ShadowRefusal: res.ShadowRefusal}, nil
}

// allow counts one call of tokens against the account's bucket and, for a
// sub-account, also against its enterprise's bucket (shared with the
// enterprise's own calls and its other sub-accounts), both or neither: a
// call the enterprise's bucket refuses costs the sub-account's nothing.
// Errors: *RateLimitedError naming the bucket that refused.
func (s *Service) allow(ctx context.Context, a *accountInfo, tokens int64) error {
	err := s.allowOnce(ctx, a, tokens)
	if !errors.Is(err, ErrRateLimited) {
		return err
	}
	// Refused on what this process cached: a payment may have just moved
	// the pool to a higher tier. With tiers in force, read the pool's
	// cumulative recharge (one query); when it moved, read the account
	// again and ask once more, so the raise applies at once.
	tiers, terr := s.tierTable(ctx)
	if terr != nil || len(tiers) == 0 {
		return err
	}
	pool, perr := s.accountByID(ctx, a.acct.PoolID)
	if perr != nil {
		return err
	}
	now, perr := s.ledger.Account(ctx, a.acct.PoolID)
	if perr != nil || now.PaidFen == pool.acct.PaidFen {
		return err
	}
	s.forget(a.acct.ID)
	s.forget(a.acct.PoolID)
	fresh, ferr := s.accountByID(ctx, a.acct.ID)
	if ferr != nil {
		return ferr
	}
	return s.allowOnce(ctx, fresh, tokens)
}

// allowOnce is allow on the account as given.
func (s *Service) allowOnce(ctx context.Context, a *accountInfo, tokens int64) error {
	own, err := s.limit(ctx, a)
	if err != nil {
		return err
	}
	checks := []ratelimit.Check{{Key: bucketKey(a.acct.ID), Limit: own}}
	if a.acct.Kind == ledger.AccountSub && a.acct.ParentID != nil {
		parent, err := s.accountByID(ctx, *a.acct.ParentID)
		if err != nil {
			return err
		}
		pl, err := s.limit(ctx, parent)
		if err != nil {
			return err
		}
		checks = append(checks, ratelimit.Check{Key: bucketKey(parent.acct.ID), Limit: pl})
	}
	d, err := s.limiter.AllowAll(ctx, tokens, checks...)
	if err != nil {
		return fmt.Errorf("gateway: rate limit: %w", err)
	}
	if !d.Allowed {
		return &RateLimitedError{RetryAfter: d.RetryAfter, Enterprise: d.Refused == 1}
	}
	return nil
}

// modelAllowed checks the model against the account's allow-list and, for
// a sub-account, its enterprise's (both cached with the account).
// Errors: ErrModelNotAllowed.
func (s *Service) modelAllowed(ctx context.Context, a *accountInfo, model string) error {
	if a.models != nil && !slices.Contains(a.models, model) {
		return fmt.Errorf("%w: %q", ErrModelNotAllowed, model)
	}
	if s.models == nil || a.acct.ParentID == nil {
		return nil
	}
	parent, err := s.accountByID(ctx, *a.acct.ParentID)
	if err != nil {
		return err
	}
	if parent.models != nil && !slices.Contains(parent.models, model) {
		return fmt.Errorf("%w: %q", ErrModelNotAllowed, model)
	}
	return nil
}

func bucketKey(accountID int64) string { return "acct:" + strconv.FormatInt(accountID, 10) }

// modelIndex is the model's index on a published card version.
func (s *Service) modelIndex(ctx context.Context, version int, model string) (int, error) {
	c, err := s.card(ctx, version)
	if err != nil {
		return 0, err
	}
	_, idx, err := priceOf(c, model)
	return idx, err
}

func priceOf(card pricing.Card, model string) (pricing.ModelPrice, int, error) {
	for i, m := range card.Models {
		if m.Model == model {
			return m, i, nil
		}
	}
	return pricing.ModelPrice{}, 0, fmt.Errorf("%w: %q", pricing.ErrUnknownModel, model)
}

// verificationRequired answers a ledger refusal of an account in trial
// (ledger.ErrTrial: paid credit, or past the trial cap) as
// ErrVerificationRequired, keeping the ledger's error in the chain.
func verificationRequired(err error) error {
	if errors.Is(err, ledger.ErrTrial) {
		return fmt.Errorf("%w: %w", ErrVerificationRequired, err)
	}
	return err
}

// Outcomes of a call, given at commit.
const (
	OutcomeCompleted          = "completed"
	OutcomeClientDisconnected = "client_disconnected"
	OutcomeUpstreamError      = "upstream_error"
)

// CommitInput is the body of POST /v1/reservations/{id}/commit.
type CommitInput struct {
	InputTokens    int64  `json:"input_tokens"`
	OutputTokens   int64  `json:"output_tokens"`
	CacheHitTokens int64  `json:"cache_hit_tokens"`
	Outcome        string `json:"outcome"`
	// Upstream names the provider that served the call, when the relay
	// (internal/relay) commits it; recorded in the charge's detail for the
	// margin report by upstream. Not part of the API body.
	Upstream string `json:"-"`
}

// CommitView is what a commit charged and gave back.
type CommitView struct {
	Charged   decimal.Decimal `json:"charged"`
	Released  decimal.Decimal `json:"released"`
	Unpaid    decimal.Decimal `json:"unpaid"`
	Available decimal.Decimal `json:"available"`
	// PaidBy says what paid the call: quota of a plan item (and credits
	// for tokens beyond it), or credits (plan lots and the wallet).
	PaidBy PaidBy `json:"paid_by"`
}

// UsageDetail is the detail JSON of every commit and usage charge; the
// portal reads usage from it (a contract: keep the field names).
type UsageDetail struct {
	InputTokens     int64  `json:"input_tokens"`
	OutputTokens    int64  `json:"output_tokens"`
	CacheHitTokens  int64  `json:"cache_hit_tokens"`
	Requests        int64  `json:"requests"`
	RateCardVersion int    `json:"rate_card_version"`
	Outcome         string `json:"outcome"`
	// AccountCardID and AccountCardVersion name the account card that
	// priced the call (pricing.Quote); absent when the public card did.
	AccountCardID      int64 `json:"account_card_id,omitempty"`
	AccountCardVersion int   `json:"account_card_version,omitempty"`
	// CostVersion is the cost card that costed the call and Cost what the
	// platform pays upstream for what this charge prices, in RMB with
	// costs.Scale decimals (costs.Cost); both absent when no cost card was
	// in force or it has no line for the model.
	CostVersion int    `json:"cost_version,omitempty"`
	Cost        string `json:"cost,omitempty"`
	// Upstream is the provider that served the call (relay calls only).
	Upstream string `json:"upstream,omitempty"`
}

// withCost is d costed by cost card version v (0: none) on model's line,
// for the same tokens and requests it prices.
func (s *Service) withCost(ctx context.Context, d UsageDetail, v int, model string) UsageDetail {
	d.CostVersion, d.Cost = s.cost(ctx, v, model, d.InputTokens, d.OutputTokens, d.CacheHitTokens, d.Requests)
	return d
}

// cost is what a call costs upstream on cost card version v, model's line:
// the version and the RMB amount (costs.Scale decimals), or 0 and "" when
// there is no version, or no line for the model. Served from memory.
func (s *Service) cost(ctx context.Context, v int, model string, in, out, cache, requests int64) (int, string) {
	if v == 0 || s.costs == nil {
		return 0, ""
	}
	card, err := s.costs.Version(ctx, v)
	if err != nil {
		return 0, "" // a cost is information, never a reason to refuse a charge
	}
	line, ok := card.Line(model)
	if !ok {
		return 0, ""
	}
	return v, costs.Cost(line, in, out, cache, requests).StringFixed(costs.Scale)
}

// costVersion is the cost card in force at `at`, from memory (0: none).
func (s *Service) costVersion(ctx context.Context, at time.Time) int {
	if s.costs == nil {
		return 0
	}
	c, err := s.costs.InForce(ctx, at)
	if err != nil {
		return 0
	}
	return c.Version
}

// usageDetail is the detail of a call priced on public version version and
// account card card (nil: none).
func usageDetail(in, out, cache, requests int64, version int, outcome string, card *pricing.AccountCard) UsageDetail {
	d := UsageDetail{InputTokens: in, OutputTokens: out, CacheHitTokens: cache, Requests: requests,
		RateCardVersion: version, Outcome: outcome}
	if card != nil {
		d.AccountCardID, d.AccountCardVersion = card.ID, card.Version
	}
	return d
}

// appendJSON appends d as json.Marshal writes it (the outcome is one of
// the Outcome constants, so needs no escaping), without reflection.
func (d UsageDetail) appendJSON(b []byte) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, d.InputTokens, 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, d.OutputTokens, 10)
	b = append(b, `,"cache_hit_tokens":`...)
	b = strconv.AppendInt(b, d.CacheHitTokens, 10)
	b = append(b, `,"requests":`...)
	b = strconv.AppendInt(b, d.Requests, 10)
	b = append(b, `,"rate_card_version":`...)
	b = strconv.AppendInt(b, int64(d.RateCardVersion), 10)
	b = append(b, `,"outcome":`...)
	b = strconv.AppendQuote(b, d.Outcome)
	b = appendCard(b, d.AccountCardID, d.AccountCardVersion)
	if d.CostVersion != 0 {
		b = append(b, `,"cost_version":`...)
		b = strconv.AppendInt(b, int64(d.CostVersion), 10)
		b = append(b, `,"cost":"`...)
		b = append(b, d.Cost...)
		b = append(b, '"')
	}
	if d.Upstream != "" {
		name, _ := json.Marshal(d.Upstream) // a name staff typed: escaped as JSON
		b = append(append(b, `,"upstream":`...), name...)
	}
	return append(b, '}')
}

// Commit charges the tokens the call used at the reservation's rate card
// and releases the rest of the hold. outcome completed (default) and
// client_disconnected charge the tokens given (and one request, for a
// per-request model); upstream_error charges nothing unless tokens are
// given. Committing again with the same tokens returns the first result;
// with other tokens, ledger.ErrIdempotencyConflict. Errors: ErrNotFound,
// ErrInvalidRequest, ledger.ErrReservationClosed (released),
// ledger.ErrIdempotencyConflict.
func (s *Service) Commit(ctx context.Context, key Key, id string, in CommitInput) (CommitView, error) {
	t, err := s.decodeToken(key.Mode, id)
	if err != nil {
		return CommitView{}, err
	}
	if !pricing.CountsInRange(in.InputTokens, in.OutputTokens, in.CacheHitTokens) {
		return CommitView{}, invalid("input_tokens", "token counts are 0 to 1,000,000,000")
	}
	if in.Outcome == "" {
		in.Outcome = OutcomeCompleted
	}
	var requests int64 = 1
	switch in.Outcome {
	case OutcomeCompleted, OutcomeClientDisconnected:
	case OutcomeUpstreamError:
		if in.InputTokens+in.OutputTokens+in.CacheHitTokens == 0 {
			requests = 0
		}
	default:
		return CommitView{}, invalid("outcome", "completed, client_disconnected or upstream_error")
	}
	price, own, err := s.priced(ctx, t)
	if err != nil {
		return CommitView{}, err
	}
	amount := pricing.UsageCost(price, in.InputTokens, in.OutputTokens, in.CacheHitTokens, requests)
	if t.free {
		return s.commitFree(ctx, t, in, requests)
	}
	if t.quota {
		return s.commitQuota(ctx, t, price, own, in, requests)
	}
	if t.reservation == 0 { // a free model's token from before free calls were recorded
		b, err := s.ledger.Balance(ctx, t.account)
		if err != nil {
			return CommitView{}, err
		}
		return CommitView{Available: b.Available}, nil
	}
	d := s.withCost(ctx, usageDetail(in.InputTokens, in.OutputTokens, in.CacheHitTokens, requests, t.version, in.Outcome, own),
		t.cost, price.Model)
	d.Upstream = in.Upstream
	detail := d.appendJSON(make([]byte, 0, 240))
	res, err := s.ledger.Commit(ctx, ledger.CommitRequest{ReservationID: t.reservation, Actual: amount, Detail: detail})
	if errors.Is(err, ledger.ErrNotFound) {
		return CommitView{}, ErrNotFound
	}
	if err != nil {
		return CommitView{}, err
	}
	return CommitView{Charged: res.Charged, Released: res.Released, Unpaid: res.Unpaid, Available: res.Available,
		PaidBy: creditsPaid(res.Charged, res.PlanCharged)}, nil
}

// ReleaseView is what a release gave back.
type ReleaseView struct {
	Released  decimal.Decimal `json:"released"`
	Available decimal.Decimal `json:"available"`
}

// Release frees a reservation without charging; releasing twice returns
// the first result. Errors: ErrNotFound, ledger.ErrReservationClosed
// (committed, or closed by the expiry sweep).
func (s *Service) Release(ctx context.Context, key Key, id string) (ReleaseView, error) {
	t, err := s.decodeToken(key.Mode, id)
	if err != nil {
		return ReleaseView{}, err
	}
	if t.free {
		return s.releaseFree(ctx, t)
	}
	if t.quota {
		return s.releaseQuota(ctx, t)
	}
	if t.reservation == 0 {
		b, err := s.ledger.Balance(ctx, t.account)
		if err != nil {
			return ReleaseView{}, err
		}
		return ReleaseView{Available: b.Available}, nil
	}
	res, err := s.ledger.Release(ctx, t.reservation)
	if errors.Is(err, ledger.ErrNotFound) {
		return ReleaseView{}, ErrNotFound
	}
	if err != nil {
		return ReleaseView{}, err
	}
	return ReleaseView{Released: res.Released, Available: res.Available}, nil
}
