package wechatpay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

// TestCreateH5Request: the body CreateH5 sends is the documented H5 order
// (scene_info with payer_client_ip and h5_info.type Wap), and the message
// it signs over that body matches testdata/h5_msg.txt, whose signature
// testdata/h5_msg.sig was made by `openssl dgst -sha256 -sign` with
// testdata/merchant_pkcs1.pem.
func TestCreateH5Request(t *testing.T) {
	t.Parallel()
	key, err := paykey.LoadPrivateKey("testdata/merchant_pkcs1.pem")
	require.NoError(t, err)
	var gotPath, gotAuth string
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.RequestURI(), r.Header.Get("Authorization")
		gotBody, _ = io.ReadAll(r.Body)
		http.Error(w, `{"code":"SYSTEM_ERROR","message":"test"}`, http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	c := &Client{BaseURL: srv.URL, MchID: "1900000109", AppID: "wxd930ea5d5a258f4f", MerchantCertSerial: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
		MerchantPrivateKey: key, NotifyURL: "https://example.com/pay/notify/wechat", Now: func() time.Time { return time.Unix(1554208460, 0) }}
	_, err = c.CreateH5(t.Context(), H5Order{NativeOrder: NativeOrder{OutTradeNo: "T20260101000002", Description: "充值 ¥100", AmountFen: 10000,
		TimeExpire: time.Date(2026, 1, 1, 4, 15, 0, 0, time.UTC)}, PayerClientIP: "203.0.113.7"})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "/v3/pay/transactions/h5", gotPath)

	want, err := os.ReadFile("testdata/h5_msg.txt")
	require.NoError(t, err)
	msg := RequestMessage("POST", gotPath, 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", gotBody)
	require.Equal(t, string(want), msg)
	sig, err := os.ReadFile("testdata/h5_msg.sig")
	require.NoError(t, err)
	mine, err := Sign(key, msg)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(sig)), mine, "our signature is OpenSSL's")

	// The header on the wire signs the same body with its own nonce.
	a, err := ParseAuthorization(gotAuth)
	require.NoError(t, err)
	require.Equal(t, "1554208460", a.Timestamp)
	require.NoError(t, Verify(&key.PublicKey, RequestMessage("POST", gotPath, 1554208460, a.Nonce, gotBody), a.Signature))

	t.Run("ClientIPRequired", func(t *testing.T) {
		_, err := c.CreateH5(t.Context(), H5Order{NativeOrder: NativeOrder{OutTradeNo: "T20260101000003", Description: "x", AmountFen: 1}})
		require.ErrorContains(t, err, "payer_client_ip")
	})
}

func TestWithRedirect(t *testing.T) {
	t.Parallel()
	require.Equal(t, "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1&package=1&redirect_url=https%3A%2F%2Fa.example%2Fportal%2Forders%2FT1%3Fx%3D1",
		WithRedirect("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1&package=1", "https://a.example/portal/orders/T1?x=1"))
	require.Equal(t, "https://x.example/h5", WithRedirect("https://x.example/h5", ""))
}
