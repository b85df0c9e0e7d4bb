package pricing

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func tokenPrice(in, out, cache string) ModelPrice {
	return ModelPrice{Model: "m", BillingType: BillingToken, InputPer1K: d(in), OutputPer1K: d(out), CacheHitPer1K: d(cache)}
}

func TestUsageCost(t *testing.T) {
	t.Parallel()
	deepseek := tokenPrice("2", "8", "0.5")
	tests := []struct {
		name                             string
		price                            ModelPrice
		input, output, cacheHit, request int64
		want                             string
	}{
		{"OneThousandInputTokensCostTheRate", deepseek, 1000, 0, 0, 1, "2"},
		{"InputOutputAndCacheAreSeparateBuckets", deepseek, 1000, 500, 2000, 1, "7"}, // 2 + 4 + 1
		{"SingleTokenIsExactAtSixDecimals", deepseek, 1, 0, 0, 1, "0.002"},
		{"CacheHitTokenAtCacheRate", deepseek, 0, 0, 1, 1, "0.0005"},
		{"ZeroUsageCostsNothing", deepseek, 0, 0, 0, 1, "0"},
		{"NegativeCountsCountAsZero", deepseek, -5, 1000, 0, 1, "8"},
		// 1 token × 0.0025/1k = 0.0000025: a tie, rounds to the even 0.000002.
		{"TieRoundsDownToEven", tokenPrice("0.0025", "0", "0"), 1, 0, 0, 1, "0.000002"},
		// 1 token × 0.0035/1k = 0.0000035: a tie, rounds up to the even 0.000004.
		{"TieRoundsUpToEven", tokenPrice("0.0035", "0", "0"), 1, 0, 0, 1, "0.000004"},
		{"AboveHalfRoundsUp", tokenPrice("0.0026", "0", "0"), 1, 0, 0, 1, "0.000003"},
		// Rounded once: 0.0000006 + 0.0000006 = 0.0000012 → 0.000001. Rounding
		// each part first would charge 0.000002.
		{"RoundedOnceNotPerComponent", tokenPrice("0.0006", "0.0006", "0"), 1, 1, 0, 1, "0.000001"},
		{"LargeCallIsExact", tokenPrice("12", "12", "12"), 123_456_789, 987_654_321, 0, 1, "13333333.32"},
		{"PerRequestIgnoresTokens", ModelPrice{Model: "img", BillingType: BillingPerRequest, PerRequest: d("160")}, 5000, 5000, 0, 3, "480"},
		{"PerRequestWithNoRequestsCostsNothing", ModelPrice{Model: "img", BillingType: BillingPerRequest, PerRequest: d("160")}, 0, 0, 0, 0, "0"},
		{"PerRequestRoundsOnce", ModelPrice{Model: "img", BillingType: BillingPerRequest, PerRequest: d("0.0000005")}, 0, 0, 0, 3, "0.000002"},
		{"FreeCostsNothing", ModelPrice{Model: "glm-4-flash", BillingType: BillingFree}, 100000, 100000, 100, 1, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UsageCost(tt.price, tt.input, tt.output, tt.cacheHit, tt.request)
			require.True(t, d(tt.want).Equal(got), "want %s, got %s", tt.want, got)
			require.LessOrEqual(t, -got.Exponent(), int32(CreditScale), "at most 6 decimals: %s", got)
		})
	}
}

func TestReservationHold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		price         ModelPrice
		maxIn, maxOut int64
		want          string
	}{
		// 4000 × 2/1k + 1000 × 8/1k = 8 + 8.
		{"InputAndOutputAtTheirRates", tokenPrice("2", "8", "0.5"), 4000, 1000, "16"},
		{"HoldsAllInputAtTheFullInputRate", tokenPrice("4", "16", "1"), 1000, 0, "4"},
		{"TieRoundsHalfEven", tokenPrice("0.0025", "0", "0"), 1, 0, "0.000002"},
		{"RoundedOnce", tokenPrice("0.0006", "0.0006", "0"), 1, 1, "0.000001"},
		{"PerRequestHoldsOneCall", ModelPrice{Model: "img", BillingType: BillingPerRequest, PerRequest: d("160")}, 8000, 8000, "160"},
		{"FreeHoldsNothing", ModelPrice{Model: "f", BillingType: BillingFree}, 8000, 8000, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReservationHold(tt.price, tt.maxIn, tt.maxOut)
			require.True(t, d(tt.want).Equal(got), "want %s, got %s", tt.want, got)
		})
	}
}

func TestFromRMBPerMillion(t *testing.T) {
	t.Parallel()
	at := DefaultCreditPriceRMB
	// ¥2 per 1M = ¥0.002 per 1k = 2 credits at ¥0.001 per credit.
	require.True(t, d("2").Equal(FromRMBPerMillion(d("2"), at)))
	require.True(t, d("0.3").Equal(FromRMBPerMillion(d("0.3"), at)))
	require.True(t, d("9.6").Equal(FromRMBPerMillion(d("9.6"), at)))
	// At ¥0.01 per credit the same price is a tenth of the credits.
	require.True(t, d("0.2").Equal(FromRMBPerMillion(d("2"), d("0.01"))))
	require.True(t, d("160").Equal(FromRMBPerCall(d("0.16"), at)))
	// Cross-check: a million tokens at 2 credits/1k is 2000 credits = ¥2.
	cost := UsageCost(tokenPrice("2", "0", "0"), 1_000_000, 0, 0, 1)
	require.True(t, d("2").Equal(cost.Mul(at)), "¥ of 1M tokens: %s", cost.Mul(at))
}

func TestDefaultCard(t *testing.T) {
	t.Parallel()
	card := DefaultCard()
	require.GreaterOrEqual(t, len(card.Models), 8)
	require.NoError(t, validateCard(Card{Actor: "test", Models: card.Models}))

	want := map[string][4]string{ // input, output, cache hit, per request (credits)
		"deepseek-chat":          {"2", "8", "0.5", "0"},
		"deepseek-reasoner":      {"4", "16", "1", "0"},
		"qwen-max":               {"2.4", "9.6", "0.48", "0"},
		"qwen-plus":              {"0.8", "2", "0.16", "0"},
		"qwen-turbo":             {"0.3", "0.6", "0.06", "0"},
		"moonshot-v1-8k":         {"2", "10", "2", "0"},
		"kimi-k2":                {"4", "16", "1", "0"},
		"glm-4-plus":             {"5", "5", "5", "0"},
		"glm-4-flash":            {"0", "0", "0", "0"},
		"doubao-seed-1-6-251015": {"0.8", "8", "0.16", "0"},
		"ernie-4.0-8k":           {"30", "90", "30", "0"},
		"ernie-speed-8k":         {"0", "0", "0", "0"},
		"wanx-v1":                {"0", "0", "0", "160"},
	}
	require.Len(t, card.Models, len(want), "every line of the card has an expected price")
	for model, w := range want {
		p, err := card.Price(model)
		require.NoError(t, err, model)
		got := [4]decimal.Decimal{p.InputPer1K, p.OutputPer1K, p.CacheHitPer1K, p.PerRequest}
		for i := range w {
			require.True(t, d(w[i]).Equal(got[i]), "%s field %d: want %s, got %s", model, i, w[i], got[i])
		}
	}
	flash, _ := card.Price("glm-4-flash")
	require.Equal(t, BillingFree, flash.BillingType)
	img, _ := card.Price("wanx-v1")
	require.Equal(t, BillingPerRequest, img.BillingType)

	_, err := card.Price("gpt-unknown")
	require.True(t, errors.Is(err, ErrUnknownModel))
	// Retired by Volcano Engine on 2025-11-27: no longer on the card.
	_, err = card.Price("doubao-pro-32k")
	require.True(t, errors.Is(err, ErrUnknownModel))
}

func TestValidateCard(t *testing.T) {
	t.Parallel()
	ok := tokenPrice("1", "1", "1")
	tests := []struct {
		name string
		card Card
		code string
	}{
		{"NoActor", Card{Models: []ModelPrice{ok}}, CodeNoActor},
		{"NoModels", Card{Actor: "a"}, CodeNoModels},
		{"EmptyModelName", Card{Actor: "a", Models: []ModelPrice{{BillingType: BillingFree}}}, CodeBadModelName},
		{"Duplicate", Card{Actor: "a", Models: []ModelPrice{ok, ok}}, CodeDuplicateModel},
		{"UnknownBillingType", Card{Actor: "a", Models: []ModelPrice{{Model: "x", BillingType: "monthly"}}}, CodeBadBillingType},
		{"NegativeRate", Card{Actor: "a", Models: []ModelPrice{tokenPrice("-1", "1", "1")}}, CodeNegativePrice},
		{"FreeWithPrice", Card{Actor: "a", Models: []ModelPrice{{Model: "x", BillingType: BillingFree, InputPer1K: d("1")}}}, CodeBadPriceShape},
		{"PerRequestWithoutPrice", Card{Actor: "a", Models: []ModelPrice{{Model: "x", BillingType: BillingPerRequest}}}, CodeBadPriceShape},
		{"PerRequestWithTokenRate", Card{Actor: "a", Models: []ModelPrice{{Model: "x", BillingType: BillingPerRequest, PerRequest: d("1"), OutputPer1K: d("1")}}}, CodeBadPriceShape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateCard(tt.card)
			require.ErrorIs(t, err, ErrInvalidCard)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.code, ve.Code)
		})
	}
}
