package pricing

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/snapshot"
)

// Schedule is every published version of a versioned card — the public
// rate card (Service) or the cost card (internal/costs) — held in memory in
// ascending effective order. A read asks the database at most once per
// Refresh, and then only for versions newer than those it knows; when the
// cached schedule is stale one caller refreshes while the others keep
// using it, so only the very first load (or one right after Forget) waits.
type Schedule struct {
	// Refresh is how often the cache checks for versions published
	// elsewhere (DefaultRefresh; set before first use).
	Refresh time.Duration
	// Now is the clock that decides when the cache is stale (time.Now).
	Now func() time.Time

	pool   db.Querier
	query  string // selectNewVersionsOf for the card's two tables
	errPre string // the prefix of a database error, "pricing: rate card"
	cache  snapshot.Refreshing[schedule]
}

// schedule is one loaded state of a Schedule.
type schedule struct {
	cards     []Card // ascending by EffectiveAt (and so by Version)
	maxVer    int
	checkedAt time.Time
}

// NewSchedule returns the schedule of the card kept in versionsTable (one
// row a version) and pricesTable (one row a model line), both append-only
// with the rate card's columns. errPrefix names the card in database errors.
func NewSchedule(pool db.Querier, versionsTable, pricesTable, errPrefix string) Schedule {
	return Schedule{Refresh: DefaultRefresh, Now: time.Now, pool: pool,
		query: fmt.Sprintf(selectNewVersionsOf, versionsTable, pricesTable), errPre: errPrefix}
}

// InForce returns the version with the latest effective time not after at,
// and false when none is effective then. Errors: database errors wrapped
// with the schedule's prefix (only when nothing is cached yet).
func (s *Schedule) InForce(ctx context.Context, at time.Time) (Card, bool, error) {
	sch, err := s.current(ctx)
	if err != nil {
		return Card{}, false, err
	}
	// First card effective after `at`, then step back one.
	i := sort.Search(len(sch.cards), func(i int) bool { return sch.cards[i].EffectiveAt.After(at) })
	if i == 0 {
		return Card{}, false, nil
	}
	return sch.cards[i-1], true, nil
}

// Version returns published version v, and false when no such version
// exists; a version newer than any known is looked for once more in the
// database (published elsewhere since the last refresh). Errors: as InForce.
func (s *Schedule) Version(ctx context.Context, v int) (Card, bool, error) {
	sch, err := s.current(ctx)
	if err != nil {
		return Card{}, false, err
	}
	if v > sch.maxVer {
		s.cache.Forget()
		if sch, err = s.current(ctx); err != nil {
			return Card{}, false, err
		}
	}
	for _, c := range sch.cards {
		if c.Version == v {
			return c, true, nil
		}
	}
	return Card{}, false, nil
}

// Versions returns every published version, oldest first. Errors: as InForce.
func (s *Schedule) Versions(ctx context.Context) ([]Card, error) {
	sch, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return append([]Card(nil), sch.cards...), nil
}

// Forget drops the cached schedule: the next read loads every version (a
// version was published, here or, by invalidation, elsewhere).
func (s *Schedule) Forget() { s.cache.Forget() }

func (s *Schedule) current(ctx context.Context) (*schedule, error) {
	sch, err := s.cache.Get(ctx, func(sch *schedule) bool { return s.Now().Sub(sch.checkedAt) < s.Refresh }, s.refresh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.errPre, err)
	}
	return sch, nil
}

// refresh loads the versions newer than old's and returns the merged schedule.
func (s *Schedule) refresh(ctx context.Context, old *schedule) (*schedule, error) {
	after := 0
	var cards []Card
	if old != nil {
		after, cards = old.maxVer, old.cards
	}
	checked := s.Now()
	rows, err := s.pool.Query(ctx, s.query, after)
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

// selectNewVersionsOf, with the versions and prices tables filled in,
// selects the versions after $1 with their lines. Versions without prices
// cannot exist (publishing writes both in one transaction), so an inner
// join loses nothing.
const selectNewVersionsOf = `
SELECT v.version, v.effective_at, v.created_at, v.created_by, v.note,
       p.model, p.billing_type,
       p.input_per_1k::text, p.output_per_1k::text, p.cache_hit_per_1k::text, p.per_request::text
FROM %s v
JOIN %s p ON p.version = v.version
WHERE v.version > $1
ORDER BY v.version, p.model`
