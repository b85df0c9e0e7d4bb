package gateway

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/pricing"
)

// setCard stores an account card as staff would (pricing.SetAccountCardTx)
// and drops the gateway's cached copy of the account.
func (b *testBundle) setCard(t *testing.T, accountID int64, c pricing.AccountCard) pricing.AccountCard {
	t.Helper()
	ctx := context.Background()
	c.AccountID, c.Actor = accountID, "staff:test"
	var out pricing.AccountCard
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var err error
		out, err = pricing.New(b.pool).SetAccountCardTx(ctx, tx, c)
		return err
	}))
	b.gw.Forget(accountID)
	return out
}

// chargeDetails are the details of the account's charges, oldest first.
func (b *testBundle) chargeDetails(t *testing.T, accountID int64) []map[string]any {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `
SELECT DISTINCT ON (op_id) detail FROM ledger_events
WHERE account_id = $1 AND type = 'deduction' AND detail IS NOT NULL ORDER BY op_id`, accountID)
	require.NoError(t, err)
	raw, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	require.NoError(t, err)
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		require.NoError(t, json.Unmarshal(r, &out[i]))
	}
	return out
}

// Each call is priced once, by the account's card in force (its own, else
// its enterprise's), and the charge records the card and version; a commit
// uses the card of its reservation even when the card changed meanwhile.
func TestAccountCardsPriceAndAreRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	// deepseek-chat on the public card: 2 / 8 / 0.5 per 1k.
	reserveCommit := func(t *testing.T, ext string, in, out int64) (ReservationView, CommitView) {
		t.Helper()
		r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: in,
			MaxOutputTokens: out, IdempotencyKey: uniq(t, "k")})
		require.NoError(t, err)
		c, err := b.gw.Commit(ctx, b.live, r.ID, CommitInput{InputTokens: in, OutputTokens: out})
		require.NoError(t, err)
		return r, c
	}

	t.Run("DiscountOfTheEnterpriseAlsoPricesItsSubAccounts", func(t *testing.T) {
		ent := b.account(t, b.live, uniq(t, "ent"), acctOpts{kind: ledger.AccountEnterprise, promo: "1000"})
		sub := b.account(t, b.live, uniq(t, "sub"), acctOpts{kind: ledger.AccountSub, parent: ent.ExternalID})
		card := b.setCard(t, ent.ID, pricing.AccountCard{Kind: pricing.KindDiscount, DiscountPct: d("20")})
		r, c := reserveCommit(t, ent.ExternalID, 1000, 1000)
		requireDec(t, "8", r.Reserved, "(2 + 8) × 0.8")
		requireDec(t, "8", c.Charged)
		_, c = reserveCommit(t, sub.ExternalID, 1000, 0)
		requireDec(t, "1.6", c.Charged, "the sub-account inherits the enterprise's card")
		for _, id := range []int64{ent.ID, sub.ID} {
			ds := b.chargeDetails(t, id)
			require.Len(t, ds, 1)
			require.EqualValues(t, card.ID, ds[0]["account_card_id"])
			require.EqualValues(t, card.Version, ds[0]["account_card_version"])
			require.Positive(t, ds[0]["rate_card_version"])
		}
	})

	t.Run("CustomPricesFallBackToThePublicCard", func(t *testing.T) {
		acct := b.account(t, b.live, uniq(t, "a"), acctOpts{promo: "1000"})
		card := b.setCard(t, acct.ID, pricing.AccountCard{Kind: pricing.KindCustom, Models: []pricing.ModelPrice{{
			Model: "deepseek-chat", BillingType: pricing.BillingToken, InputPer1K: d("1"), OutputPer1K: d("4"), CacheHitPer1K: d("0.25")}}})
		_, c := reserveCommit(t, acct.ExternalID, 1000, 1000)
		requireDec(t, "5", c.Charged)
		// deepseek-reasoner is not on the account's card: 4 / 16 per 1k.
		r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: acct.ExternalID, Model: "deepseek-reasoner", MaxInputTokens: 1000,
			IdempotencyKey: "reasoner"})
		require.NoError(t, err)
		requireDec(t, "4", r.Reserved)
		_, err = b.gw.Commit(ctx, b.live, r.ID, CommitInput{InputTokens: 1000})
		require.NoError(t, err)
		ds := b.chargeDetails(t, acct.ID)
		require.Len(t, ds, 2)
		require.EqualValues(t, card.ID, ds[0]["account_card_id"])
		require.NotContains(t, ds[1], "account_card_id", "the public card priced it")
	})

	t.Run("CommitUsesTheCardOfItsReservation", func(t *testing.T) {
		acct := b.account(t, b.live, uniq(t, "a"), acctOpts{promo: "1000"})
		first := b.setCard(t, acct.ID, pricing.AccountCard{Kind: pricing.KindDiscount, DiscountPct: d("50")})
		r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: acct.ExternalID, Model: "deepseek-chat", MaxInputTokens: 1000,
			IdempotencyKey: "before"})
		require.NoError(t, err)
		requireDec(t, "1", r.Reserved)
		second := b.setCard(t, acct.ID, pricing.AccountCard{Kind: pricing.KindNone})
		require.Equal(t, first.Version+1, second.Version)
		c, err := b.gw.Commit(ctx, b.live, r.ID, CommitInput{InputTokens: 1000})
		require.NoError(t, err)
		requireDec(t, "1", c.Charged, "priced by the card in force at the reservation")
		_, c = reserveCommit(t, acct.ExternalID, 1000, 0)
		requireDec(t, "2", c.Charged, "the card was taken away: public prices")
		ds := b.chargeDetails(t, acct.ID)
		require.Len(t, ds, 2)
		require.EqualValues(t, first.ID, ds[0]["account_card_id"])
		require.NotContains(t, ds[1], "account_card_id")
	})

	t.Run("UsageBatchRecordsTheCard", func(t *testing.T) {
		acct := b.account(t, b.live, uniq(t, "a"), acctOpts{promo: "1000"})
		pin := b.setCard(t, acct.ID, pricing.AccountCard{Kind: pricing.KindPinned, PinnedVersion: 1})
		res, err := b.gw.IngestUsage(ctx, b.live, UsageBatch{Events: []UsageEvent{
			{IdempotencyKey: uniq(t, "e1"), Account: acct.ExternalID, Model: "deepseek-chat", InputTokens: 1000, OccurredAt: b.clock.Now()},
			{IdempotencyKey: uniq(t, "e2"), Account: acct.ExternalID, Model: "deepseek-chat", InputTokens: 1000,
				OccurredAt: pin.EffectiveAt.Add(-time.Microsecond)}, // just before the card: public prices
		}})
		require.NoError(t, err)
		require.Equal(t, 2, res.Accepted, "%+v", res.Rejected)
		ds := b.chargeDetails(t, acct.ID)
		require.Len(t, ds, 2)
		withCard := 0
		for _, dt := range ds {
			require.EqualValues(t, 1, dt["rate_card_version"])
			if dt["account_card_id"] != nil {
				withCard++
				require.EqualValues(t, pin.ID, dt["account_card_id"])
				require.EqualValues(t, pin.Version, dt["account_card_version"])
			}
		}
		require.Equal(t, 1, withCard, "only the event at or after the card's effective time")
	})
}
