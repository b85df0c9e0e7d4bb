package main

import (
	"context"
	"fmt"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
)

// demoSandboxKey is the sandbox service key `seed` stores and prints, so
// `make run` shows a key to try the API with. It only reaches sandbox
// (test-mode) accounts; production seeds refuse it.
const demoSandboxKey = "sk_test_demo0000000000000000000000000000000000000"

// seedGateway publishes the default rate card (once; outside production,
// again when this release's list changed it), outside production the demo
// cost card (once) and the demo sandbox key. Idempotent.
func seedGateway(ctx context.Context, a *app.App) (seedResult, error) {
	cfg, prices := a.Config, a.Pricing
	version, err := prices.EnsureDefault(ctx, "seed", cfg.CreditPriceRMB)
	if err != nil {
		return seedResult{}, err
	}
	res := seedResult{Lines: []string{fmt.Sprintf("rate card version %d in force", version)}}
	if cfg.Env == config.Production {
		return res, nil
	}
	// Outside production the default card follows this release's list
	// (a new version, effective now) unless someone published their own.
	version, refreshed, err := prices.RefreshDefault(ctx, "seed", cfg.CreditPriceRMB)
	if err != nil {
		return seedResult{}, err
	}
	if refreshed {
		res.Lines[0] = fmt.Sprintf("rate card version %d in force (this release's default list, replacing an earlier one)", version)
	}
	// The demo cost card (costs.DemoCard: 60 % of the list prices, not real
	// costs) so that charges record a cost and the margin report has data.
	// Production publishes its real costs in the back office instead.
	costVersion, err := a.Costs.EnsureDemo(ctx, "seed")
	if err != nil {
		return seedResult{}, err
	}
	res.Lines = append(res.Lines, fmt.Sprintf("cost card version %d in force", costVersion))
	if err := a.Gateway.Keys.EnsureKey(ctx, ledger.ModeTest, "demo sandbox key", demoSandboxKey); err != nil {
		return seedResult{}, err
	}
	res.Lines = append(res.Lines, "sandbox API key "+demoSandboxKey+
		" (try: curl -H 'Authorization: Bearer "+demoSandboxKey+"' "+cfg.BaseURL+"/v1/rate-card)")
	return res, nil
}
