package portal

import (
	"context"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// runwayText words the balance's forecast in the reader's language.
func runwayText(ctx context.Context, r Runway) string {
	switch r.Days {
	case 0:
		return i18n.T(ctx, "overview.runway_less")
	case 1:
		return i18n.T(ctx, "overview.runway_one")
	}
	return i18n.Tf(ctx, "overview.runway_days", map[string]string{"Days": format.Credits(decimal.NewFromInt(r.Days))})
}
