package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
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
	} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), string(v.AppendJSON(nil)))
	}
	for _, v := range []CommitView{
		{Charged: decimal.RequireFromString("9.5"), Released: decimal.RequireFromString("8.5"),
			Unpaid: decimal.Zero, Available: decimal.RequireFromString("90.5")},
		{Charged: decimal.RequireFromString("123456789.123456"), Available: decimal.RequireFromString("-1.25")},
	} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), string(v.AppendJSON(nil)))
	}
	for _, d := range []UsageDetail{
		{InputTokens: 1000, OutputTokens: 500, Requests: 1, RateCardVersion: 7, Outcome: OutcomeCompleted},
		{CacheHitTokens: 3, Outcome: OutcomeUpstreamError},
	} {
		want, err := json.Marshal(d)
		require.NoError(t, err)
		require.Equal(t, string(want), string(d.appendJSON(nil)))
	}
	require.JSONEq(t, `{"max_input_tokens":1000,"max_output_tokens":2000,"rate_card_version":4}`,
		string(reserveDetail(1000, 2000, 4)))
}
