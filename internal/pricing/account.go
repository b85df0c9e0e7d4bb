package pricing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// # Prices per customer
//
// An account may have its own rate card (an AccountCard), versioned and
// immutable like the public card: each change is a new version, in force
// from when it is written. Its Kind says how it prices a call:
//
//   - KindPinned: the prices of one published public version, kept when the
//     public card changes (grandfathered). A model that version does not
//     list is priced by the public card in force.
//   - KindDiscount: the public card in force, DiscountPct percent off every
//     rate of every model.
//   - KindCustom: its own lines; a model it does not list is priced by the
//     public card in force.
//   - KindNone: no own prices (how a card is taken away).
//
// A sub-account without a card of its own (or whose newest is KindNone)
// has its enterprise's. Resolve is the one place the rule is applied: the
// gateway calls it once per reservation and per usage event, and records
// the card that priced the call (Quote) on the charge; a commit prices with
// the same card again through Requote.
//
// Rounding: a discounted rate is rate × (100 − DiscountPct) / 100, exact
// (DiscountPct has at most two decimals, so nothing is lost); the cost of a
// call is then rounded once, half-even, to CreditScale decimals, as on the
// public card. A discount therefore never adds a second rounding.

// CardKind says how an account's own card prices its calls.
type CardKind string

// Card kinds.
const (
	KindNone     CardKind = "none"
	KindPinned   CardKind = "pinned"
	KindDiscount CardKind = "discount"
	KindCustom   CardKind = "custom"
)

// Valid reports whether k is one of the kinds.
func (k CardKind) Valid() bool {
	return k == KindNone || k == KindPinned || k == KindDiscount || k == KindCustom
}

// AccountCard is one version of an account's own rate card. One read from
// the database is immutable and may be shared; do not modify its Models.
type AccountCard struct {
	ID            int64           `json:"id"` // one id per version
	AccountID     int64           `json:"account_id"`
	Version       int             `json:"version"`
	Kind          CardKind        `json:"kind"`
	PinnedVersion int             `json:"pinned_version,omitempty"`
	DiscountPct   decimal.Decimal `json:"discount_pct"`
	Models        []ModelPrice    `json:"models,omitempty"`
	EffectiveAt   time.Time       `json:"effective_at"`
	CreatedAt     time.Time       `json:"created_at"`
	Actor         string          `json:"created_by"`
	Note          string          `json:"note"`
	ApprovalID    int64           `json:"approval_id,omitempty"`
}

// line is the card's line for model (custom cards), with its index.
func (c *AccountCard) line(model string) (ModelPrice, int, bool) {
	for i, m := range c.Models {
		if m.Model == model {
			return m, i, true
		}
	}
	return ModelPrice{}, 0, false
}

// More validation codes, for account cards (locales: error.rate_card.*).
const (
	CodeBadKind        = "rate_card.bad_kind"
	CodePinnedUnknown  = "rate_card.pinned_unknown"
	CodeDiscountRange  = "rate_card.discount_range"
	CodeModelNotPublic = "rate_card.model_not_public"
)

// MaxDiscountPlaces is the most decimals a discount percent may carry.
const MaxDiscountPlaces = 2

// Quote is how one call is priced: the line, the public version it comes
// from (or, for an account card, the public version in force beside it),
// the line's index, and the account card that priced it (Card 0: the
// public card did).
type Quote struct {
	Price       ModelPrice
	Version     int   // public version: the pinned one, else the one in force
	Index       int   // on the account card when Card is a custom card, else on public version Version
	Card        int64 // the account card's id (0: the public card priced the call)
	CardVersion int   // the account card's version
}

// InForceAt is the newest of cards (ascending by version) effective at
// `at`, or nil.
func InForceAt(cards []AccountCard, at time.Time) *AccountCard {
	i := sort.Search(len(cards), func(i int) bool { return cards[i].EffectiveAt.After(at) })
	if i == 0 {
		return nil
	}
	return &cards[i-1]
}

// Effective is the account card that prices an account's calls at `at`:
// its own in force, unless it has none (or KindNone), then its
// enterprise's (enterprise is nil for an account without one); nil means
// the public card.
func Effective(own, enterprise []AccountCard, at time.Time) *AccountCard {
	if c := InForceAt(own, at); c != nil && c.Kind != KindNone {
		return c
	}
	if c := InForceAt(enterprise, at); c != nil && c.Kind != KindNone {
		return c
	}
	return nil
}

// Resolve prices model for a call: public is the public card in force,
// own the account card from Effective (nil: none), and version returns a
// published public version (for a pinned card). Errors: ErrUnknownModel
// (on neither card), and version's errors.
func Resolve(public Card, own *AccountCard, version func(int) (Card, error), model string) (Quote, error) {
	if own != nil {
		switch own.Kind {
		case KindPinned:
			pc, err := version(own.PinnedVersion)
			if err != nil {
				return Quote{}, err
			}
			if p, i, ok := lineOf(pc, model); ok {
				return Quote{Price: p, Version: pc.Version, Index: i, Card: own.ID, CardVersion: own.Version}, nil
			}
		case KindDiscount:
			if p, i, ok := lineOf(public, model); ok {
				return Quote{Price: Discounted(p, own.DiscountPct), Version: public.Version, Index: i,
					Card: own.ID, CardVersion: own.Version}, nil
			}
		case KindCustom:
			if p, i, ok := own.line(model); ok {
				return Quote{Price: p, Version: public.Version, Index: i, Card: own.ID, CardVersion: own.Version}, nil
			}
		}
	}
	p, i, ok := lineOf(public, model)
	if !ok {
		return Quote{}, fmt.Errorf("%w: %q (rate card v%d)", ErrUnknownModel, model, public.Version)
	}
	return Quote{Price: p, Version: public.Version, Index: i}, nil
}

// Requote is the line a Quote priced with, again: public is public version
// q.Version and own the account card q.Card (nil when 0). It reports false
// when the index is not on the card (a forged or foreign token).
func Requote(public Card, own *AccountCard, index int) (ModelPrice, bool) {
	if own != nil && own.Kind == KindCustom {
		if index < 0 || index >= len(own.Models) {
			return ModelPrice{}, false
		}
		return own.Models[index], true
	}
	if index < 0 || index >= len(public.Models) {
		return ModelPrice{}, false
	}
	p := public.Models[index]
	if own != nil && own.Kind == KindDiscount {
		p = Discounted(p, own.DiscountPct)
	}
	return p, true
}

func lineOf(c Card, model string) (ModelPrice, int, bool) {
	if c.byModel != nil {
		i, ok := c.byModel[model]
		if !ok {
			return ModelPrice{}, 0, false
		}
		return c.Models[i], i, true
	}
	for i, m := range c.Models {
		if m.Model == model {
			return m, i, true
		}
	}
	return ModelPrice{}, 0, false
}

var hundred = decimal.NewFromInt(100)

// Discounted is p with pct percent off every rate, exact (see the package
// note on rounding).
func Discounted(p ModelPrice, pct decimal.Decimal) ModelPrice {
	f := hundred.Sub(pct)
	off := func(d decimal.Decimal) decimal.Decimal { return d.Mul(f).Shift(-2) }
	p.InputPer1K, p.OutputPer1K = off(p.InputPer1K), off(p.OutputPer1K)
	p.CacheHitPer1K, p.PerRequest = off(p.CacheHitPer1K), off(p.PerRequest)
	return p
}

// DepthOf is how far below the public card in force c prices at most, in
// percent (0 when nowhere below): the discount, or for a pinned or custom
// card the largest (1 − own rate / public rate) × 100 over the rates the
// public card charges for. The back office compares it with the discount
// limit (maker-checker). version returns a published public version.
func DepthOf(c AccountCard, public Card, version func(int) (Card, error)) (decimal.Decimal, error) {
	var lines []ModelPrice
	switch c.Kind {
	case KindDiscount:
		return c.DiscountPct, nil
	case KindPinned:
		pc, err := version(c.PinnedVersion)
		if err != nil {
			return decimal.Zero, err
		}
		lines = pc.Models
	case KindCustom:
		lines = c.Models
	default:
		return decimal.Zero, nil
	}
	depth := decimal.Zero
	for _, own := range lines {
		pub, _, ok := lineOf(public, own.Model)
		if !ok {
			continue
		}
		pairs := [][2]decimal.Decimal{{own.InputPer1K, pub.InputPer1K}, {own.OutputPer1K, pub.OutputPer1K},
			{own.CacheHitPer1K, pub.CacheHitPer1K}, {own.PerRequest, pub.PerRequest}}
		for _, p := range pairs {
			if !p[1].IsPositive() {
				continue
			}
			d := decimal.NewFromInt(1).Sub(p[0].DivRound(p[1], 8)).Mul(hundred)
			if d.GreaterThan(depth) {
				depth = d
			}
		}
	}
	return depth.Round(2), nil
}

// ValidateAccountCard checks c against the public card in force: a known
// kind; a pinned version that is published; a discount above 0 and below
// 100 with at most two decimals; custom lines that are well-formed, unique,
// name models of the public card and keep their billing type. version
// returns a published public version (ErrNoRateCard when there is none).
// Errors: *ValidationError (errors.Is ErrInvalidCard).
func ValidateAccountCard(c AccountCard, public Card, version func(int) (Card, error)) error {
	if c.Actor == "" {
		return &ValidationError{Code: CodeNoActor}
	}
	switch c.Kind {
	case KindNone:
	case KindPinned:
		if c.PinnedVersion <= 0 {
			return &ValidationError{Code: CodePinnedUnknown}
		}
		if _, err := version(c.PinnedVersion); err != nil {
			return &ValidationError{Code: CodePinnedUnknown}
		}
	case KindDiscount:
		if !c.DiscountPct.IsPositive() || !c.DiscountPct.LessThan(hundred) ||
			!c.DiscountPct.Equal(c.DiscountPct.Round(MaxDiscountPlaces)) {
			return &ValidationError{Code: CodeDiscountRange}
		}
	case KindCustom:
		if len(c.Models) == 0 {
			return &ValidationError{Code: CodeNoModels}
		}
		seen := make(map[string]bool, len(c.Models))
		for _, m := range c.Models {
			if err := validatePrice(m); err != nil {
				return err
			}
			if seen[m.Model] {
				return &ValidationError{Code: CodeDuplicateModel, Model: m.Model}
			}
			seen[m.Model] = true
			pub, _, ok := lineOf(public, m.Model)
			if !ok {
				return &ValidationError{Code: CodeModelNotPublic, Model: m.Model}
			}
			if pub.BillingType != m.BillingType {
				return &ValidationError{Code: CodeBadBillingType, Model: m.Model}
			}
		}
	default:
		return &ValidationError{Code: CodeBadKind}
	}
	return nil
}

// Version returns published public version v (cached like InForce).
// Errors: ErrNoRateCard when no such version is known.
func (s *Service) Version(ctx context.Context, v int) (Card, error) {
	c, ok, err := s.Schedule.Version(ctx, v)
	if err == nil && !ok {
		err = fmt.Errorf("%w: version %d", ErrNoRateCard, v)
	}
	return c, err
}

// VersionFunc is Version bound to ctx, for Resolve, DepthOf and
// ValidateAccountCard.
func (s *Service) VersionFunc(ctx context.Context) func(int) (Card, error) {
	return func(v int) (Card, error) { return s.Version(ctx, v) }
}

const selectAccountCards = `
SELECT c.id, c.account_id, c.version, c.kind, coalesce(c.pinned_version, 0), coalesce(c.discount_pct, 0)::text,
       c.effective_at, c.created_at, c.created_by, c.note, coalesce(c.approval_id, 0),
       p.model, p.billing_type, p.input_per_1k::text, p.output_per_1k::text, p.cache_hit_per_1k::text, p.per_request::text
FROM account_rate_cards c
LEFT JOIN account_rate_card_prices p ON p.card_id = c.id
WHERE `

// AccountCards returns every version of the account's own card, oldest
// first (one indexed query; the gateway caches it with the account).
func (s *Service) AccountCards(ctx context.Context, accountID int64) ([]AccountCard, error) {
	return s.accountCards(ctx, s.pool, selectAccountCards+`c.account_id = $1 ORDER BY c.version, p.model`, accountID)
}

// AccountCardsTx is AccountCards on tx (inside the caller's transaction).
func (s *Service) AccountCardsTx(ctx context.Context, tx db.DBTX, accountID int64) ([]AccountCard, error) {
	return s.accountCards(ctx, tx, selectAccountCards+`c.account_id = $1 ORDER BY c.version, p.model`, accountID)
}

// AccountCard returns one account card version by id. Errors: ErrNotFound.
func (s *Service) AccountCard(ctx context.Context, id int64) (AccountCard, error) {
	cards, err := s.accountCards(ctx, s.pool, selectAccountCards+`c.id = $1 ORDER BY p.model`, id)
	if err != nil {
		return AccountCard{}, err
	}
	if len(cards) == 0 {
		return AccountCard{}, fmt.Errorf("%w: account card %d", ErrNotFound, id)
	}
	return cards[0], nil
}

// ErrNotFound: no such account card.
var ErrNotFound = errors.New("pricing: not found")

func (s *Service) accountCards(ctx context.Context, q db.DBTX, sql string, arg int64) ([]AccountCard, error) {
	rows, err := q.Query(ctx, sql, arg)
	if err != nil {
		return nil, fmt.Errorf("pricing: account cards: %w", err)
	}
	type row struct {
		ID, AccountID                       int64
		Version                             int
		Kind                                string
		Pinned                              int
		Discount                            decimal.Decimal
		EffectiveAt, CreatedAt              time.Time
		CreatedBy, Note                     string
		ApprovalID                          int64
		Model, BillingType                  *string
		Input, Output, CacheHit, PerRequest *decimal.Decimal
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return nil, fmt.Errorf("pricing: account cards: %w", err)
	}
	var out []AccountCard
	for _, r := range got {
		if len(out) == 0 || out[len(out)-1].ID != r.ID {
			out = append(out, AccountCard{ID: r.ID, AccountID: r.AccountID, Version: r.Version, Kind: CardKind(r.Kind),
				PinnedVersion: r.Pinned, DiscountPct: r.Discount, EffectiveAt: r.EffectiveAt.UTC(), CreatedAt: r.CreatedAt.UTC(),
				Actor: r.CreatedBy, Note: r.Note, ApprovalID: r.ApprovalID})
		}
		if r.Model != nil {
			c := &out[len(out)-1]
			c.Models = append(c.Models, ModelPrice{Model: *r.Model, BillingType: BillingType(*r.BillingType),
				InputPer1K: *r.Input, OutputPer1K: *r.Output, CacheHitPer1K: *r.CacheHit, PerRequest: *r.PerRequest})
		}
	}
	return out, nil
}

// lockAccountCards serialises writers of one account's card versions.
const lockAccountCards = `SELECT pg_advisory_xact_lock(hashtextextended('pricing.account_card', $1))`

const insertAccountCard = `
INSERT INTO account_rate_cards (account_id, version, kind, pinned_version, discount_pct, created_by, note, approval_id)
SELECT $1, coalesce(max(version), 0) + 1, $2, nullif($3, 0), $4::numeric, $5, $6, nullif($7, 0::bigint)
FROM account_rate_cards WHERE account_id = $1
RETURNING id, version, effective_at, created_at`

const insertAccountPrice = `
INSERT INTO account_rate_card_prices (card_id, model, billing_type, input_per_1k, output_per_1k, cache_hit_per_1k, per_request)
VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6::numeric, $7::numeric)`

// SetAccountCardTx validates c (ValidateAccountCard against the public
// card in force) and stores it as the account's next version, in force at
// once, inside the caller's transaction; it returns the stored card. The
// caller audits it in the same transaction and then calls Changed.
// Errors: *ValidationError (errors.Is ErrInvalidCard), ErrNoRateCard,
// database errors wrapped with "pricing: set account card:".
func (s *Service) SetAccountCardTx(ctx context.Context, tx pgx.Tx, c AccountCard) (AccountCard, error) {
	public, err := s.InForce(ctx, s.Now())
	if err != nil {
		return c, err
	}
	if err := ValidateAccountCard(c, public, s.VersionFunc(ctx)); err != nil {
		return c, err
	}
	if _, err := tx.Exec(ctx, lockAccountCards, c.AccountID); err != nil {
		return c, fmt.Errorf("pricing: set account card: %w", err)
	}
	var discount *string
	if c.Kind == KindDiscount {
		d := c.DiscountPct.String()
		discount = &d
	}
	if err := tx.QueryRow(ctx, insertAccountCard, c.AccountID, string(c.Kind), c.PinnedVersion, discount, c.Actor, c.Note,
		c.ApprovalID).Scan(&c.ID, &c.Version, &c.EffectiveAt, &c.CreatedAt); err != nil {
		return c, fmt.Errorf("pricing: set account card: %w", err)
	}
	c.EffectiveAt, c.CreatedAt = c.EffectiveAt.UTC(), c.CreatedAt.UTC()
	if c.Kind != KindCustom {
		c.Models = nil
		return c, nil
	}
	batch := &pgx.Batch{}
	for _, m := range c.Models {
		batch.Queue(insertAccountPrice, c.ID, m.Model, string(m.BillingType),
			m.InputPer1K.String(), m.OutputPer1K.String(), m.CacheHitPer1K.String(), m.PerRequest.String())
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return c, fmt.Errorf("pricing: set account card: %w", err)
	}
	return c, nil
}

// CodeBadLine: a line of custom prices is not "model input output
// cache_hit" (a token model) or "model price" (a per-request model).
const CodeBadLine = "rate_card.bad_line"

// LineError says which line of custom prices ParseLines refused (1-based)
// and why (CodeBadLine or CodeModelNotPublic).
type LineError struct {
	Line  int
	Model string
	Code  string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("pricing: custom prices line %d (%q): %s", e.Line, e.Model, e.Code)
}

// ParseLines reads custom prices as staff type them, one model a line:
// "model input output cache_hit" (credits per 1,000 tokens) for a token
// model of the public card, "model price" (credits per call) for a
// per-request one; fields are separated by spaces, tabs or commas, blank
// lines are skipped, and the billing type is the public card's. Errors:
// *LineError for the first line it cannot read.
func ParseLines(text string, public Card) ([]ModelPrice, error) {
	var out []ModelPrice
	for n, raw := range strings.Split(text, "\n") {
		f := strings.FieldsFunc(raw, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' })
		if len(f) == 0 {
			continue
		}
		pub, _, ok := lineOf(public, f[0])
		if !ok {
			return nil, &LineError{Line: n + 1, Model: f[0], Code: CodeModelNotPublic}
		}
		nums := make([]decimal.Decimal, 0, 3)
		for _, s := range f[1:] {
			d, err := format.ParseDecimal(s)
			if err != nil {
				return nil, &LineError{Line: n + 1, Model: f[0], Code: CodeBadLine}
			}
			nums = append(nums, d)
		}
		p := ModelPrice{Model: pub.Model, BillingType: pub.BillingType}
		switch {
		case pub.BillingType == BillingToken && len(nums) == 3:
			p.InputPer1K, p.OutputPer1K, p.CacheHitPer1K = nums[0], nums[1], nums[2]
		case pub.BillingType == BillingPerRequest && len(nums) == 1:
			p.PerRequest = nums[0]
		case pub.BillingType == BillingFree && len(nums) == 0:
		default:
			return nil, &LineError{Line: n + 1, Model: f[0], Code: CodeBadLine}
		}
		out = append(out, p)
	}
	return out, nil
}

// FormatLines writes lines in the syntax ParseLines reads.
func FormatLines(lines []ModelPrice) string {
	var b strings.Builder
	for _, m := range lines {
		b.WriteString(m.Model)
		switch m.BillingType {
		case BillingToken:
			fmt.Fprintf(&b, " %s %s %s", m.InputPer1K, m.OutputPer1K, m.CacheHitPer1K)
		case BillingPerRequest:
			fmt.Fprintf(&b, " %s", m.PerRequest)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
