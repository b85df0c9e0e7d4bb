package components

import (
	"context"
	"strings"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// SourceLabel names where a lot or ledger event came from in the reader's
// language: "payment_order:T123" reads 充值订单 T123, "grant:3:0c44…" reads
// 客服赠送 #3. A source without a label (locales/console-labels.*.toml,
// keys source.<prefix>) is shown as recorded.
func SourceLabel(ctx context.Context, source string) string {
	prefix, rest, _ := strings.Cut(source, ":")
	key := "source." + prefix
	label := i18n.T(ctx, key)
	if label == key {
		return source
	}
	ref, _, _ := strings.Cut(rest, ":")
	switch {
	case ref == "":
		return label
	case prefix == "payment_order":
		return label + " " + ref
	default:
		return label + " #" + ref
	}
}
