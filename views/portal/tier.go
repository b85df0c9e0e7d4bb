package portal

import (
	"context"
	"strconv"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// tierLimits is one tier's limits as one line.
func tierLimits(ctx context.Context, rpm, tpm int64, maxOpen int) string {
	return i18n.Tf(ctx, "tier.limits", map[string]string{"RPM": strconv.FormatInt(rpm, 10),
		"TPM": strconv.FormatInt(tpm, 10), "Open": strconv.Itoa(maxOpen)})
}
