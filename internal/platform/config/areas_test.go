package config_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/verification"
)

// refusesEach loads vars with each bad value in turn and expects an error
// naming its variable, on one line.
func refusesEach(t *testing.T, bad map[string]string) {
	t.Helper()
	for name, v := range bad {
		_, err := config.LoadFrom(map[string]string{name: v})
		require.ErrorContains(t, err, name, "%s=%q", name, v)
		require.NotContains(t, err.Error(), "\n")
	}
}

func requireDec(t *testing.T, want string, got decimal.Decimal, msg ...any) {
	t.Helper()
	require.True(t, decimal.RequireFromString(want).Equal(got), "want %s, got %s %v", want, got, msg)
}

func TestGrace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, credits, hours string
		want                 ledger.GracePolicy
		err                  string
	}{
		{"OffByDefault", "", "", ledger.GracePolicy{}, ""},
		{"ZeroCreditsIsOff", "0", "72", ledger.GracePolicy{}, ""},
		{"On", "5000", "72", ledger.GracePolicy{Enabled: true, Amount: decimal.NewFromInt(5000), Lifetime: 72 * time.Hour}, ""},
		{"Fraction", "0.5", "1", ledger.GracePolicy{Enabled: true, Amount: decimal.RequireFromString("0.5"), Lifetime: time.Hour}, ""},
		{"NotANumber", "lots", "72", ledger.GracePolicy{}, "GRACE_CREDITS must be"},
		{"Negative", "-1", "72", ledger.GracePolicy{}, "GRACE_CREDITS must be"},
		{"TooManyDecimals", "1.0000001", "72", ledger.GracePolicy{}, "GRACE_CREDITS must be"},
		{"HoursNotWhole", "5000", "1.5", ledger.GracePolicy{}, "GRACE_HOURS must be"},
		{"CreditsWithoutHours", "5000", "", ledger.GracePolicy{}, "GRACE_HOURS must be a whole number of hours above 0 when GRACE_CREDITS is set"},
		{"CreditsWithZeroHours", "5000", "0", ledger.GracePolicy{}, "GRACE_HOURS must be a whole number of hours above 0 when GRACE_CREDITS is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.LoadFrom(map[string]string{"GRACE_CREDITS": tc.credits, "GRACE_HOURS": tc.hours})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want.Enabled, c.Grace.Enabled)
			require.True(t, tc.want.Amount.Equal(c.Grace.Amount), "amount %s", c.Grace.Amount)
			require.Equal(t, tc.want.Lifetime, c.Grace.Lifetime)
		})
	}
}

func TestInvoicing(t *testing.T) {
	t.Parallel()
	c, err := config.LoadFrom(map[string]string{
		"INVOICE_SELLER_NAME": "北京示例云计算有限公司", "INVOICE_SELLER_TAX_ID": "91110108ma01abc125", "INVOICE_TAX_RATE": "0.03",
	})
	require.NoError(t, err)
	require.Equal(t, "91110108MA01ABC125", c.Invoicing.Seller.TaxID)
	require.Equal(t, "0.03", c.Invoicing.TaxRate.String())
	refusesEach(t, map[string]string{"INVOICE_SELLER_TAX_ID": "91110108MA01ABC126", "INVOICE_TAX_RATE": "6"})
}

func TestVerification(t *testing.T) {
	t.Parallel()
	c, err := config.LoadFrom(nil)
	require.NoError(t, err)
	require.True(t, c.Verification.Bonus.Amount.IsZero())
	require.Equal(t, verification.DefaultMaxLicenceBytes, c.Verification.MaxLicenceBytes)
	require.Equal(t, []string{"admin"}, c.Verification.RevealRoles)
	require.Empty(t, c.VerifyProvider.Endpoint, "the sandbox in development")

	c, err = config.LoadFrom(map[string]string{
		"VERIFICATION_BONUS_CREDITS": "1000.5", "VERIFICATION_BONUS_EXPIRY_DAYS": "90",
		"VERIFICATION_LICENCE_MAX_BYTES": "1048576", "PII_REVEAL_ROLES": "admin, compliance",
	})
	require.NoError(t, err)
	require.Equal(t, "1000.5", c.Verification.Bonus.Amount.String())
	require.Equal(t, 90, c.Verification.Bonus.ExpiryDays)
	require.Equal(t, 1<<20, c.Verification.MaxLicenceBytes)
	require.Equal(t, []string{"admin", "compliance"}, c.Verification.RevealRoles)
	refusesEach(t, map[string]string{"VERIFICATION_BONUS_CREDITS": "-1", "VERIFICATION_BONUS_EXPIRY_DAYS": "x", "VERIFICATION_LICENCE_MAX_BYTES": "0"})
}

func TestBackoffice(t *testing.T) {
	t.Parallel()
	def := backoffice.DefaultSettings()
	requireDec(t, "50000", def.SupportGrantStaffDayLimit, "by default one grant at the per-action limit a day")
	requireDec(t, "50000", def.SupportGrantAccountDayLimit)
	require.Equal(t, int64(100000), def.ManualRechargeStaffDayLimitFen)
	require.Equal(t, int64(100000), def.ManualRechargeAccountDayLimitFen)

	c, err := config.LoadFrom(map[string]string{"LIMIT_SUPPORT_GRANT": "1000.5", "LIMIT_MANUAL_RECHARGE_FEN": "500000", "REDEEM_WINDOW": "1h",
		"LIMIT_SUPPORT_GRANT_STAFF_DAY": "200000", "LIMIT_SUPPORT_GRANT_ACCOUNT_DAY": "75000.25",
		"LIMIT_MANUAL_RECHARGE_STAFF_DAY_FEN": "2000000", "LIMIT_MANUAL_RECHARGE_ACCOUNT_DAY_FEN": "0"})
	require.NoError(t, err)
	s := c.Backoffice
	requireDec(t, "1000.5", s.SupportGrantLimit)
	requireDec(t, "5000", s.ManualRechargeLimit())
	requireDec(t, "200000", s.SupportGrantStaffDayLimit)
	requireDec(t, "75000.25", s.SupportGrantAccountDayLimit)
	require.Equal(t, int64(2000000), s.ManualRechargeStaffDayLimitFen)
	require.Equal(t, int64(0), s.ManualRechargeAccountDayLimitFen, "0: every manual recharge needs a second person")
	require.Equal(t, time.Hour, s.RedeemWindow)
	require.Equal(t, 10, s.RedeemMaxFailuresPerAccount)
	refusesEach(t, map[string]string{"LIMIT_SUPPORT_GRANT": "lots", "LIMIT_MANUAL_RECHARGE_FEN": "1.5", "REDEEM_WINDOW": "-1m", "REDEEM_MAX_FAILURES_IP": "-3",
		"LIMIT_SUPPORT_GRANT_STAFF_DAY": "-1", "LIMIT_SUPPORT_GRANT_ACCOUNT_DAY": "0.0000001", "LIMIT_MANUAL_RECHARGE_STAFF_DAY_FEN": "10.5",
		"LIMIT_MANUAL_RECHARGE_ACCOUNT_DAY_FEN": "-100"})
}

// TestPayments reads the top-up settings and names the one at fault.
func TestPayments(t *testing.T) {
	t.Parallel()
	c, err := config.LoadFrom(map[string]string{
		"TOPUP_TIERS": "50, 200,9.90", "TOPUP_BONUS": "200:12.5,50:5", "TOPUP_BONUS_EXPIRY_DAYS": "30",
		"TOPUP_MIN_FEN": "500", "TOPUP_MAX_FEN": "2000000", "TOPUP_ORDER_TTL": "10m", "CREDIT_PRICE_RMB": "0.01",
		"BANK_ACCOUNT_NAME": "示例科技有限公司", "BANK_NAME": "招商银行", "BANK_ACCOUNT_NO": "110912345610201",
	})
	require.NoError(t, err)
	o := c.Payments
	require.Equal(t, []int64{990, 5000, 20000}, o.Tiers)
	requireDec(t, "12.5", o.Bonus[20000])
	requireDec(t, "5", o.Bonus[5000])
	require.Equal(t, 30*24*time.Hour, o.BonusValidity)
	require.EqualValues(t, 500, o.MinFen)
	require.EqualValues(t, 2000000, o.MaxFen)
	require.Equal(t, 10*time.Minute, o.OrderTTL)
	require.Equal(t, "招商银行", o.BankAccount.Bank)
	requireDec(t, "0.01", o.CreditPriceRMB, "one credit price for the whole process")

	svc := payments.New(nil, nil, payments.Channels{}, o)
	q, err := svc.Quote(20000)
	require.NoError(t, err)
	requireDec(t, "20000", q.Credits)
	requireDec(t, "2500", q.BonusCredits)

	c, err = config.LoadFrom(nil)
	require.NoError(t, err)
	require.Nil(t, c.Payments.Tiers, "unset: the defaults apply in New")
	require.Equal(t, payments.DemoBankAccount, c.Payments.BankAccount, "development shows the clearly fake account")

	refusesEach(t, map[string]string{"TOPUP_TIERS": "30,abc", "TOPUP_BONUS": "100=20", "TOPUP_BONUS_EXPIRY_DAYS": "-1",
		"TOPUP_MIN_FEN": "0", "TOPUP_ORDER_TTL": "5s", "CREDIT_PRICE_RMB": "-1"})
	_, err = payments.ParseTiers("0.001")
	require.Error(t, err, "fractions of a fen are refused")
}

// TestChannels: in sandbox mode the channels come from paysim's dev keys
// without any WECHATPAY_*/ALIPAY_* setting; otherwise unset channels are
// unavailable.
func TestChannels(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := config.LoadFrom(map[string]string{"PAYSIM_KEY_DIR": dir, "PAYSIM_ADDR": "127.0.0.1:9999"})
	require.NoError(t, err)
	require.True(t, c.PaymentSandbox)
	require.Equal(t, "http://127.0.0.1:9999", c.Paysim.PublicURL)
	ch, err := payments.BuildChannels(c.WeChatPay, c.Alipay, c.BaseURL, &payments.Sandbox{URL: c.Paysim.PublicURL, KeyDir: c.Paysim.KeyDir})
	require.NoError(t, err)
	require.NotNil(t, ch.WeChat)
	require.NotNil(t, ch.Alipay)
	require.Equal(t, paysim.DevWeChatMchID, ch.WeChat.(payments.IdentifiedChannel).Identity().MerchantID)
	require.Equal(t, paysim.DevAlipaySeller, ch.Alipay.(payments.IdentifiedChannel).Identity().MerchantID)

	c, err = config.LoadFrom(map[string]string{"PAYMENT_SANDBOX": "false"})
	require.NoError(t, err)
	ch, err = payments.BuildChannels(c.WeChatPay, c.Alipay, c.BaseURL, nil)
	require.NoError(t, err)
	require.Nil(t, ch.WeChat)
	require.Nil(t, ch.Alipay)

	c, err = config.LoadFrom(map[string]string{"PAYMENT_SANDBOX": "false", "WECHATPAY_MCH_ID": "1900000109"})
	require.NoError(t, err)
	_, err = payments.BuildChannels(c.WeChatPay, c.Alipay, c.BaseURL, nil)
	require.ErrorContains(t, err, "WECHATPAY_")
}

// TestProductionRefusesDevelopmentStandIns: production names what it needs.
func TestProductionRefusesDevelopmentStandIns(t *testing.T) {
	t.Parallel()
	prod := map[string]string{"APP_ENV": "production", "SESSION_SECRET": "0123456789abcdef0123456789abcdef-prod", "PAYMENT_SANDBOX": "false"}
	_, err := config.LoadFrom(prod)
	require.ErrorContains(t, err, "VERIFY_ENDPOINT")
	prod["VERIFY_ENDPOINT"] = "https://verify.example.com"
	c, err := config.LoadFrom(prod)
	require.NoError(t, err)
	require.False(t, c.Payments.BankAccount.Configured(), "no demo bank account in production")
}

// TestSetAddrMovesTheBaseURLUnlessItWasSet: serve --addr.
func TestSetAddrMovesTheBaseURLUnlessItWasSet(t *testing.T) {
	t.Parallel()
	c, err := config.LoadFrom(nil)
	require.NoError(t, err)
	c.SetAddr("127.0.0.1:9001")
	require.Equal(t, "http://127.0.0.1:9001", c.BaseURL)
	c, err = config.LoadFrom(map[string]string{"BASE_URL": "https://billing.example.com/"})
	require.NoError(t, err)
	c.SetAddr("127.0.0.1:9001")
	require.Equal(t, "https://billing.example.com", c.BaseURL)
}
