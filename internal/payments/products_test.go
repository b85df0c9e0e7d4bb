package payments_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/paysim"
)

// TestCanTransition: the order state machine, on its own.
func TestCanTransition(t *testing.T) {
	t.Parallel()
	const (
		cr = payments.StateCreated
		pe = payments.StatePending
		pa = payments.StatePaid
		cl = payments.StateClosed
		fa = payments.StateFailed
		nr = payments.StateNeedsReview
		pr = payments.StatePartiallyRefunded
		rf = payments.StateRefunded
	)
	all := []payments.State{cr, pe, pa, cl, fa, nr, pr, rf}
	allowed := map[[2]payments.State]bool{
		{cr, pe}: true, {cr, pa}: true, {cr, fa}: true, {cr, cl}: true, {cr, nr}: true,
		{pe, pa}: true, {pe, cl}: true, {pe, fa}: true, {pe, nr}: true,
		{cl, nr}: true, {cl, pa}: true,
		{fa, nr}: true,
		{nr, pa}: true, {nr, cl}: true,
		{pa, pr}: true, {pa, rf}: true,
		{pr, pr}: true, {pr, rf}: true,
	}
	for _, from := range all {
		require.True(t, from.Valid())
		for _, to := range all {
			require.Equal(t, allowed[[2]payments.State{from, to}], payments.CanTransition(from, to), "%s → %s", from, to)
		}
	}
	require.False(t, payments.CanTransition(pa, pe), "a paid order never reopens")
	require.False(t, payments.CanTransition(rf, pa), "a refunded order is final")
	require.False(t, payments.State("bogus").Valid())
}

// TestQuote prices tiers, bonuses and custom amounts at ¥0.001 a credit.
func TestQuote(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	svc := payments.New(nil, nil, payments.Channels{}, payments.Options{Now: func() time.Time { return now }})
	tiers := svc.Tiers()
	require.Len(t, tiers, 4)
	for i, want := range []struct {
		fen            int64
		credits, bonus string
	}{{3000, "30000", "0"}, {10000, "100000", "20000"}, {30000, "300000", "0"}, {100000, "1000000", "0"}} {
		require.Equal(t, want.fen, tiers[i].AmountFen)
		requireDec(t, want.credits, tiers[i].Credits)
		requireDec(t, want.bonus, tiers[i].BonusCredits)
	}
	q, err := svc.Quote(10000)
	require.NoError(t, err)
	require.True(t, q.HasBonus())
	requireDec(t, "20", q.BonusPercent)
	require.Equal(t, now.Add(90*24*time.Hour), *q.BonusExpiresAt)
	requireDec(t, "100.00", q.AmountYuan())

	q, err = svc.Quote(5555)
	require.NoError(t, err)
	requireDec(t, "55550", q.Credits)
	require.False(t, q.HasBonus())
	require.Nil(t, q.BonusExpiresAt)

	for _, fen := range []int64{0, -1, 999, payments.DefaultMaxFen + 1} {
		_, err := svc.Quote(fen)
		require.ErrorIs(t, err, payments.ErrAmountOutOfRange, fen)
	}
	min, max := svc.Limits()
	require.Equal(t, payments.DefaultMinFen, min)
	require.Equal(t, payments.DefaultMaxFen, max)

	// Another credit price: ¥0.002 a credit, ¥100 = 50,000 credits.
	svc = payments.New(nil, nil, payments.Channels{}, payments.Options{CreditPriceRMB: d("0.002"), Bonus: map[int64]decimal.Decimal{}})
	q, err = svc.Quote(10000)
	require.NoError(t, err)
	requireDec(t, "50000", q.Credits)
	require.False(t, q.HasBonus(), "no bonus when promotions are off")
}

// TestOptionsFromEnv reads the top-up settings and names the one at fault.
func TestOptionsFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TOPUP_TIERS": "50, 200,9.90", "TOPUP_BONUS": "200:12.5,50:5", "TOPUP_BONUS_EXPIRY_DAYS": "30",
		"TOPUP_MIN_FEN": "500", "TOPUP_MAX_FEN": "2000000", "TOPUP_ORDER_TTL": "10m", "CREDIT_PRICE_RMB": "0.01",
		"BANK_ACCOUNT_NAME": "示例科技有限公司", "BANK_NAME": "招商银行", "BANK_ACCOUNT_NO": "110912345610201",
	}
	o, err := payments.OptionsFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, []int64{990, 5000, 20000}, o.Tiers)
	requireDec(t, "12.5", o.Bonus[20000])
	requireDec(t, "5", o.Bonus[5000])
	require.Equal(t, 30*24*time.Hour, o.BonusValidity)
	require.EqualValues(t, 500, o.MinFen)
	require.EqualValues(t, 2000000, o.MaxFen)
	require.Equal(t, 10*time.Minute, o.OrderTTL)
	require.Equal(t, "招商银行", o.BankAccount.Bank)

	svc := payments.New(nil, nil, payments.Channels{}, o)
	q, err := svc.Quote(20000)
	require.NoError(t, err)
	requireDec(t, "20000", q.Credits)
	requireDec(t, "2500", q.BonusCredits)

	o, err = payments.OptionsFromEnv(func(string) string { return "" })
	require.NoError(t, err)
	require.Nil(t, o.Tiers, "unset: the defaults apply in New")

	for name, bad := range map[string]string{
		"TOPUP_TIERS": "30,abc", "TOPUP_BONUS": "100=20", "TOPUP_BONUS_EXPIRY_DAYS": "-1",
		"TOPUP_MIN_FEN": "0", "TOPUP_ORDER_TTL": "5s", "CREDIT_PRICE_RMB": "-1",
	} {
		_, err := payments.OptionsFromEnv(func(k string) string {
			if k == name {
				return bad
			}
			return ""
		})
		require.ErrorContains(t, err, name)
	}
	_, err = payments.ParseTiers("0.001")
	require.Error(t, err, "fractions of a fen are refused")
}

// TestChannelsFromEnv: in sandbox mode the channels come from paysim's dev
// keys without any WECHATPAY_*/ALIPAY_* setting; otherwise unset channels
// are unavailable.
func TestChannelsFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys, err := paysim.LoadOrCreateDevKeys(dir)
	require.NoError(t, err)
	env := map[string]string{"PAYSIM_KEY_DIR": dir, "PAYSIM_ADDR": "127.0.0.1:9999"}
	ch, err := payments.ChannelsFromEnv(func(k string) string { return env[k] }, "http://127.0.0.1:8080/", true)
	require.NoError(t, err)
	require.NotNil(t, ch.WeChat)
	require.NotNil(t, ch.Alipay)
	id := ch.WeChat.(payments.IdentifiedChannel).Identity()
	require.Equal(t, paysim.DevWeChatMchID, id.MerchantID)
	require.Equal(t, paysim.DevAlipaySeller, ch.Alipay.(payments.IdentifiedChannel).Identity().MerchantID)
	_ = keys

	ch, err = payments.ChannelsFromEnv(func(string) string { return "" }, "http://x", false)
	require.NoError(t, err)
	require.Nil(t, ch.WeChat)
	require.Nil(t, ch.Alipay)

	_, err = payments.ChannelsFromEnv(func(k string) string {
		if k == "WECHATPAY_MCH_ID" {
			return "1900000109"
		}
		return ""
	}, "http://x", false)
	require.ErrorContains(t, err, "WECHATPAY_")
}
