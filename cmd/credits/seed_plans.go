package main

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// seedPlans publishes the four demo plans (Free, Basic, Standard,
// Professional) that have no version yet, outside production. Idempotent:
// a plan already published, by seed or by staff, is left as it is.
func seedPlans(ctx context.Context, a *app.App) (seedResult, error) {
	if a.Config.Env == config.Production {
		return seedResult{Lines: []string{"no demo plans in production"}}, nil
	}
	n, err := a.Plans.EnsureDemo(ctx, "seed")
	if err != nil {
		return seedResult{}, err
	}
	cat, err := a.Plans.Catalogue(ctx)
	if err != nil {
		return seedResult{}, err
	}
	res := seedResult{Lines: []string{fmt.Sprintf("%d demo plans published now, %d plans in the catalogue", n, len(cat))}}
	for _, p := range cat {
		res.Lines = append(res.Lines, fmt.Sprintf("plan %s v%d (tier %d): %s a month, %s a year, %s plan credits a month",
			p.Code, p.Version, p.Tier, format.Money(decimal.New(p.MonthlyPriceFen, -2)), format.Money(decimal.New(p.YearlyPriceFen, -2)),
			format.Credits(p.MonthlyCredits)))
	}
	return res, nil
}
