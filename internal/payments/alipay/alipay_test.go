package alipay

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

func loadTestKeys(t *testing.T) *Client {
	t.Helper()
	priv, err := paykey.LoadPrivateKey("testdata/app_private_base64.txt") // bare base64 PKCS#8, as Alipay's tool prints
	require.NoError(t, err)
	pub, err := paykey.LoadPublicKey("testdata/app_public_base64.txt")
	require.NoError(t, err)
	// In these unit tests the same pair plays the app and Alipay.
	return &Client{AppID: "2021000000000001", PrivateKey: priv, AlipayPublicKey: pub,
		Now: func() time.Time { return time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC) }}
}

// The expected sign content is written out by hand: sorted keys, raw
// values, no sign, empty values dropped.
func TestRequestSignContentMatchesOpenSSL(t *testing.T) {
	t.Parallel()
	c := loadTestKeys(t)
	p, err := c.RequestParams("alipay.trade.precreate", "https://example.com/pay/notify/alipay",
		map[string]string{"out_trade_no": "T20260101000001", "total_amount": "100.00", "subject": "充值 ¥100"})
	require.NoError(t, err)
	require.Equal(t, "2026-01-01 12:00:00", p.Get("timestamp"), "timestamps are Beijing time")

	want, err := os.ReadFile("testdata/content.txt")
	require.NoError(t, err)
	p.Set("return_url", "") // empty parameters are not signed
	require.Equal(t, string(want), SignContent(p, "sign"))

	// testdata/content.sig is `openssl dgst -sha256 -sign` over content.txt.
	sig, err := os.ReadFile("testdata/content.sig")
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(sig)), p.Get("sign"))
}

func TestSignContentHandWritten(t *testing.T) {
	t.Parallel()
	v := url.Values{"b": {"2"}, "a": {"1"}, "sign": {"x"}, "sign_type": {"RSA2"}, "empty": {""}, "A": {"upper"}}
	require.Equal(t, "A=upper&a=1&b=2&sign_type=RSA2", SignContent(v, "sign"))
	require.Equal(t, "A=upper&a=1&b=2", SignContent(v, "sign", "sign_type"))
}

func TestVerifyResponseUsesRawNode(t *testing.T) {
	t.Parallel()
	c := loadTestKeys(t)
	// Escaped slashes and \u escapes, as the gateway may send them:
	// re-marshalling the node would change these bytes and break the sign.
	node := `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https:\/\/qr.alipay.com\/bax1","note":"\u4e2d"}`
	sign, err := Sign(c.PrivateKey, node)
	require.NoError(t, err)
	body := `{"alipay_trade_precreate_response":` + node + `,"sign":"` + sign + `"}`

	got, err := c.VerifyResponse("alipay.trade.precreate", []byte(body))
	require.NoError(t, err)
	require.Equal(t, node, string(got))

	t.Run("TamperedNode", func(t *testing.T) {
		_, err := c.VerifyResponse("alipay.trade.precreate", []byte(strings.Replace(body, "bax1", "bax2", 1)))
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("MissingSignOnSuccess", func(t *testing.T) {
		_, err := c.VerifyResponse("alipay.trade.precreate", []byte(`{"alipay_trade_precreate_response":`+node+`}`))
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("UnsignedErrorIsStillAnError", func(t *testing.T) {
		_, err := c.VerifyResponse("alipay.trade.query", []byte(`{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}}`))
		require.ErrorIs(t, err, ErrTradeNotExist)
	})
	t.Run("WrongNode", func(t *testing.T) {
		_, err := c.VerifyResponse("alipay.trade.query", []byte(body))
		require.ErrorIs(t, err, ErrMalformed)
	})
}

func signedNotify(t *testing.T, c *Client) url.Values {
	t.Helper()
	f := url.Values{
		"notify_time": {"2026-01-01 12:00:05"}, "notify_type": {"trade_status_sync"}, "notify_id": {"ac05099524730693a8b330c5ecf72da9786"},
		"app_id": {"2021000000000001"}, "charset": {"utf-8"}, "version": {"1.0"}, "trade_no": {"2026010122001400000000000001"},
		"out_trade_no": {"T20260101000001"}, "buyer_id": {"2088102122524333"}, "seller_id": {"2088000000000001"},
		"trade_status": {"TRADE_SUCCESS"}, "total_amount": {"100.00"}, "receipt_amount": {"100.00"}, "subject": {"充值 ¥100"},
		"gmt_create": {"2026-01-01 11:59:00"}, "gmt_payment": {"2026-01-01 12:00:00"},
	}
	sign, err := Sign(c.PrivateKey, SignContent(f, "sign", "sign_type"))
	require.NoError(t, err)
	f.Set("sign", sign)
	f.Set("sign_type", "RSA2")
	return f
}

func TestParseNotify(t *testing.T) {
	t.Parallel()
	c := loadTestKeys(t)

	t.Run("Valid", func(t *testing.T) {
		n, err := c.ParseNotify(signedNotify(t, c))
		require.NoError(t, err)
		require.Equal(t, "T20260101000001", n.OutTradeNo)
		require.Equal(t, "2026010122001400000000000001", n.TradeNo)
		require.Equal(t, TradeSuccess, n.TradeStatus)
		require.True(t, n.TotalAmount.Equal(decimal.RequireFromString("100")))
		require.Equal(t, "2021000000000001", n.AppID)
		require.Equal(t, "2088000000000001", n.SellerID)
		require.True(t, n.GmtPayment.Equal(time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)))
	})
	t.Run("TamperedAmount", func(t *testing.T) {
		f := signedNotify(t, c)
		f.Set("total_amount", "1000.00")
		_, err := c.ParseNotify(f)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("AddedParameter", func(t *testing.T) {
		f := signedNotify(t, c)
		f.Set("refund_fee", "100.00")
		_, err := c.ParseNotify(f)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("TamperedSign", func(t *testing.T) {
		f := signedNotify(t, c)
		s := []byte(f.Get("sign"))
		s[3] ^= 1
		f.Set("sign", string(s))
		_, err := c.ParseNotify(f)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("WrongKey", func(t *testing.T) {
		other, err := paykey.Generate()
		require.NoError(t, err)
		forger := *c
		forger.PrivateKey = other
		_, err = c.ParseNotify(signedNotify(t, &forger))
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("NoSign", func(t *testing.T) {
		f := signedNotify(t, c)
		f.Del("sign")
		_, err := c.ParseNotify(f)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("OldSignType", func(t *testing.T) {
		f := signedNotify(t, c)
		f.Set("sign_type", "RSA")
		_, err := c.ParseNotify(f)
		require.ErrorIs(t, err, ErrBadSignature)
	})
}

func TestYuan(t *testing.T) {
	t.Parallel()
	s, err := Yuan(decimal.RequireFromString("100"))
	require.NoError(t, err)
	require.Equal(t, "100.00", s)
	s, err = Yuan(decimal.RequireFromString("0.5"))
	require.NoError(t, err)
	require.Equal(t, "0.50", s)
	for _, bad := range []string{"0", "-1", "0.001"} {
		_, err := Yuan(decimal.RequireFromString(bad))
		require.Error(t, err, bad)
	}
}

func TestNotifyAnswers(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	AnswerSuccess(rec)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "success", rec.Body.String())
}

func TestClientDoesNotPrintSecrets(t *testing.T) {
	t.Parallel()
	c := loadTestKeys(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		require.NotContains(t, out, c.PrivateKey.D.String()[:12], verb)
		require.Contains(t, out, "2021000000000001", verb)
	}
}
