package alipay

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// TestAgreementSignURLMatchesOpenSSL: the signing page carries the
// documented biz_content (GENERAL_WITHHOLDING_P, access_params.channel) and
// its sign content is testdata/agreement_sign_content.txt, whose sign
// (testdata/agreement_sign_content.sig) `openssl dgst -sha256 -sign` made.
func TestAgreementSignURLMatchesOpenSSL(t *testing.T) {
	t.Parallel()
	c := loadTestKeys(t)
	c.AgreementNotifyURL = "https://example.com/pay/notify/alipay/agreement"
	u, err := c.AgreementSignURL(AgreementSign{ExternalAgreementNo: "A20260101000001", ExternalLogonID: "42", ReturnURL: "https://example.com/portal/auto-topup"})
	require.NoError(t, err)
	gw, query, ok := strings.Cut(u, "?")
	require.True(t, ok)
	require.Equal(t, DefaultGatewayURL, gw)
	p, err := url.ParseQuery(query)
	require.NoError(t, err)
	require.Equal(t, MethodAgreementPageSign, p.Get("method"))
	require.Contains(t, p.Get("biz_content"), `"personal_product_code":"GENERAL_WITHHOLDING_P"`)
	require.Contains(t, p.Get("biz_content"), `"access_params":{"channel":"QRCODE"}`)
	requireOpenSSLContent(t, SignContent(p, "sign"), p.Get("sign"), "agreement_sign_content")
}

func requireOpenSSLContent(t *testing.T, content, sign, name string) {
	t.Helper()
	want, err := os.ReadFile("testdata/" + name + ".txt")
	require.NoError(t, err)
	require.Equal(t, string(want), content)
	sig, err := os.ReadFile("testdata/" + name + ".sig")
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(sig)), sign, "our sign is OpenSSL's")
}

// gateway answers one method with node (signed unless unsigned) and records
// the request form.
func gateway(t *testing.T, c *Client, method, node string) *url.Values {
	t.Helper()
	got := &url.Values{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got, _ = url.ParseQuery(string(b))
		sign, err := Sign(c.PrivateKey, node)
		require.NoError(t, err)
		_, _ = io.WriteString(w, `{"`+ResponseKey(method)+`":`+node+`,"sign":"`+sign+`"}`)
	}))
	t.Cleanup(srv.Close)
	c.GatewayURL = srv.URL
	return got
}

func TestPayWithAgreement(t *testing.T) {
	t.Parallel()
	t.Run("PaidAndSignedLikeOpenSSL", func(t *testing.T) {
		c := loadTestKeys(t)
		c.NotifyURL = "https://example.com/pay/notify/alipay"
		got := gateway(t, c, MethodTradePay, `{"code":"10000","msg":"Success","trade_no":"2026010122001","out_trade_no":"T20260101000009","total_amount":"100.00"}`)
		tr, err := c.PayWithAgreement(t.Context(), AgreementDebit{AgreementNo: "20265601000000000001", OutTradeNo: "T20260101000009", TotalAmount: decimal.RequireFromString("100"), Subject: "自动充值 ¥100"})
		require.NoError(t, err)
		require.Equal(t, "2026010122001", tr.TradeNo)
		require.Contains(t, got.Get("biz_content"), `"agreement_params":{"agreement_no":"20265601000000000001"}`)
		require.Contains(t, got.Get("biz_content"), `"product_code":"GENERAL_WITHHOLDING"`)
		requireOpenSSLContent(t, SignContent(*got, "sign"), got.Get("sign"), "agreement_pay_content")
	})
	for sub, want := range map[string]error{
		"ACQ.BUYER_BALANCE_NOT_ENOUGH": ErrInsufficientFunds, "ACQ.AGREEMENT_STATUS_NOT_NORMAL": ErrAgreementRevoked,
		"ACQ.AGREEMENT_NOT_EXIST": ErrAgreementRevoked, "ACQ.EXCEED_SINGLE_DEDUCT_AMOUNT_LIMIT": ErrLimitExceeded,
	} {
		t.Run("Fails"+sub, func(t *testing.T) {
			c := loadTestKeys(t)
			gateway(t, c, MethodTradePay, `{"code":"40004","msg":"Business Failed","sub_code":"`+sub+`","sub_msg":"x"}`)
			_, err := c.PayWithAgreement(t.Context(), AgreementDebit{AgreementNo: "1", OutTradeNo: "T1", TotalAmount: decimal.NewFromInt(1), Subject: "x"})
			require.ErrorIs(t, err, want)
			for _, other := range []error{ErrInsufficientFunds, ErrAgreementRevoked, ErrLimitExceeded, ErrTradeNotExist} {
				if other != want {
					require.False(t, errors.Is(err, other))
				}
			}
		})
	}
}

func TestAgreementQueryAndUnsign(t *testing.T) {
	t.Parallel()
	c := loadTestKeys(t)
	got := gateway(t, c, MethodAgreementQuery, `{"code":"10000","msg":"Success","agreement_no":"2026","external_agreement_no":"A1","status":"NORMAL","sign_time":"2026-01-01 12:00:00"}`)
	a, err := c.QueryAgreement(t.Context(), "2026")
	require.NoError(t, err)
	require.Equal(t, AgreementNormal, a.Status)
	require.Equal(t, MethodAgreementQuery, got.Get("method"))

	c2 := loadTestKeys(t)
	got2 := gateway(t, c2, MethodAgreementUnsign, `{"code":"10000","msg":"Success"}`)
	require.NoError(t, c2.Unsign(t.Context(), "2026"))
	require.Contains(t, got2.Get("biz_content"), `"agreement_no":"2026"`)
}

// signedAgreementNotify: the sign content of the unsign notify is
// testdata/agreement_notify_content.txt, signed by OpenSSL.
func signedAgreementNotify(t *testing.T, c *Client, typ, status string) url.Values {
	t.Helper()
	f := url.Values{
		"notify_id": {"4f3c0a"}, "notify_time": {"2026-01-01 12:00:05"}, "notify_type": {typ}, "app_id": {"2021000000000001"},
		"charset": {"utf-8"}, "version": {"1.0"}, "status": {status}, "agreement_no": {"20265601000000000001"},
		"external_agreement_no": {"A20260101000001"}, "alipay_user_id": {"2088102122524333"},
		"personal_product_code": {PersonalProductWithholding}, "sign_scene": {SignSceneDefault},
		"sign_time": {"2026-01-01 12:00:00"}, "invalid_time": {"2115-02-01 00:00:00"},
	}
	sign, err := Sign(c.PrivateKey, SignContent(f, "sign", "sign_type"))
	require.NoError(t, err)
	f.Set("sign", sign)
	f.Set("sign_type", "RSA2")
	return f
}

func TestParseAgreementNotify(t *testing.T) {
	t.Parallel()
	c := loadTestKeys(t)
	t.Run("UnsignMatchesOpenSSL", func(t *testing.T) {
		f := signedAgreementNotify(t, c, NotifyTypeUnsign, AgreementUnsign)
		requireOpenSSLContent(t, SignContent(f, "sign", "sign_type"), f.Get("sign"), "agreement_notify_content")
		n, err := c.ParseAgreementNotify(f)
		require.NoError(t, err)
		require.Equal(t, AgreementUnsign, n.Status)
		require.Equal(t, "A20260101000001", n.ExternalAgreementNo)
		require.True(t, n.SignTime.Equal(time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)))
	})
	t.Run("Sign", func(t *testing.T) {
		n, err := c.ParseAgreementNotify(signedAgreementNotify(t, c, NotifyTypeSign, AgreementNormal))
		require.NoError(t, err)
		require.Equal(t, NotifyTypeSign, n.NotifyType)
		require.Equal(t, "20265601000000000001", n.AgreementNo)
	})
	t.Run("TamperedStatus", func(t *testing.T) {
		f := signedAgreementNotify(t, c, NotifyTypeSign, AgreementNormal)
		f.Set("status", AgreementUnsign)
		_, err := c.ParseAgreementNotify(f)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("TradeNotifyIsNotAnAgreement", func(t *testing.T) {
		_, err := c.ParseAgreementNotify(signedNotify(t, c))
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("Unsigned", func(t *testing.T) {
		f := signedAgreementNotify(t, c, NotifyTypeSign, AgreementNormal)
		f.Del("sign")
		_, err := c.ParseAgreementNotify(f)
		require.ErrorIs(t, err, ErrBadSignature)
	})
}
