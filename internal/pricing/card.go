package pricing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
)

// Card is one version of the rate card. A card read from the database is
// immutable and may be shared between goroutines; do not modify its Models.
type Card struct {
	Version     int          `json:"version"`
	EffectiveAt time.Time    `json:"effective_at"`
	CreatedAt   time.Time    `json:"created_at"`
	Actor       string       `json:"created_by"`
	Note        string       `json:"note"`
	Models      []ModelPrice `json:"models"`

	byModel map[string]int // index into Models; nil on cards built by hand
}

// Price returns the model's line on the card, or ErrUnknownModel.
func (c Card) Price(model string) (ModelPrice, error) {
	if p, _, ok := lineOf(c, model); ok {
		return p, nil
	}
	return ModelPrice{}, fmt.Errorf("%w: %q (rate card v%d)", ErrUnknownModel, model, c.Version)
}

// Line returns the model's line on the card and whether the card has one.
func (c Card) Line(model string) (ModelPrice, bool) {
	p, _, ok := lineOf(c, model)
	return p, ok
}

// Price returns model's line on card, or ErrUnknownModel. Same as card.Price.
func Price(card Card, model string) (ModelPrice, error) { return card.Price(model) }

// PastTolerance is how far in the past a new card's effective time may lie
// (clock skew between the publisher and the database). A card must not take
// effect earlier, or charges already recorded under the previous version would
// no longer match the card in force at their time.
const PastTolerance = 5 * time.Second

// DefaultRefresh is how often InForce looks for versions published by other
// server instances. Publish cards at least this long before they take effect
// so that every instance switches at the same instant.
const DefaultRefresh = 5 * time.Second

// Service publishes rate cards and answers which card is in force, from an
// in-memory schedule of every version (Schedule: Refresh, Now and Forget
// are its).
type Service struct {
	pool db.Querier
	Schedule
}

// New returns a Service on pool.
func New(pool db.Querier) *Service {
	return &Service{pool: pool, Schedule: NewSchedule(pool, "rate_card_versions", "rate_card_prices", "pricing: rate card")}
}

// Publish stores card as the next version and returns its number. The card
// takes effect at card.EffectiveAt, which must be no earlier than now (minus
// PastTolerance, by the database clock) and strictly after the previous
// version's effective time. Models must be non-empty, unique, and each line
// well-formed for its billing type. Actor names who published it.
//
// Errors: *ValidationError (errors.Is ErrInvalidCard) with one of the Code*
// constants; database errors wrapped with "pricing: publish:".
func (s *Service) Publish(ctx context.Context, card Card) (int, error) {
	if err := validateCard(card); err != nil {
		return 0, err
	}
	var version int
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// One publisher at a time: versions and effective times stay in order.
		if _, err := tx.Exec(ctx, lockVersions); err != nil {
			return err
		}
		var prevEffective *time.Time
		var tooEarly bool
		if err := tx.QueryRow(ctx, lastVersion, card.EffectiveAt, PastTolerance.Seconds()).Scan(&version, &prevEffective, &tooEarly); err != nil {
			return err
		}
		if tooEarly {
			return &ValidationError{Code: CodeEffectiveInPast}
		}
		if prevEffective != nil && !card.EffectiveAt.After(*prevEffective) {
			return &ValidationError{Code: CodeEffectiveNotAfter}
		}
		version++
		if _, err := tx.Exec(ctx, insertVersion, version, card.EffectiveAt, card.Actor, card.Note); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for _, m := range card.Models {
			batch.Queue(insertPrice, version, m.Model, string(m.BillingType),
				m.InputPer1K.String(), m.OutputPer1K.String(), m.CacheHitPer1K.String(), m.PerRequest.String())
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		// Every other process reads the schedule again at once.
		return invalidate.Publish(ctx, tx, invalidate.RateCard, "")
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return 0, err
		}
		return 0, fmt.Errorf("pricing: publish: %w", err)
	}
	s.Forget() // this instance sees its own card at once
	return version, nil
}

// lockVersions serialises publishers on a transaction-level advisory lock
// (LOCK TABLE in this mode would need UPDATE or DELETE on the table, which
// the application role does not have on an append-only table).
const lockVersions = `SELECT pg_advisory_xact_lock(hashtextextended('pricing.publish', 0))`

const lastVersion = `
SELECT coalesce(max(version), 0),
       max(effective_at),
       $1::timestamptz < now() - $2::float8 * interval '1 second'
FROM rate_card_versions`

const insertPrice = `
INSERT INTO rate_card_prices (version, model, billing_type, input_per_1k, output_per_1k, cache_hit_per_1k, per_request)
VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6::numeric, $7::numeric)`

const insertVersion = `
INSERT INTO rate_card_versions (version, effective_at, created_by, note)
VALUES ($1, $2, $3, $4)`

func validateCard(card Card) error {
	if card.Actor == "" {
		return &ValidationError{Code: CodeNoActor}
	}
	if len(card.Models) == 0 {
		return &ValidationError{Code: CodeNoModels}
	}
	seen := make(map[string]bool, len(card.Models))
	for _, m := range card.Models {
		if err := validatePrice(m); err != nil {
			return err
		}
		if seen[m.Model] {
			return &ValidationError{Code: CodeDuplicateModel, Model: m.Model}
		}
		seen[m.Model] = true
	}
	return nil
}

// InForce returns the card in force at `at`: the version with the latest
// effective time not after `at`. It is served from memory; the database is
// asked at most once per Refresh interval, and then only for versions newer
// than those already known.
//
// Errors: ErrNoRateCard when no version is effective at `at`; database errors
// wrapped with "pricing: rate card:" (only when nothing is cached yet).
func (s *Service) InForce(ctx context.Context, at time.Time) (Card, error) {
	c, ok, err := s.Schedule.InForce(ctx, at)
	if err == nil && !ok {
		err = fmt.Errorf("%w at %s", ErrNoRateCard, at.UTC().Format(time.RFC3339))
	}
	return c, err
}

// EnsureDefault publishes DefaultCardAt(creditPriceRMB), effective now, unless
// some version already exists; it returns the version in force now. `seed`
// calls it, so running seed twice publishes one card.
//
// Errors: as Publish and InForce.
func (s *Service) EnsureDefault(ctx context.Context, actor string, creditPriceRMB decimal.Decimal) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rate_card_versions)`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("pricing: ensure default: %w", err)
	}
	if !exists {
		card := DefaultCardAt(creditPriceRMB)
		card.Actor = actor
		card.EffectiveAt = time.Now()
		if _, err := s.Publish(ctx, card); err != nil && !errors.Is(err, ErrInvalidCard) {
			return 0, err
		}
		// ErrInvalidCard here means a concurrent seed published first.
	}
	c, err := s.InForce(ctx, time.Now())
	if err != nil {
		return 0, err
	}
	return c.Version, nil
}

// RefreshDefault publishes DefaultCardAt(creditPriceRMB), effective now, when
// the newest version is a default card that `seed` published from an earlier
// release's list and this release's list differs from it (a price corrected,
// a retired model replaced). A newest version published by anyone else is
// never superseded. It returns the version in force now and whether it
// published. `seed` calls it outside production, so a development database
// follows the list; production cards change only when someone publishes.
//
// Errors: as Publish and InForce.
func (s *Service) RefreshDefault(ctx context.Context, actor string, creditPriceRMB decimal.Decimal) (int, bool, error) {
	versions, err := s.Versions(ctx)
	if err != nil {
		return 0, false, err
	}
	published := false
	byVersion := func(a, b Card) int { return a.Version - b.Version }
	if len(versions) > 0 {
		newest := slices.MaxFunc(versions, byVersion)
		want := DefaultCardAt(creditPriceRMB)
		if newest.Note == DefaultCardNote && newest.Actor == actor && !samePrices(newest.Models, want.Models) {
			want.Actor = actor
			// Now, or just after the newest if that one is scheduled later.
			want.EffectiveAt = time.Now()
			if !want.EffectiveAt.After(newest.EffectiveAt) {
				want.EffectiveAt = newest.EffectiveAt.Add(time.Microsecond)
			}
			if _, err := s.Publish(ctx, want); err != nil {
				return 0, false, err
			}
			published = true
		}
	}
	c, err := s.InForce(ctx, time.Now())
	if err != nil {
		return 0, false, err
	}
	return c.Version, published, nil
}

// samePrices reports whether two cards price the same models alike.
func samePrices(a, b []ModelPrice) bool {
	if len(a) != len(b) {
		return false
	}
	index := make(map[string]ModelPrice, len(a))
	for _, m := range a {
		index[m.Model] = m
	}
	for _, m := range b {
		o, ok := index[m.Model]
		if !ok || o.BillingType != m.BillingType || !o.InputPer1K.Equal(m.InputPer1K) || !o.OutputPer1K.Equal(m.OutputPer1K) ||
			!o.CacheHitPer1K.Equal(m.CacheHitPer1K) || !o.PerRequest.Equal(m.PerRequest) {
			return false
		}
	}
	return true
}
