package pricing

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func tok(model, in, out, cache string) ModelPrice {
	return ModelPrice{Model: model, BillingType: BillingToken, InputPer1K: d(in), OutputPer1K: d(out), CacheHitPer1K: d(cache)}
}

func perReq(model, price string) ModelPrice {
	return ModelPrice{Model: model, BillingType: BillingPerRequest, PerRequest: d(price)}
}

// TestResolve is the rule of prices per customer as a table: which card
// prices a call, at what line, and what the charge records.
func TestResolve(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	v1 := Card{Version: 1, EffectiveAt: t0, Models: []ModelPrice{tok("chat", "1", "4", "0.25")}}
	v3 := Card{Version: 3, EffectiveAt: t0.Add(48 * time.Hour), Models: []ModelPrice{
		tok("chat", "2", "8", "0.5"), perReq("image", "100"), {Model: "mini", BillingType: BillingFree}}}
	versions := func(v int) (Card, error) {
		switch v {
		case 1:
			return v1, nil
		case 3:
			return v3, nil
		}
		return Card{}, fmt.Errorf("%w: version %d", ErrNoRateCard, v)
	}
	at := t0.Add(72 * time.Hour)
	cardAt := func(id int64, version int, k CardKind, from time.Time) AccountCard {
		return AccountCard{ID: id, Version: version, Kind: k, EffectiveAt: from}
	}
	pinned := cardAt(11, 1, KindPinned, t0)
	pinned.PinnedVersion = 1
	discount := cardAt(21, 2, KindDiscount, t0)
	discount.DiscountPct = d("15")
	custom := cardAt(31, 4, KindCustom, t0)
	custom.Models = []ModelPrice{tok("chat", "1.5", "6", "0.4")}
	none := cardAt(41, 2, KindNone, t0)
	later := cardAt(51, 5, KindDiscount, at.Add(time.Hour)) // not yet in force
	later.DiscountPct = d("50")

	for _, tc := range []struct {
		name              string
		own, enterprise   []AccountCard
		model             string
		wantIn, wantOut   string
		wantPerReq        string
		wantVersion       int
		wantCard, wantIdx int64
		wantCardVersion   int
	}{
		{name: "NoCardIsThePublicCard", model: "chat", wantIn: "2", wantOut: "8", wantVersion: 3},
		{name: "PinnedKeepsItsVersionsPrices", own: []AccountCard{pinned}, model: "chat", wantIn: "1", wantOut: "4",
			wantVersion: 1, wantCard: 11, wantCardVersion: 1},
		{name: "PinnedFallsBackForAModelItsVersionLacks", own: []AccountCard{pinned}, model: "image", wantPerReq: "100",
			wantVersion: 3, wantIdx: 1},
		{name: "DiscountTakesPercentOffEveryRate", own: []AccountCard{discount}, model: "chat", wantIn: "1.7", wantOut: "6.8",
			wantVersion: 3, wantCard: 21, wantCardVersion: 2},
		{name: "DiscountOfAPerRequestModel", own: []AccountCard{discount}, model: "image", wantPerReq: "85",
			wantVersion: 3, wantCard: 21, wantCardVersion: 2, wantIdx: 1},
		{name: "CustomPricesItsModels", own: []AccountCard{custom}, model: "chat", wantIn: "1.5", wantOut: "6",
			wantVersion: 3, wantCard: 31, wantCardVersion: 4},
		{name: "CustomFallsBackToThePublicCard", own: []AccountCard{custom}, model: "image", wantPerReq: "100",
			wantVersion: 3, wantIdx: 1},
		{name: "SubAccountInheritsItsEnterprisesCard", enterprise: []AccountCard{discount}, model: "chat", wantIn: "1.7",
			wantOut: "6.8", wantVersion: 3, wantCard: 21, wantCardVersion: 2},
		{name: "SubAccountsOwnCardWins", own: []AccountCard{custom}, enterprise: []AccountCard{discount}, model: "chat",
			wantIn: "1.5", wantOut: "6", wantVersion: 3, wantCard: 31, wantCardVersion: 4},
		{name: "CardTakenAwayIsThePublicCard", own: []AccountCard{discount, none}, model: "chat", wantIn: "2", wantOut: "8",
			wantVersion: 3},
		{name: "SubAccountWhoseCardIsTakenAwayInherits", own: []AccountCard{custom, none}, enterprise: []AccountCard{discount},
			model: "chat", wantIn: "1.7", wantOut: "6.8", wantVersion: 3, wantCard: 21, wantCardVersion: 2},
		{name: "ACardNotYetInForcePricesNothing", own: []AccountCard{later}, model: "chat", wantIn: "2", wantOut: "8",
			wantVersion: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			own := Effective(tc.own, tc.enterprise, at)
			q, err := Resolve(v3, own, versions, tc.model)
			require.NoError(t, err)
			require.Equal(t, tc.model, q.Price.Model)
			if tc.wantPerReq != "" {
				require.Equal(t, BillingPerRequest, q.Price.BillingType)
				require.True(t, d(tc.wantPerReq).Equal(q.Price.PerRequest), "per request %s", q.Price.PerRequest)
			} else {
				require.True(t, d(tc.wantIn).Equal(q.Price.InputPer1K), "input %s", q.Price.InputPer1K)
				require.True(t, d(tc.wantOut).Equal(q.Price.OutputPer1K), "output %s", q.Price.OutputPer1K)
			}
			require.Equal(t, tc.wantVersion, q.Version)
			require.Equal(t, tc.wantCard, q.Card)
			require.Equal(t, tc.wantCardVersion, q.CardVersion)
			require.EqualValues(t, tc.wantIdx, q.Index)

			// A commit prices with the same line again from what the
			// reservation token carries.
			pub, err := versions(q.Version)
			require.NoError(t, err)
			var card *AccountCard
			if q.Card != 0 {
				card = own
			}
			again, ok := Requote(pub, card, q.Index)
			require.True(t, ok)
			require.Equal(t, q.Price, again)
		})
	}

	t.Run("UnknownModelOnEveryCard", func(t *testing.T) {
		_, err := Resolve(v3, &custom, versions, "nope")
		require.ErrorIs(t, err, ErrUnknownModel)
	})
	t.Run("RequoteRefusesAForeignIndex", func(t *testing.T) {
		_, ok := Requote(v3, &custom, 5)
		require.False(t, ok)
		_, ok = Requote(v3, nil, 3)
		require.False(t, ok)
	})
}

// TestDiscountRounding: a discounted rate is exact, and the cost is
// rounded once, half-even, to 6 decimals (the documented rule).
func TestDiscountRounding(t *testing.T) {
	for _, tc := range []struct {
		rate, pct      string
		tokens         int64
		wantRate, cost string
	}{
		{"0.001", "50", 1, "0.0005", "0"},        // 0.0000005 → even 0
		{"0.001", "50", 3, "0.0005", "0.000002"}, // 0.0000015 → even 2
		{"0.001", "33.33", 1, "0.0006667", "0.000001"},
		{"2", "12.5", 1000, "1.75", "1.75"},
		{"3", "33.33", 999, "2.0001", "1.9980999"}, // not rounded yet: see below
	} {
		p := Discounted(tok("m", tc.rate, "0", "0"), d(tc.pct))
		require.True(t, d(tc.wantRate).Equal(p.InputPer1K), "rate %s", p.InputPer1K)
		cost := UsageCost(p, tc.tokens, 0, 0, 1)
		require.True(t, d(tc.cost).RoundBank(CreditScale).Equal(cost), "%s%% off %s × %d: %s", tc.pct, tc.rate, tc.tokens, cost)
		require.LessOrEqual(t, -cost.Exponent(), int32(CreditScale))
	}
}

func TestDepthOf(t *testing.T) {
	v1 := Card{Version: 1, Models: []ModelPrice{tok("chat", "1", "4", "0.25")}}
	pub := Card{Version: 3, Models: []ModelPrice{tok("chat", "2", "8", "0.5"), perReq("image", "100")}}
	versions := func(int) (Card, error) { return v1, nil }
	for _, tc := range []struct {
		c    AccountCard
		want string
	}{
		{AccountCard{Kind: KindDiscount, DiscountPct: d("25")}, "25"},
		{AccountCard{Kind: KindPinned, PinnedVersion: 1}, "50"},
		{AccountCard{Kind: KindCustom, Models: []ModelPrice{tok("chat", "2", "7", "0.5"), perReq("image", "90")}}, "12.5"},
		{AccountCard{Kind: KindCustom, Models: []ModelPrice{tok("chat", "3", "9", "1")}}, "0"}, // dearer: no discount
		{AccountCard{Kind: KindNone}, "0"},
	} {
		got, err := DepthOf(tc.c, pub, versions)
		require.NoError(t, err)
		require.True(t, d(tc.want).Equal(got), "%s: %s", tc.c.Kind, got)
	}
}

func TestValidateAccountCard(t *testing.T) {
	pub := Card{Version: 3, Models: []ModelPrice{tok("chat", "2", "8", "0.5"), perReq("image", "100")}}
	versions := func(v int) (Card, error) {
		if v == 3 {
			return pub, nil
		}
		return Card{}, ErrNoRateCard
	}
	for _, tc := range []struct {
		c    AccountCard
		code string
	}{
		{AccountCard{Kind: "gold"}, CodeBadKind},
		{AccountCard{Kind: KindPinned, PinnedVersion: 9}, CodePinnedUnknown},
		{AccountCard{Kind: KindDiscount, DiscountPct: d("0")}, CodeDiscountRange},
		{AccountCard{Kind: KindDiscount, DiscountPct: d("100")}, CodeDiscountRange},
		{AccountCard{Kind: KindDiscount, DiscountPct: d("10.125")}, CodeDiscountRange},
		{AccountCard{Kind: KindCustom}, CodeNoModels},
		{AccountCard{Kind: KindCustom, Models: []ModelPrice{tok("other", "1", "1", "1")}}, CodeModelNotPublic},
		{AccountCard{Kind: KindCustom, Models: []ModelPrice{tok("image", "1", "1", "1")}}, CodeBadBillingType},
		{AccountCard{Kind: KindCustom, Models: []ModelPrice{tok("chat", "-1", "1", "1")}}, CodeNegativePrice},
		{AccountCard{Kind: KindCustom, Models: []ModelPrice{tok("chat", "1", "1", "1"), tok("chat", "1", "1", "1")}}, CodeDuplicateModel},
	} {
		tc.c.Actor = "staff:1"
		err := ValidateAccountCard(tc.c, pub, versions)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, "%+v", tc.c)
		require.Equal(t, tc.code, ve.Code)
	}
	for _, ok := range []AccountCard{{Kind: KindNone}, {Kind: KindPinned, PinnedVersion: 3},
		{Kind: KindDiscount, DiscountPct: d("12.25")}, {Kind: KindCustom, Models: []ModelPrice{perReq("image", "80")}}} {
		ok.Actor = "staff:1"
		require.NoError(t, ValidateAccountCard(ok, pub, versions))
	}
}

// TestAccountCards stores account cards through SetAccountCardTx and reads
// them back; the database refuses to rewrite one. It runs after
// TestRateCards (file order), on the default card it published.
func TestAccountCards(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	svc := New(pool)
	_, err := svc.EnsureDefault(ctx, "seed", DefaultCreditPriceRMB)
	require.NoError(t, err)
	public, err := svc.InForce(ctx, time.Now())
	require.NoError(t, err)
	var acct int64
	require.NoError(t, pool.QueryRow(ctx, `
INSERT INTO ledger_accounts (id, pool_id, kind) VALUES (nextval('ledger_accounts_id_seq'), currval('ledger_accounts_id_seq'), 'enterprise')
RETURNING id`).Scan(&acct))

	set := func(c AccountCard) (AccountCard, error) {
		var out AccountCard
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			out, err = svc.SetAccountCardTx(ctx, tx, c)
			return err
		})
		return out, err
	}
	chat, err := public.Price("deepseek-chat")
	require.NoError(t, err)
	custom := chat
	custom.InputPer1K = chat.InputPer1K.Mul(decimal.RequireFromString("0.9"))
	c1, err := set(AccountCard{AccountID: acct, Kind: KindCustom, Models: []ModelPrice{custom}, Actor: "staff:1", Note: "contract"})
	require.NoError(t, err)
	require.Equal(t, 1, c1.Version)
	c2, err := set(AccountCard{AccountID: acct, Kind: KindDiscount, DiscountPct: d("7.5"), Actor: "staff:1"})
	require.NoError(t, err)
	require.Equal(t, 2, c2.Version)
	c3, err := set(AccountCard{AccountID: acct, Kind: KindPinned, PinnedVersion: public.Version, Actor: "staff:2"})
	require.NoError(t, err)
	require.Equal(t, 3, c3.Version)
	_, err = set(AccountCard{AccountID: acct, Kind: KindDiscount, DiscountPct: d("120"), Actor: "staff:1"})
	require.ErrorIs(t, err, ErrInvalidCard)

	cards, err := svc.AccountCards(ctx, acct)
	require.NoError(t, err)
	require.Len(t, cards, 3, "a refused card leaves no version")
	require.Equal(t, []ModelPrice{custom}, cards[0].Models)
	require.Equal(t, "contract", cards[0].Note)
	require.True(t, d("7.5").Equal(cards[1].DiscountPct))
	require.Equal(t, public.Version, cards[2].PinnedVersion)
	require.Equal(t, c3.ID, InForceAt(cards, time.Now().Add(time.Second)).ID)

	byID, err := svc.AccountCard(ctx, c1.ID)
	require.NoError(t, err)
	require.Equal(t, cards[0], byID)
	_, err = svc.AccountCard(ctx, -1)
	require.ErrorIs(t, err, ErrNotFound)

	t.Run("ConcurrentWritersGetConsecutiveVersions", func(t *testing.T) {
		var acct int64
		require.NoError(t, pool.QueryRow(ctx, `
INSERT INTO ledger_accounts (id, pool_id, kind) VALUES (nextval('ledger_accounts_id_seq'), currval('ledger_accounts_id_seq'), 'individual')
RETURNING id`).Scan(&acct))
		const n = 64
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = set(AccountCard{AccountID: acct, Kind: KindDiscount, DiscountPct: d(fmt.Sprint(i%50 + 1)), Actor: "staff:1"})
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		cards, err := svc.AccountCards(ctx, acct)
		require.NoError(t, err)
		require.Len(t, cards, n)
		for i, c := range cards {
			require.Equal(t, i+1, c.Version, "one line of versions, no gap, no fork")
		}
	})

	owner := pool
	for _, sql := range []string{
		`UPDATE account_rate_cards SET discount_pct = 50 WHERE id = ` + fmt.Sprint(c2.ID),
		`DELETE FROM account_rate_card_prices WHERE card_id = ` + fmt.Sprint(c1.ID),
		fmt.Sprintf(`INSERT INTO account_rate_card_prices (card_id, model, billing_type) VALUES (%d, 'late', 'free')`, c1.ID),
	} {
		_, err := owner.Exec(ctx, sql)
		require.Error(t, err, sql)
	}
}
