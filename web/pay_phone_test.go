package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
)

const iPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.4 Mobile/15E148 Safari/604.1"

// TestPhonePayH5Handlers: the top-up form preselects paying on the phone
// for a phone browser and the QR for a desktop; a phone order goes straight
// to the channel (WeChat Pay's h5_url with redirect_url, Alipay's signed WAP
// request with return_url) and its page offers to open the app again; a
// wrong mode is reported on its field.
func TestPhonePayH5Handlers(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	c, acc := b.customer(t, "phone-handlers@example.com", true)

	desk := c.Get("/portal/topup")
	require.Equal(t, http.StatusOK, desk.Status)
	_, qrFirst := desk.Doc.Find(`[data-testid="mode-qr"]`).Attr("checked")
	require.True(t, qrFirst, "a desktop scans a code unless told otherwise")

	c.Header.Set("User-Agent", iPhoneUA)
	phone := c.Get("/portal/topup")
	_, phoneFirst := phone.Doc.Find(`[data-testid="mode-phone"]`).Attr("checked")
	require.True(t, phoneFirst, "a phone pays on the phone unless told otherwise")
	require.Equal(t, "在手机上支付", strings.Fields(phone.Text(`[data-testid="pay-modes"] label:first-of-type`))[0])

	c.FollowRedirects = false
	defer func() { c.FollowRedirects = true }()
	for _, ch := range []payments.Channel{payments.ChannelWeChat, payments.ChannelAlipay} {
		t.Run(string(ch), func(t *testing.T) {
			p := c.PostForm("/portal/topup", url.Values{"tier": {"10000"}, "channel": {string(ch)}, "mode": {"phone"}})
			require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
			loc, err := url.Parse(p.Header.Get("Location"))
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(loc.String(), b.simURL+"/"), loc.String())
			orders, err := b.pay.Orders(t.Context(), acc, 1)
			require.NoError(t, err)
			o := orders[0]
			require.Equal(t, payments.PayModePhone, o.PayMode)
			back := b.app.URL + "/portal/orders/" + o.OrderNo
			if ch == payments.ChannelWeChat {
				require.Equal(t, back, loc.Query().Get("redirect_url"))
			} else {
				require.Equal(t, back, loc.Query().Get("return_url"))
			}

			page := c.Get("/portal/orders/" + o.OrderNo)
			require.Equal(t, http.StatusOK, page.Status)
			require.Equal(t, map[payments.Channel]string{payments.ChannelWeChat: "打开微信支付", payments.ChannelAlipay: "打开支付宝"}[ch], page.TestID("checkout-pay-phone"))
			require.Zero(t, page.Doc.Find(`[data-testid="checkout-qr"]`).Length())

			again := c.PostForm("/portal/orders/"+o.OrderNo+"/pay", url.Values{})
			require.Equal(t, http.StatusSeeOther, again.Status)
			require.True(t, strings.HasPrefix(again.Header.Get("Location"), b.simURL+"/"), again.Header.Get("Location"))
		})
	}

	bad := c.PostForm("/portal/topup", url.Values{"tier": {"10000"}, "channel": {"wechat"}, "mode": {"teleport"}})
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.Equal(t, "请选择在手机上支付或扫码支付。", bad.TestID("error-mode"))
}
