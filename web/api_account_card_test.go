package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/pricing"
)

// TestAPIAccountCardPricesAndIsRecorded: through the JSON API, a
// customer's own card (a 25 % discount) prices a reservation, its commit
// and a usage event, and each charge in GET /ledger names the card and
// its version beside the public rate card version.
func TestAPIAccountCardPricesAndIsRecorded(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	c, ctx := b.live, context.Background()
	ext := b.account(c, uniq(t, "acme"), map[string]any{"verification": map[string]any{"status": "verified", "reference": "kyc-card"}})
	b.grant(c, ext, "100", "g1")
	acct, err := b.ledger.AccountByExternalID(ctx, ledger.ModeLive, ext)
	require.NoError(t, err)
	var card pricing.AccountCard
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		card, err = b.app.Services.Pricing.SetAccountCardTx(ctx, tx, pricing.AccountCard{AccountID: acct.ID,
			Kind: pricing.KindDiscount, DiscountPct: decimal.RequireFromString("25"), Actor: "staff:test"})
		return err
	}))
	b.gw.Forget(acct.ID)

	// deepseek-chat: 2 / 8 per 1k on the public card, 1.5 / 6 at 25 % off.
	r := b.reserve(c, ext, "call-1", 1000, 1000)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	require.True(t, dec(t, r.JSON(t)["reserved"]).Equal(decimal.RequireFromString("7.5")), "%s", r.Body)
	r = c.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/commit", map[string]any{"input_tokens": 1000})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.True(t, dec(t, r.JSON(t)["charged"]).Equal(decimal.RequireFromString("1.5")), "%s", r.Body)
	r = c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{{"idempotency_key": "u1",
		"account": ext, "model": "deepseek-chat", "output_tokens": 1000, "occurred_at": b.clock.Now().UTC().Format(time.RFC3339Nano)}}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.EqualValues(t, 1, r.JSON(t)["accepted"], "%s", r.Body)
	require.True(t, dec(t, b.balance(c, ext)["available"]).Equal(decimal.RequireFromString("92.5")), "100 − 1.5 − 6")

	r = c.do(http.MethodGet, "/v1/accounts/"+ext+"/ledger", nil)
	charged := 0
	for _, e := range r.JSON(t)["events"].([]any) {
		d, ok := e.(map[string]any)["detail"].(map[string]any)
		if !ok || d["outcome"] != "completed" {
			continue
		}
		charged++
		require.EqualValues(t, card.ID, d["account_card_id"], "%v", d)
		require.EqualValues(t, card.Version, d["account_card_version"])
		require.Positive(t, d["rate_card_version"].(float64))
	}
	require.GreaterOrEqual(t, charged, 2, "the commit and the usage event (a commit may write more than one event)")

	t.Run("RateCardForTheAccount", func(t *testing.T) {
		public := c.do(http.MethodGet, "/v1/rate-card", nil).JSON(t)
		require.NotContains(t, public, "account_card")
		own := c.do(http.MethodGet, "/v1/rate-card?account="+ext, nil)
		require.Equal(t, http.StatusOK, own.Status, string(own.Body))
		got := own.JSON(t)
		require.Equal(t, public["version"], got["version"])
		ref := got["account_card"].(map[string]any)
		require.EqualValues(t, card.ID, ref["id"])
		require.Equal(t, "discount", ref["kind"])
		require.Equal(t, ext, ref["account"])
		require.Len(t, got["models"], len(public["models"].([]any)), "every model of the public card")
		for _, m := range got["models"].([]any) {
			if mp := m.(map[string]any); mp["model"] == "deepseek-chat" {
				require.True(t, dec(t, mp["input_per_1k"]).Equal(decimal.RequireFromString("1.5")), "%v", mp)
			}
		}
		// A department without a card of its own has its enterprise's.
		ent := b.account(c, uniq(t, "ent"), map[string]any{"kind": "enterprise"})
		entAcct, err := b.ledger.AccountByExternalID(ctx, ledger.ModeLive, ent)
		require.NoError(t, err)
		dept := b.account(c, uniq(t, "dept"), map[string]any{"kind": "sub", "parent": ent})
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			_, err := b.app.Services.Pricing.SetAccountCardTx(ctx, tx, pricing.AccountCard{AccountID: entAcct.ID,
				Kind: pricing.KindPinned, PinnedVersion: int(public["version"].(float64)), Actor: "staff:test"})
			return err
		}))
		b.gw.Forget(entAcct.ID)
		got = c.do(http.MethodGet, "/v1/rate-card?account="+dept, nil).JSON(t)
		require.Equal(t, "pinned", got["account_card"].(map[string]any)["kind"])
		require.Equal(t, ent, got["account_card"].(map[string]any)["account"])
		r := c.do(http.MethodGet, "/v1/rate-card?account=nobody-"+ext, nil)
		require.Equal(t, http.StatusNotFound, r.Status)
	})
}
