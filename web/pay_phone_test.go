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
			orders, err := b.pay.Orders(t.Context(), acc, 1)
			require.NoError(t, err)
			o := orders[0]
			require.Equal(t, payments.PayModePhone, o.PayMode)
			require.Equal(t, "/portal/orders/"+o.OrderNo+"/open", p.Header.Get("Location"))

			// The hand-off page: a link to the channel that sends our origin as Referer.
			h := c.Get(p.Header.Get("Location"))
			require.Equal(t, http.StatusOK, h.Status)
			require.Equal(t, "no-store", h.Header.Get("Cache-Control"))
			link := h.Doc.Find(`[data-testid="phone-handoff-link"]`)
			require.Equal(t, "origin", link.AttrOr("referrerpolicy", ""))
			_, auto := link.Attr("data-autofollow")
			require.True(t, auto)
			loc, err := url.Parse(link.AttrOr("href", ""))
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(loc.String(), b.simURL+"/"), loc.String())
			require.Equal(t, "¥100.00", h.TestID("handoff-amount"))
			for _, leak := range []string{"@components.", "{ v.", "templ."} {
				require.NotContains(t, h.Doc.Find("main").Text(), leak, "template source on the hand-off page")
			}
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
			require.Equal(t, "手机支付", strings.TrimSpace(page.Doc.Find("main h1").First().Text()))

			open := page.Doc.Find(`[data-testid="checkout-pay-phone"]`).AttrOr("href", "")
			require.Equal(t, "/portal/orders/"+o.OrderNo+"/open", open)
			again := c.Get(open)
			require.Equal(t, http.StatusOK, again.Status)
			require.True(t, strings.HasPrefix(again.Doc.Find(`[data-testid="phone-handoff-link"]`).AttrOr("href", ""), b.simURL+"/"))

			// Once closed there is nothing to open: its page says why.
			_, err = b.pay.CloseOrder(t.Context(), acc, o.OrderNo)
			require.NoError(t, err)
			closed := c.Get(open)
			require.Equal(t, http.StatusSeeOther, closed.Status)
			require.Equal(t, "/portal/orders/"+o.OrderNo, closed.Header.Get("Location"))
		})
	}

	bad := c.PostForm("/portal/topup", url.Values{"tier": {"10000"}, "channel": {"wechat"}, "mode": {"teleport"}})
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.Equal(t, "请选择在手机上支付或扫码支付。", bad.TestID("error-mode"))
}
