// Package costs owns the cost cards: versioned, immutable lists of what the
// platform pays its upstream providers for each model, and the cost every
// charge records beside its price (README "Upstream cost and margin").
//
// A cost card has the rate card's shape (internal/pricing): each model's line
// is token (input, output and cache-hit rates per 1,000 tokens), per_request
// or free, and a call is costed by pricing.UsageCost — the same buckets and
// the same rounding as its price. Only the unit differs: a cost card's rates
// are RMB, not credits. So a cost is RMB, the exact sum rounded once,
// half-even, to Scale (6) decimal places (¥0.000001), and reports round their
// totals half-even to the fen only when they show them.
package costs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
	"github.com/seed75218f88/credits/internal/platform/snapshot"
	"github.com/seed75218f88/credits/internal/pricing"
)

// Scale is the number of decimal places a recorded cost carries (RMB).
const Scale = pricing.CreditScale

// Line is one model's cost: pricing's line shape, with rates in RMB.
type Line = pricing.ModelPrice

// Cost is the RMB the platform pays upstream for a call of line's model:
// pricing.UsageCost over the cost line (input tokens that missed the cache,
// output tokens, cache-hit tokens, requests for a per_request model), the
// exact sum rounded once, half-even, to Scale places.
func Cost(line Line, input, output, cacheHit, requests int64) decimal.Decimal {
	return pricing.UsageCost(line, input, output, cacheHit, requests)
}

// Card is one version of the cost card. A card read from the database is
// immutable and may be shared between goroutines; do not modify its Models.
type Card struct {
	Version     int       `json:"version"`
	EffectiveAt time.Time `json:"effective_at"`
	CreatedAt   time.Time `json:"created_at"`
	Actor       string    `json:"created_by"`
	Note        string    `json:"note"`
	Models      []Line    `json:"models"`

	byModel map[string]int
}

// Line returns the model's cost line and whether the card has one.
func (c Card) Line(model string) (Line, bool) {
	if c.byModel != nil {
		i, ok := c.byModel[model]
		if !ok {
			return Line{}, false
		}
		return c.Models[i], true
	}
	for _, m := range c.Models {
		if m.Model == model {
			return m, true
		}
	}
	return Line{}, false
}

// Errors returned by this package. Callers match them with errors.Is.
var (
	// ErrNoCostCard: no cost card is in force at the requested time.
	ErrNoCostCard = errors.New("costs: no cost card in force")
	// ErrNotFound: no such version.
	ErrNotFound = errors.New("costs: not found")
	// ErrInvalidCard: a card offered to Publish breaks a rule; the
	// *ValidationError that wraps it says which.
	ErrInvalidCard = errors.New("costs: invalid cost card")
)

// Validation error codes (stable: the back office maps them to messages in
// locales/costs.*.toml).
const (
	CodeNoModels          = "cost_card.no_models"
	CodeBadModelName      = "cost_card.bad_model_name"
	CodeDuplicateModel    = "cost_card.duplicate_model"
	CodeBadBillingType    = "cost_card.bad_billing_type"
	CodeNegativePrice     = "cost_card.negative_price"
	CodeBadPriceShape     = "cost_card.bad_price_shape"
	CodeNoActor           = "cost_card.no_actor"
	CodeEffectiveInPast   = "cost_card.effective_in_past"
	CodeEffectiveNotAfter = "cost_card.effective_not_after_previous"
)

// ValidationError says why a card was refused: a Code and the Model it
// concerns, if any. It matches ErrInvalidCard with errors.Is.
type ValidationError struct {
	Code  string
	Model string
}

func (e *ValidationError) Error() string {
	if e.Model != "" {
		return fmt.Sprintf("costs: invalid cost card: %s (model %q)", e.Code, e.Model)
	}
	return "costs: invalid cost card: " + e.Code
}

// Is makes errors.Is(err, ErrInvalidCard) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidCard }

// ValidateLine checks one line as Publish does (pricing's shapes), with this
// package's codes. Errors: *ValidationError.
func ValidateLine(l Line) error {
	var pe *pricing.ValidationError
	if err := pricing.ValidateLine(l); errors.As(err, &pe) {
		return &ValidationError{Code: "cost_card." + strings.TrimPrefix(pe.Code, "rate_card."), Model: pe.Model}
	} else if err != nil {
		return err
	}
	return nil
}

// ValidateCard checks a card as Publish does before it writes: an actor,
// at least one line, each well-formed, no model twice. Errors:
// *ValidationError.
func ValidateCard(card Card) error { return validateCard(card) }

func validateCard(card Card) error {
	if card.Actor == "" {
		return &ValidationError{Code: CodeNoActor}
	}
	if len(card.Models) == 0 {
		return &ValidationError{Code: CodeNoModels}
	}
	seen := make(map[string]bool, len(card.Models))
	for _, m := range card.Models {
		if err := ValidateLine(m); err != nil {
			return err
		}
		if seen[m.Model] {
			return &ValidationError{Code: CodeDuplicateModel, Model: m.Model}
		}
		seen[m.Model] = true
	}
	return nil
}

// Service publishes cost cards and answers which is in force, from an
// in-memory schedule of every version refreshed every Refresh interval (the
// design of pricing.Service): costing a charge never waits for the database.
type Service struct {
	pool *pgxpool.Pool
	// Refresh is how often the cache checks for versions published
	// elsewhere (pricing.DefaultRefresh; set before first use).
	Refresh time.Duration
	// Now is the clock used to decide when the cache is stale (time.Now).
	Now func() time.Time

	cache snapshot.Refreshing[schedule]
}

type schedule struct {
	cards     []Card // ascending by EffectiveAt (and so by Version)
	maxVer    int
	checkedAt time.Time
}

// New returns a Service on pool.
func New(pool *pgxpool.Pool) *Service {
	return &Service{pool: pool, Refresh: pricing.DefaultRefresh, Now: time.Now}
}

// Publish stores card as the next version and returns its number. It takes
// effect at card.EffectiveAt, which must be no earlier than now (minus
// pricing.PastTolerance, by the database clock) and strictly after the
// previous version's, so the cost already recorded on a charge stays the cost
// of the card in force at its time.
//
// Errors: *ValidationError (errors.Is ErrInvalidCard); database errors
// wrapped with "costs: publish:".
func (s *Service) Publish(ctx context.Context, card Card) (int, error) {
	if err := validateCard(card); err != nil {
		return 0, err
	}
	var version int
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		version, err = s.PublishTx(ctx, tx, card)
		return err
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return 0, err
		}
		return 0, fmt.Errorf("costs: publish: %w", err)
	}
	s.Forget()
	return version, nil
}

// PublishTx is Publish inside the caller's transaction (the back office
// audits it in the same one); call Forget after the commit so this
// instance sees the card at once. Errors: as Publish, unwrapped.
func (s *Service) PublishTx(ctx context.Context, tx pgx.Tx, card Card) (int, error) {
	if err := validateCard(card); err != nil {
		return 0, err
	}
	// One publisher at a time: versions and effective times stay in order.
	if _, err := tx.Exec(ctx, lockVersions); err != nil {
		return 0, err
	}
	var version int
	var prevEffective *time.Time
	var tooEarly bool
	if err := tx.QueryRow(ctx, lastVersion, card.EffectiveAt, pricing.PastTolerance.Seconds()).Scan(&version, &prevEffective, &tooEarly); err != nil {
		return 0, err
	}
	if tooEarly {
		return 0, &ValidationError{Code: CodeEffectiveInPast}
	}
	if prevEffective != nil && !card.EffectiveAt.After(*prevEffective) {
		return 0, &ValidationError{Code: CodeEffectiveNotAfter}
	}
	version++
	if _, err := tx.Exec(ctx, insertVersion, version, card.EffectiveAt, card.Actor, card.Note); err != nil {
		return 0, err
	}
	batch := &pgx.Batch{}
	for _, m := range card.Models {
		batch.Queue(insertPrice, version, m.Model, string(m.BillingType),
			m.InputPer1K.String(), m.OutputPer1K.String(), m.CacheHitPer1K.String(), m.PerRequest.String())
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return 0, err
	}
	// Every other process reads the schedule again when this commits.
	return version, invalidate.Publish(ctx, tx, invalidate.CostCard, "")
}

// Forget drops the cached schedule: the next read loads every version.
func (s *Service) Forget() { s.cache.Forget() }

const lockVersions = `SELECT pg_advisory_xact_lock(hashtextextended('costs.publish', 0))`

const lastVersion = `
SELECT coalesce(max(version), 0),
       max(effective_at),
       $1::timestamptz < now() - $2::float8 * interval '1 second'
FROM cost_card_versions`

const insertVersion = `
INSERT INTO cost_card_versions (version, effective_at, created_by, note)
VALUES ($1, $2, $3, $4)`

const insertPrice = `
INSERT INTO cost_card_prices (version, model, billing_type, input_per_1k, output_per_1k, cache_hit_per_1k, per_request)
VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6::numeric, $7::numeric)`

// InForce returns the card in force at `at`: the version with the latest
// effective time not after `at`, from memory (the database is asked at most
// once per Refresh, and only for newer versions).
//
// Errors: ErrNoCostCard; database errors wrapped with "costs: cost card:"
// (only when nothing is cached yet).
func (s *Service) InForce(ctx context.Context, at time.Time) (Card, error) {
	sch, err := s.current(ctx)
	if err != nil {
		return Card{}, err
	}
	i := sort.Search(len(sch.cards), func(i int) bool { return sch.cards[i].EffectiveAt.After(at) })
	if i == 0 {
		return Card{}, fmt.Errorf("%w at %s", ErrNoCostCard, at.UTC().Format(time.RFC3339))
	}
	return sch.cards[i-1], nil
}

// Version returns a published version, from memory once known.
// Errors: ErrNotFound.
func (s *Service) Version(ctx context.Context, version int) (Card, error) {
	sch, err := s.current(ctx)
	if err != nil {
		return Card{}, err
	}
	if version > sch.maxVer { // published elsewhere since the last look
		s.cache.Forget()
		if sch, err = s.current(ctx); err != nil {
			return Card{}, err
		}
	}
	for _, c := range sch.cards {
		if c.Version == version {
			return c, nil
		}
	}
	return Card{}, fmt.Errorf("%w: cost card v%d", ErrNotFound, version)
}

// Versions returns every published version, oldest first.
func (s *Service) Versions(ctx context.Context) ([]Card, error) {
	sch, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return append([]Card(nil), sch.cards...), nil
}

// current returns a fresh-enough schedule; see pricing.Service.
func (s *Service) current(ctx context.Context) (*schedule, error) {
	sch, err := s.cache.Get(ctx, func(sch *schedule) bool { return s.Now().Sub(sch.checkedAt) < s.Refresh }, s.refresh)
	if err != nil {
		return nil, fmt.Errorf("costs: cost card: %w", err)
	}
	return sch, nil
}

func (s *Service) refresh(ctx context.Context, old *schedule) (*schedule, error) {
	after := 0
	var cards []Card
	if old != nil {
		after, cards = old.maxVer, old.cards
	}
	checked := s.Now()
	rows, err := s.pool.Query(ctx, selectNewVersions, after)
	if err != nil {
		return nil, err
	}
	type row struct {
		Version       int
		EffectiveAt   time.Time
		CreatedAt     time.Time
		CreatedBy     string
		Note          string
		Model         string
		BillingType   string
		InputPer1K    decimal.Decimal
		OutputPer1K   decimal.Decimal
		CacheHitPer1K decimal.Decimal
		PerRequest    decimal.Decimal
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return nil, err
	}
	if len(got) == 0 && old != nil {
		return &schedule{cards: old.cards, maxVer: old.maxVer, checkedAt: checked}, nil
	}
	next := make([]Card, len(cards), len(cards)+1)
	copy(next, cards)
	maxVer := after
	for _, r := range got {
		if len(next) == len(cards) || next[len(next)-1].Version != r.Version {
			next = append(next, Card{Version: r.Version, EffectiveAt: r.EffectiveAt.UTC(), CreatedAt: r.CreatedAt.UTC(),
				Actor: r.CreatedBy, Note: r.Note, byModel: map[string]int{}})
		}
		c := &next[len(next)-1]
		c.byModel[r.Model] = len(c.Models)
		c.Models = append(c.Models, Line{Model: r.Model, BillingType: pricing.BillingType(r.BillingType),
			InputPer1K: r.InputPer1K, OutputPer1K: r.OutputPer1K, CacheHitPer1K: r.CacheHitPer1K, PerRequest: r.PerRequest})
		maxVer = max(maxVer, r.Version)
	}
	sort.SliceStable(next, func(i, j int) bool { return next[i].EffectiveAt.Before(next[j].EffectiveAt) })
	return &schedule{cards: next, maxVer: maxVer, checkedAt: checked}, nil
}

const selectNewVersions = `
SELECT v.version, v.effective_at, v.created_at, v.created_by, v.note,
       p.model, p.billing_type,
       p.input_per_1k::text, p.output_per_1k::text, p.cache_hit_per_1k::text, p.per_request::text
FROM cost_card_versions v
JOIN cost_card_prices p ON p.version = v.version
WHERE v.version > $1
ORDER BY v.version, p.model`

// DemoFraction is the share of the public list price the demo cost card
// says the platform pays: a made-up wholesale discount for development
// data, not a known cost. Publish real costs before reading margins.
var DemoFraction = decimal.RequireFromString("0.6")

// DemoCardNote is recorded with the demo card `seed` publishes.
const DemoCardNote = "Demo cost card: 60 % of the public list prices (internal/pricing/default.go), not real costs"

// DemoCard is the card `seed` publishes: each line of the default rate card
// (pricing.DefaultCard, the vendors' RMB list prices) at DemoFraction of its
// RMB price. EffectiveAt and Actor are the caller's to set.
func DemoCard() Card {
	def := pricing.DefaultCardAt(pricing.DefaultCreditPriceRMB)
	toRMB := pricing.DefaultCreditPriceRMB.Mul(DemoFraction)
	lines := make([]Line, 0, len(def.Models))
	for _, m := range def.Models {
		lines = append(lines, Line{Model: m.Model, BillingType: m.BillingType,
			InputPer1K: m.InputPer1K.Mul(toRMB), OutputPer1K: m.OutputPer1K.Mul(toRMB),
			CacheHitPer1K: m.CacheHitPer1K.Mul(toRMB), PerRequest: m.PerRequest.Mul(toRMB)})
	}
	return Card{Note: DemoCardNote, Models: lines}
}

// EnsureDemo publishes DemoCard, effective now, unless some version exists;
// it returns the version in force now. `seed` calls it, so running seed
// twice publishes one card. Errors: as Publish and InForce.
func (s *Service) EnsureDemo(ctx context.Context, actor string) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cost_card_versions)`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("costs: ensure demo: %w", err)
	}
	if !exists {
		card := DemoCard()
		card.Actor, card.EffectiveAt = actor, time.Now()
		if _, err := s.Publish(ctx, card); err != nil && !errors.Is(err, ErrInvalidCard) {
			return 0, err
		}
	}
	c, err := s.InForce(ctx, time.Now())
	if err != nil {
		return 0, err
	}
	return c.Version, nil
}
