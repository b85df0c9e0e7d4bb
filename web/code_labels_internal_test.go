package web

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// A recorded reason reads as a name where its code has one: a bare reason
// code, a grant's "<code>: <note>"; free text a staff member typed (even with
// a colon) and codes without a name stay as written.
func TestReasonTextNamesReasonCodes(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	for _, tc := range []struct{ lang, in, want string }{
		{"zh-CN", "outage_compensation", "故障补偿"},
		{"en", "outage_compensation", "Outage compensation"},
		{"zh-CN", "outage_compensation: 接口故障补偿", "故障补偿: 接口故障补偿"},
		{"en", "goodwill: sorry", "Goodwill: sorry"},
		{"en", "redemption_code", "Redemption code"},
		{"en", "fraud check: see ticket 12", "fraud check: see ticket 12"},
		{"en", "chargeback", "chargeback"},
		{"en", "added_by_admin: note", "added_by_admin: note"},
		{"en", "", ""},
	} {
		ctx := i18n.WithLocalizer(context.Background(), b.Localizer(tc.lang))
		require.Equal(t, tc.want, reasonText(ctx, tc.in), "%s %q", tc.lang, tc.in)
	}
}

// Every reason code the migrations seed (000620_backoffice.sql) and every lot reason the services
// record has a name in both languages, so none reaches a page as a code.
func TestEverySeededReasonCodeHasAName(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	for _, code := range []string{"outage_compensation", "goodwill", "migration", "sales_promotion",
		"signup_credit", "topup", "topup_bonus", "manual_recharge", "redemption_code", "verification_bonus",
		"model_pack", "plan_credits", "plan_upgrade", "referral_reward"} {
		require.True(t, b.Has("source."+code), "source.%s is missing from a locale", code)
	}
}
