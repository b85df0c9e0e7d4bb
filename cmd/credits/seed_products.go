package main

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// seedProducts publishes the three demo one-time products (a model pack, a
// feature unlock, fine-tune jobs) that have no version yet, outside
// production. Idempotent: a product already published is left as it is.
func seedProducts(ctx context.Context, a *app.App) (seedResult, error) {
	if a.Config.Env == config.Production {
		return seedResult{Lines: []string{"no demo products in production"}}, nil
	}
	n, err := a.Products.EnsureDemo(ctx, "seed")
	if err != nil {
		return seedResult{}, err
	}
	cat, err := a.Products.Catalogue(ctx)
	if err != nil {
		return seedResult{}, err
	}
	res := seedResult{Lines: []string{fmt.Sprintf("%d demo products published now, %d products in the catalogue", n, len(cat))}}
	for _, p := range cat {
		res.Lines = append(res.Lines, fmt.Sprintf("product %s v%d (%s): %s, refundable within %d days",
			p.Code, p.Version, p.Kind, format.Money(decimal.New(p.PriceFen, -2)), p.RefundDays))
	}
	return res, nil
}
