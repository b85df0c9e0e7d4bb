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
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
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

// Card is one version of the cost card: pricing's card shape, with rates
// in RMB. A card read from the database is immutable and may be shared
// between goroutines; do not modify its Models.
type Card = pricing.Card

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
// in-memory schedule of every version (pricing.Schedule, as the rate card):
// costing a charge never waits for the database.
type Service struct {
	pool db.Querier
	pricing.Schedule
}

// New returns a Service on pool.
func New(pool db.Querier) *Service {
	return &Service{pool: pool, Schedule: pricing.NewSchedule(pool, "cost_card_versions", "cost_card_prices", "costs: cost card")}
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
	c, ok, err := s.Schedule.InForce(ctx, at)
	if err == nil && !ok {
		err = fmt.Errorf("%w at %s", ErrNoCostCard, at.UTC().Format(time.RFC3339))
	}
	return c, err
}

// Version returns a published version, from memory once known.
// Errors: ErrNotFound.
func (s *Service) Version(ctx context.Context, version int) (Card, error) {
	c, ok, err := s.Schedule.Version(ctx, version)
	if err == nil && !ok {
		err = fmt.Errorf("%w: cost card v%d", ErrNotFound, version)
	}
	return c, err
}

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
