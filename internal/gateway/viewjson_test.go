package gateway

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/pricing"
)

// TestHotAnswersEncodeAsEncodingJSON: the reserve and commit answers and the
// ledger details written without reflection are the bytes encoding/json
// writes, so clients (and the OpenAPI checks) see no difference.
func TestHotAnswersEncodeAsEncodingJSON(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	for _, v := range []ReservationView{
		{ID: "rsv_AQFMAQIDBAUGBwgJCgsM", Reserved: decimal.RequireFromString("18"), RateCardVersion: 3,
			ExpiresAt: time.Date(2026, 11, 21, 23, 1, 2, 123456789, time.UTC)},
		{ID: "rsv_x", Reserved: decimal.Zero, ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, shanghai)},
		{ID: "rsv_y", Reserved: decimal.RequireFromString("0.000001"), RateCardVersion: 12345,
			ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC)},
		{ID: "rsv_q", ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			PaidBy: PaidBy{Quota: &QuotaPaid{Item: "编程 <pack> \"x\"", Requests: 1, Tokens: 4096}}},
		{ID: "rsv_c", Reserved: decimal.RequireFromString("12.5"), ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			PaidBy: PaidBy{PlanCredits: decimal.RequireFromString("10"), Wallet: decimal.RequireFromString("2.5")}},
		{ID: "rsv_s", Reserved: decimal.RequireFromString("1"), ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			ShadowRefusal: "plan_quota_exhausted"},
	} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), string(v.AppendJSON(nil)))
	}
	for _, v := range []CommitView{
		{Charged: decimal.RequireFromString("9.5"), Released: decimal.RequireFromString("8.5"),
			Unpaid: decimal.Zero, Available: decimal.RequireFromString("90.5")},
		{Charged: decimal.RequireFromString("123456789.123456"), Available: decimal.RequireFromString("-1.25")},
		{Charged: decimal.RequireFromString("0.3"), Available: decimal.RequireFromString("5"),
			PaidBy: PaidBy{Quota: &QuotaPaid{Item: "deepseek", Requests: 1, Tokens: 900}, Wallet: decimal.RequireFromString("0.3")}},
	} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), string(v.AppendJSON(nil)))
	}
	for _, d := range []UsageDetail{
		{InputTokens: 1000, OutputTokens: 500, Requests: 1, RateCardVersion: 7, Outcome: OutcomeCompleted},
		{CacheHitTokens: 3, Outcome: OutcomeUpstreamError},
		{InputTokens: 10, Requests: 1, RateCardVersion: 2, Outcome: OutcomeCompleted, AccountCardID: 41, AccountCardVersion: 3},
	} {
		want, err := json.Marshal(d)
		require.NoError(t, err)
		require.Equal(t, string(want), string(d.appendJSON(nil)))
	}
	require.JSONEq(t, `{"max_input_tokens":1000,"max_output_tokens":2000,"rate_card_version":4}`,
		string(reserveDetail(1000, 2000, pricing.Quote{Version: 4})))
	require.JSONEq(t, `{"max_input_tokens":1,"max_output_tokens":2,"rate_card_version":4,"account_card_id":9,"account_card_version":2}`,
		string(reserveDetail(1, 2, pricing.Quote{Version: 4, Card: 9, CardVersion: 2})))
}

// TestReserveRetryReplaysOnlyTheSameBody: with the request hash gone, the
// ledger's own comparison decides: a retry with the same key and body gets
// the first reservation (the same id, held once); a retry changing any one
// field of the body is refused as an idempotency conflict.
func TestReserveRetryReplaysOnlyTheSameBody(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()
	ext := uniq(t, "a")
	b.account(t, b.live, ext, acctOpts{promo: "100"})
	base := ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: 1000, MaxOutputTokens: 2000,
		IdempotencyKey: "k", SessionID: "s"}
	first, err := b.gw.Reserve(ctx, b.live, base)
	require.NoError(t, err)
	again, err := b.gw.Reserve(ctx, b.live, base)
	require.NoError(t, err)
	require.Equal(t, first, again)
	for name, change := range map[string]func(*ReserveInput){
		"Model":           func(in *ReserveInput) { in.Model = "qwen-plus" },
		"MaxInputTokens":  func(in *ReserveInput) { in.MaxInputTokens = 2000; in.MaxOutputTokens = 1750 }, // same hold
		"MaxOutputTokens": func(in *ReserveInput) { in.MaxOutputTokens = 1000 },
		"SessionID":       func(in *ReserveInput) { in.SessionID = "other" },
	} {
		in := base
		change(&in)
		_, err := b.gw.Reserve(ctx, b.live, in)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict, name)
	}
	bal, err := b.gw.Balance(ctx, b.live, ext)
	require.NoError(t, err)
	requireDec(t, "18", bal.Reserved, "held once")
}
