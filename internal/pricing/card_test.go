package pricing

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// fakeClock is a settable clock for the cache's staleness decisions.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func card(at time.Time, models ...ModelPrice) Card {
	return Card{EffectiveAt: at, Actor: "ops@example.com", Note: "test", Models: models}
}

// The tests below publish into one shared, global version sequence, so they
// run in order as subtests of one test.
func TestRateCards(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	svc := New(pool)

	t.Run("SeedPublishesTheDefaultCardOnce", func(t *testing.T) {
		v1, err := svc.EnsureDefault(ctx, "seed", DefaultCreditPriceRMB)
		require.NoError(t, err)
		require.Equal(t, 1, v1)
		v2, err := svc.EnsureDefault(ctx, "seed", DefaultCreditPriceRMB)
		require.NoError(t, err)
		require.Equal(t, 1, v2, "a second seed publishes nothing")

		c, err := svc.InForce(ctx, time.Now())
		require.NoError(t, err)
		require.Equal(t, 1, c.Version)
		require.Equal(t, "seed", c.Actor)
		p, err := c.Price("deepseek-chat")
		require.NoError(t, err)
		require.True(t, d("2").Equal(p.InputPer1K), "read back %s", p.InputPer1K)
		require.True(t, d("0.5").Equal(p.CacheHitPer1K))
		// A 1,000-in/1,000-out DeepSeek-V3 call costs 10 credits = ¥0.01.
		require.True(t, d("10").Equal(UsageCost(p, 1000, 1000, 0, 1)))
		_, err = Price(c, "no-such-model")
		require.ErrorIs(t, err, ErrUnknownModel)
	})

	t.Run("NewVersionTakesEffectAtItsTimeWithoutRewritingTheOld", func(t *testing.T) {
		before, err := svc.InForce(ctx, time.Now())
		require.NoError(t, err)
		effective := time.Now().Add(time.Hour).Truncate(time.Microsecond)
		v, err := svc.Publish(ctx, card(effective, tokenPrice("3", "9", "1")))
		require.NoError(t, err)
		require.Equal(t, before.Version+1, v)

		now, err := svc.InForce(ctx, effective.Add(-time.Microsecond))
		require.NoError(t, err)
		require.Equal(t, before.Version, now.Version, "old card until the effective instant")
		later, err := svc.InForce(ctx, effective)
		require.NoError(t, err)
		require.Equal(t, v, later.Version, "new card from the effective instant on")
		require.True(t, effective.Equal(later.EffectiveAt))
		p, err := later.Price("m")
		require.NoError(t, err)
		require.True(t, d("3").Equal(p.InputPer1K))
		_, err = later.Price("deepseek-chat")
		require.ErrorIs(t, err, ErrUnknownModel, "a new card is complete on its own")

		// The old card still answers for charges made before.
		old, err := svc.InForce(ctx, time.Now())
		require.NoError(t, err)
		_, err = old.Price("deepseek-chat")
		require.NoError(t, err)

		_, err = svc.InForce(ctx, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
		require.ErrorIs(t, err, ErrNoRateCard)
	})

	t.Run("EffectiveTimeMustMoveForward", func(t *testing.T) {
		all, err := svc.Versions(ctx)
		require.NoError(t, err)
		last := all[len(all)-1]

		_, err = svc.Publish(ctx, card(last.EffectiveAt, tokenPrice("1", "1", "1")))
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, CodeEffectiveNotAfter, ve.Code)

		_, err = svc.Publish(ctx, card(time.Now().Add(-time.Hour), tokenPrice("1", "1", "1")))
		require.ErrorAs(t, err, &ve)
		require.Equal(t, CodeEffectiveInPast, ve.Code)

		after, err := svc.Versions(ctx)
		require.NoError(t, err)
		require.Len(t, after, len(all), "refused cards leave no version behind")
	})

	t.Run("DatabaseRefusesRewritingPublishedCards", func(t *testing.T) {
		for sql, want := range map[string]string{
			`UPDATE rate_card_prices SET input_per_1k = 0 WHERE version = 1`:                                             "rate_card_prices is append-only",
			`DELETE FROM rate_card_prices WHERE version = 1`:                                                             "rate_card_prices is append-only",
			`UPDATE rate_card_versions SET effective_at = now() WHERE version = 1`:                                       "rate_card_versions is append-only",
			`DELETE FROM rate_card_versions WHERE version = 1`:                                                           "rate_card_versions is append-only",
			`TRUNCATE rate_card_prices`:                                                                                  "rate_card_prices is append-only",
			`INSERT INTO rate_card_prices (version, model, billing_type, input_per_1k) VALUES (1, 'sneaky', 'token', 1)`: "rate cards are immutable",
		} {
			_, err := pool.Exec(ctx, sql)
			require.ErrorContains(t, err, want, sql)
		}
		c, err := svc.InForce(ctx, time.Now())
		require.NoError(t, err)
		p, err := c.Price("deepseek-chat")
		require.NoError(t, err)
		require.True(t, d("2").Equal(p.InputPer1K))
	})

	t.Run("OtherInstancesSeeANewVersionAfterRefresh", func(t *testing.T) {
		clock := &fakeClock{now: time.Now()}
		other := newWithClock(pool, clock)
		known, err := other.Versions(ctx)
		require.NoError(t, err)

		effective := time.Now().Add(2 * time.Hour)
		v, err := svc.Publish(ctx, card(effective, ModelPrice{Model: "img", BillingType: BillingPerRequest, PerRequest: d("160")}))
		require.NoError(t, err)

		c, err := other.InForce(ctx, effective)
		require.NoError(t, err)
		require.Equal(t, known[len(known)-1].Version, c.Version, "within the refresh interval the cache is used")

		clock.Add(other.Refresh)
		c, err = other.InForce(ctx, effective)
		require.NoError(t, err)
		require.Equal(t, v, c.Version, "after the interval the new version is loaded")
		p, err := c.Price("img")
		require.NoError(t, err)
		require.True(t, d("160").Equal(ReservationHold(p, 4000, 4000)))
	})

	t.Run("ConcurrentReadersShareOneCache", func(t *testing.T) {
		fresh := New(pool)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := fresh.InForce(ctx, time.Now())
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})

	t.Run("SeedRefreshesOnlyItsOwnOutdatedDefault", func(t *testing.T) {
		newest := func() Card {
			vs, err := svc.Versions(ctx)
			require.NoError(t, err)
			return slices.MaxFunc(vs, func(a, b Card) int { return a.Version - b.Version })
		}
		// The newest version is someone's own card: seed leaves it alone.
		before := newest()
		_, published, err := svc.RefreshDefault(ctx, "seed", DefaultCreditPriceRMB)
		require.NoError(t, err)
		require.False(t, published)
		require.Equal(t, before.Version, newest().Version)

		// An earlier release's default, published by seed (one price
		// differs, one model since retired).
		old := DefaultCard()
		old.Actor, old.EffectiveAt = "seed", before.EffectiveAt.Add(time.Hour)
		old.Models = append(slices.Clone(old.Models), ModelPrice{Model: "retired-model", BillingType: BillingFree})
		old.Models[0].OutputPer1K = d("99")
		oldVersion, err := svc.Publish(ctx, old)
		require.NoError(t, err)

		_, published, err = svc.RefreshDefault(ctx, "seed", DefaultCreditPriceRMB)
		require.NoError(t, err)
		require.True(t, published)
		got := newest()
		require.Equal(t, oldVersion+1, got.Version, "a new version: the old one is never rewritten")
		require.True(t, got.EffectiveAt.After(old.EffectiveAt), "it follows the one it replaces")
		require.True(t, samePrices(got.Models, DefaultCard().Models), "this release's list")
		_, err = got.Price("retired-model")
		require.ErrorIs(t, err, ErrUnknownModel)

		_, published, err = svc.RefreshDefault(ctx, "seed", DefaultCreditPriceRMB)
		require.NoError(t, err)
		require.False(t, published, "up to date: nothing more")
	})
}

func newWithClock(pool *pgxpool.Pool, c *fakeClock) *Service {
	s := New(pool)
	s.Now = c.Now
	return s
}

func BenchmarkInForce(b *testing.B) {
	svc := New(dbtest.Pool(b))
	ctx := context.Background()
	if _, err := svc.EnsureDefault(ctx, "bench", DefaultCreditPriceRMB); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := svc.InForce(ctx, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Price("deepseek-chat"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
