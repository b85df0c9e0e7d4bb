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

// ActorLabel names who did something, from the actor recorded with it:
// "staff:3:ops@example.com" reads as the email, "staff:3" as 员工 #3,
// "user:7" as 客户（用户 #7）, "system" / "seed" / a service ("plans", …) as
// 系统, "api_key:…" as API
// 密钥 #…, "provider" (a verification decided by the provider) as 实名核验服务.
// An actor of no known form (an email) is shown as recorded.
func ActorLabel(ctx context.Context, actor string) string {
	kind, rest, _ := strings.Cut(actor, ":")
	id, detail, _ := strings.Cut(rest, ":")
	switch kind {
	case "staff":
		if detail != "" {
			return detail
		}
		return i18n.T(ctx, "actor.staff") + " #" + id
	case "user":
		return i18n.T(ctx, "actor.user") + " #" + id
	case "api_key", "api":
		return i18n.T(ctx, "actor.api_key") + " #" + id
	case "customer":
		return i18n.T(ctx, "actor.customer")
	case "provider":
		return i18n.T(ctx, "actor.provider")
	case "system", "seed", "sweep", "verification", "plans", "payments", "autotopup", "backoffice":
		return i18n.T(ctx, "actor.system")
	}
	return actor
}

// SourceOrderNo is the order number of a source that is a payment order
// ("payment_order:T123" → "T123"), so a list can link the event to its
// order; "" for any other source.
func SourceOrderNo(source string) string {
	prefix, rest, _ := strings.Cut(source, ":")
	if prefix != "payment_order" {
		return ""
	}
	no, _, _ := strings.Cut(rest, ":")
	return no
}
