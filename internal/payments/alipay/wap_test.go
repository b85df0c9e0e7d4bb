package alipay

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// TestWapPayURLMatchesOpenSSL: the WAP request carries the documented
// parameters (biz_content with product_code QUICK_WAP_WAY and quit_url;
// return_url and notify_url beside it), the sign content is
// testdata/wap_content.txt (written out by hand) and the sign is what
// `openssl dgst -sha256 -sign` made over it (testdata/wap_content.sig).
func TestWapPayURLMatchesOpenSSL(t *testing.T) {
	t.Parallel()
	c := loadTestKeys(t)
	c.GatewayURL = "https://openapi.alipay.com/gateway.do"
	c.NotifyURL = "https://example.com/pay/notify/alipay"
	back := "https://example.com/portal/orders/T20260101000002"
	u, err := c.WapPayURL(WapOrder{OutTradeNo: "T20260101000002", TotalAmount: decimal.RequireFromString("100"), Subject: "充值 ¥100",
		Timeout: 15 * time.Minute, ReturnURL: back, QuitURL: back})
	require.NoError(t, err)
	gw, query, ok := strings.Cut(u, "?")
	require.True(t, ok)
	require.Equal(t, "https://openapi.alipay.com/gateway.do", gw)
	p, err := url.ParseQuery(query)
	require.NoError(t, err)
	require.Equal(t, "alipay.trade.wap.pay", p.Get("method"))
	require.Equal(t, back, p.Get("return_url"))

	want, err := os.ReadFile("testdata/wap_content.txt")
	require.NoError(t, err)
	require.Equal(t, string(want), SignContent(p, "sign"))
	sig, err := os.ReadFile("testdata/wap_content.sig")
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(sig)), p.Get("sign"))

	t.Run("BadAmount", func(t *testing.T) {
		_, err := c.WapPayURL(WapOrder{OutTradeNo: "T1", TotalAmount: decimal.RequireFromString("0.001"), Subject: "x"})
		require.Error(t, err)
	})
}
