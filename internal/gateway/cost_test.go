package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/costs"
)

// Every charge records the cost card that costed it and the cost of what it
// prices, in RMB with six decimals; a commit is costed by the cost card in
// force at its reservation, a usage event by the one in force when it
// happened, and a retry replays the first charge whatever card came since.
// (The quota excess charge: web TestAPIPlanQuotaExcessRecordsCost.)
func TestChargesRecordTheirCost(t *testing.T) {
	b := setup(t, Options{})
	ctx := context.Background()
	first, err := b.costs.InForce(ctx, b.clock.Now())
	require.NoError(t, err)
	// The demo card costs deepseek-chat at 60 % of ¥2 / ¥8 / ¥0.5 per 1M:
	// ¥0.0012 input, ¥0.0048 output, ¥0.0003 cache hit per 1k.
	acct := b.account(t, b.live, uniq(t, "a"), acctOpts{promo: "1000"})
	r, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: acct.ExternalID, Model: "deepseek-chat", MaxInputTokens: 2000,
		MaxOutputTokens: 1000, IdempotencyKey: uniq(t, "r")})
	require.NoError(t, err)

	// A new cost card between the reservation and its commit: the commit
	// keeps the reservation's (deepseek-chat now costs double).
	next := costs.DemoCard()
	for i := range next.Models {
		if next.Models[i].Model == "deepseek-chat" {
			next.Models[i].InputPer1K = d("0.0024")
		}
	}
	next.Actor, next.EffectiveAt = "test", time.Now()
	second, err := b.costs.Publish(ctx, next)
	require.NoError(t, err)

	c, err := b.gw.Commit(ctx, b.live, r.ID, CommitInput{InputTokens: 1000, OutputTokens: 500, CacheHitTokens: 200,
		Upstream: `上游 "A"`})
	require.NoError(t, err)
	requireDec(t, "6.1", c.Charged, "2 + 4 + 0.1 credits")
	ds := b.chargeDetails(t, acct.ID)
	require.Len(t, ds, 1)
	require.EqualValues(t, first.Version, ds[0]["cost_version"])
	require.Equal(t, "0.003660", ds[0]["cost"], "0.0012 + 0.0024 + 0.00006")
	require.Equal(t, `上游 "A"`, ds[0]["upstream"], "the relay's upstream, escaped as JSON")

	// A usage event is costed at the card in force when it happened.
	at := b.clock.Now()
	ev := UsageEvent{IdempotencyKey: uniq(t, "u"), Account: acct.ExternalID, Model: "deepseek-chat",
		InputTokens: 1000, OutputTokens: 1000, OccurredAt: at}
	res, err := b.gw.IngestUsage(ctx, b.live, UsageBatch{Events: []UsageEvent{ev}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Accepted, "%+v", res.Rejected)
	ds = b.chargeDetails(t, acct.ID)
	require.Len(t, ds, 2)
	require.EqualValues(t, second, ds[1]["cost_version"])
	require.Equal(t, "0.007200", ds[1]["cost"], "0.0024 + 0.0048")

	// Its retry after yet another cost card is a duplicate, not a conflict.
	next.EffectiveAt = time.Now()
	_, err = b.costs.Publish(ctx, next)
	require.NoError(t, err)
	res, err = b.gw.IngestUsage(ctx, b.live, UsageBatch{Events: []UsageEvent{ev}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Duplicates, "%+v", res.Rejected)
	require.Len(t, b.chargeDetails(t, acct.ID), 2)
}
