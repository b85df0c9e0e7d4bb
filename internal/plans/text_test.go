package plans_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/plans"
)

func TestItemsTextRoundTrip(t *testing.T) {
	t.Parallel()
	items := []plans.Item{
		{Models: []string{"deepseek-chat"}, Quotas: []plans.Quota{
			{Unit: plans.Requests, Window: plans.Rolling(5), Limit: 120}, {Unit: plans.Requests, Window: plans.Week, Limit: 1000}}},
		{Group: "qwen", Models: []string{"qwen-plus", "qwen-max"}, Quotas: []plans.Quota{{Unit: plans.Tokens, Window: plans.PerPeriod, Limit: 2000000}}},
		{Models: []string{"kimi-k2"}, Quotas: []plans.Quota{{Unit: plans.Requests, Window: plans.Day, Limit: plans.Unlimited}}},
	}
	text := plans.FormatItems(items)
	require.Equal(t, "deepseek-chat: 120 requests/5h, 1000 requests/week\ngroup=qwen qwen-plus qwen-max: 2000000 tokens/period\nkimi-k2: unlimited requests/day", text)
	back, err := plans.ParseItems(text)
	require.NoError(t, err)
	require.Equal(t, items, back)
	// Full-width punctuation and blank lines are accepted.
	back, err = plans.ParseItems("\n deepseek-chat：120 requests/5h，1000 requests/week \n\n")
	require.NoError(t, err)
	require.Equal(t, items[:1], back)
	for _, bad := range []string{"deepseek-chat 120 requests/5h", "m: lots requests/day", "m: 5 requests", "m: 5 requests/xh"} {
		_, err := plans.ParseItems(bad)
		require.ErrorContains(t, err, "line 1", bad)
	}
}
