package pricing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
	"github.com/seed75218f88/credits/internal/platform/snapshot"
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
	if c.byModel != nil {
		if i, ok := c.byModel[model]; ok {
			return c.Models[i], nil
		}
		return ModelPrice{}, fmt.Errorf("%w: %q (rate card v%d)", ErrUnknownModel, model, c.Version)
	}
	for _, m := range c.Models {
		if m.Model == model {
			return m, nil
		}
	}
	return ModelPrice{}, fmt.Errorf("%w: %q (rate card v%d)", ErrUnknownModel, model, c.Version)
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
// in-memory schedule of every version refreshed every Refresh interval.
type Service struct {
	pool *pgxpool.Pool
	// Refresh is how often the cache checks for versions published elsewhere
	// (DefaultRefresh; set before first use).
	Refresh time.Duration
	// Now is the clock used to decide when the cache is stale (time.Now).
	Now func() time.Time

	cache snapshot.Refreshing[schedule]
}

// schedule is every known version in ascending effective order.
type schedule struct {
	cards     []Card // ascending by EffectiveAt (and so by Version)
	maxVer    int
	checkedAt time.Time
}

// New returns a Service on pool.
func New(pool *pgxpool.Pool) *Service {
	return &Service{pool: pool, Refresh: DefaultRefresh, Now: time.Now}
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
	s.cache.Forget() // this instance sees its own card at once
	return version, nil
}

// Forget drops the cached schedule: the next read loads every version
// (another process published one: invalidate.RateCard).
func (s *Service) Forget() { s.cache.Forget() }

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
	sch, err := s.current(ctx)
	if err != nil {
		return Card{}, err
	}
	// First card effective after `at`, then step back one.
	i := sort.Search(len(sch.cards), func(i int) bool { return sch.cards[i].EffectiveAt.After(at) })
	if i == 0 {
		return Card{}, fmt.Errorf("%w at %s", ErrNoRateCard, at.UTC().Format(time.RFC3339))
	}
	return sch.cards[i-1], nil
}

// Versions returns every published version, oldest first (for the back
// office's history page).
func (s *Service) Versions(ctx context.Context) ([]Card, error) {
	sch, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return append([]Card(nil), sch.cards...), nil
}

// current returns a fresh-enough schedule. When the cached one is stale, one
// caller refreshes while the others keep using it; only the very first load
// (or one right after Publish) makes callers wait.
func (s *Service) current(ctx context.Context) (*schedule, error) {
	sch, err := s.cache.Get(ctx, func(sch *schedule) bool { return s.Now().Sub(sch.checkedAt) < s.Refresh }, s.refresh)
	if err != nil {
		return nil, fmt.Errorf("pricing: rate card: %w", err)
	}
	return sch, nil
}

// refresh loads the versions newer than old's and returns the merged schedule.
func (s *Service) refresh(ctx context.Context, old *schedule) (*schedule, error) {
	after := 0
	var cards []Card
	if old != nil {
		after = old.maxVer
		cards = old.cards
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
			next = append(next, Card{
				Version: r.Version, EffectiveAt: r.EffectiveAt.UTC(), CreatedAt: r.CreatedAt.UTC(),
				Actor: r.CreatedBy, Note: r.Note, byModel: map[string]int{},
			})
		}
		c := &next[len(next)-1]
		c.byModel[r.Model] = len(c.Models)
		c.Models = append(c.Models, ModelPrice{
			Model: r.Model, BillingType: BillingType(r.BillingType),
			InputPer1K: r.InputPer1K, OutputPer1K: r.OutputPer1K,
			CacheHitPer1K: r.CacheHitPer1K, PerRequest: r.PerRequest,
		})
		maxVer = max(maxVer, r.Version)
	}
	sort.SliceStable(next, func(i, j int) bool { return next[i].EffectiveAt.Before(next[j].EffectiveAt) })
	return &schedule{cards: next, maxVer: maxVer, checkedAt: checked}, nil
}

// Versions without prices cannot exist (Publish writes both in one
// transaction), so an inner join loses nothing.
const selectNewVersions = `
SELECT v.version, v.effective_at, v.created_at, v.created_by, v.note,
       p.model, p.billing_type,
       p.input_per_1k::text, p.output_per_1k::text, p.cache_hit_per_1k::text, p.per_request::text
FROM rate_card_versions v
JOIN rate_card_prices p ON p.version = v.version
WHERE v.version > $1
ORDER BY v.version, p.model`

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
