package paysim_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paykey"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// noFollow is a browser that shows us each redirect instead of following it.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestWeChatH5RoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	order := wechatpay.H5Order{NativeOrder: wechatpay.NativeOrder{OutTradeNo: "WXH5000000001", Description: "充值 ¥100", AmountFen: 10000,
		TimeExpire: time.Now().Add(15 * time.Minute)}, PayerClientIP: "203.0.113.7"}

	h5URL, err := b.wx.CreateH5(ctx, order)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h5URL, b.simURL+"/h5/wechat/WXH5000000001?prepay_id=wx"), h5URL)
	again, err := b.wx.CreateH5(ctx, order)
	require.NoError(t, err, "placing the same H5 order again answers a fresh h5_url")
	require.NotEqual(t, h5URL, again)
	_, err = b.wx.CreateNative(ctx, order.NativeOrder)
	var ae *wechatpay.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "OUT_TRADE_NO_USED", ae.Code, "an H5 order number is not a Native order too")

	tx, err := b.wx.QueryByOutTradeNo(ctx, "WXH5000000001")
	require.NoError(t, err)
	require.Equal(t, wechatpay.StateNotPay, tx.TradeState)
	require.Equal(t, "MWEB", tx.TradeType)

	back := "https://credits.example/portal/orders/WXH5000000001"
	resp, err := http.Get(wechatpay.WithRedirect(h5URL, back))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "WeChat Pay H5 refuses an h5_url opened without the merchant's page as Referer")
	req, err := http.NewRequest(http.MethodGet, wechatpay.WithRedirect(h5URL, back), nil)
	require.NoError(t, err)
	req.Header.Set("Referer", "https://credits.example/")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	pageBytes, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	page := string(pageBytes)
	require.Contains(t, page, "¥100.00")
	require.Contains(t, page, "203.0.113.7")
	require.Contains(t, page, `name="redirect_url" value="`+back+`"`)

	resp, err = noFollow.PostForm(b.simURL+"/h5/wechat/WXH5000000001/confirm", url.Values{"redirect_url": {back}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, back, resp.Header.Get("Location"), "WeChat sends the customer to redirect_url")
	b.sim.Wait()

	got := b.recv.snapshot()
	require.Empty(t, got.rejected, "the notify verifies like a Native one")
	require.Len(t, got.wxPaid, 1)
	require.Equal(t, "WXH5000000001", got.wxPaid[0].OutTradeNo)
	require.Equal(t, wechatpay.StateSuccess, got.wxPaid[0].TradeState)
	require.Equal(t, "MWEB", got.wxPaid[0].TradeType)
	_, err = b.wx.CreateH5(ctx, order)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "ORDERPAID", ae.Code)
}

func TestWeChatH5SandboxRejectsBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	order := wechatpay.H5Order{NativeOrder: wechatpay.NativeOrder{OutTradeNo: "WXH5BAD000001", Description: "充值 ¥100", AmountFen: 10000}, PayerClientIP: "203.0.113.7"}
	other, err := paykey.Generate()
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		mutate func(c *wechatpay.Client)
		status int
		code   string
	}{
		"WrongKey": {func(c *wechatpay.Client) { c.MerchantPrivateKey = other }, http.StatusUnauthorized, "SIGN_ERROR"},
		"TamperedClientIP": {func(c *wechatpay.Client) {
			c.HTTPClient = &http.Client{Transport: tamperTransport{req: func(_ *http.Request, b []byte) []byte {
				return bytes.Replace(b, []byte("203.0.113.7"), []byte("198.51.100.1"), 1)
			}}}
		}, http.StatusUnauthorized, "SIGN_ERROR"},
		"NoSceneType": {func(c *wechatpay.Client) {
			c.HTTPClient = &http.Client{Transport: tamperTransport{req: func(r *http.Request, b []byte) []byte {
				b = bytes.Replace(b, []byte(`"type":"Wap"`), []byte(`"type":""`), 1)
				// sign the altered body again, as a careless client would send it
				auth := signAgain(t, b, r)
				r.Header.Set("Authorization", auth)
				return b
			}}}
		}, http.StatusBadRequest, "PARAM_ERROR"},
	} {
		t.Run(name, func(t *testing.T) {
			c := *b.wx
			tc.mutate(&c)
			_, err := c.CreateH5(ctx, order)
			var ae *wechatpay.APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.status, ae.Status)
			require.Equal(t, tc.code, ae.Code)
		})
	}
	_, err = b.wx.QueryByOutTradeNo(ctx, order.OutTradeNo)
	require.ErrorIs(t, err, wechatpay.ErrOrderNotExist, "no rejected request created an order")
}

// signAgain signs a request body with the development merchant key.
func signAgain(t *testing.T, body []byte, r *http.Request) string {
	t.Helper()
	keys, err := devKeys()
	require.NoError(t, err)
	ws := keys.WeChatSettings("")
	c, err := ws.Client()
	require.NoError(t, err)
	ts := time.Now().Unix()
	nonce := wechatpay.NewNonce()
	sig, err := wechatpay.Sign(c.MerchantPrivateKey, wechatpay.RequestMessage(r.Method, r.URL.RequestURI(), ts, nonce, body))
	require.NoError(t, err)
	return wechatpay.Authorization{MchID: c.MchID, Nonce: nonce, Signature: sig, Timestamp: strconv.FormatInt(ts, 10), SerialNo: c.MerchantCertSerial}.String()
}

func TestAlipayWapRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	back := "https://credits.example/portal/orders/ALWAP0000001"
	wap := alipay.WapOrder{OutTradeNo: "ALWAP0000001", TotalAmount: decimal.RequireFromString("100"), Subject: "充值 ¥100",
		Timeout: 15 * time.Minute, ReturnURL: back, QuitURL: back}
	payURL, err := b.ali.WapPayURL(wap)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(payURL, b.simURL+"/gateway.do?"), payURL)

	_, err = b.ali.Query(ctx, "ALWAP0000001")
	require.ErrorIs(t, err, alipay.ErrTradeNotExist, "nothing exists until the browser opens the cashier")

	resp, err := noFollow.Get(payURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	cashier := b.simURL + resp.Header.Get("Location")
	require.Equal(t, b.simURL+"/h5/alipay/ALWAP0000001", cashier)
	page := getPage(t, cashier)
	require.Contains(t, page, "¥100.00")
	require.Contains(t, page, `href="`+back+`"`, "giving up leads to quit_url")

	tr, err := b.ali.Query(ctx, "ALWAP0000001")
	require.NoError(t, err)
	require.Equal(t, alipay.TradeWaitBuyerPay, tr.TradeStatus)

	// The SDKs' pageExecute may also post the parameters as a form.
	form, err := url.ParseQuery(strings.SplitN(payURL, "?", 2)[1])
	require.NoError(t, err)
	resp, err = noFollow.PostForm(b.simURL+"/gateway.do", form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the same request posted opens the same cashier")

	resp, err = noFollow.PostForm(cashier+"/confirm", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	ret, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "credits.example", ret.Host)
	require.Equal(t, "/portal/orders/ALWAP0000001", ret.Path)
	q := ret.Query()
	require.Equal(t, "alipay.trade.wap.pay.return", q.Get("method"))
	require.Equal(t, "100.00", q.Get("total_amount"))
	require.NoError(t, alipay.Verify(b.ali.AlipayPublicKey, alipay.SignContent(q, "sign", "sign_type"), q.Get("sign")), "the sync return is signed by Alipay")
	b.sim.Wait()

	got := b.recv.snapshot()
	require.Empty(t, got.rejected, "the notify verifies like a 当面付 one")
	require.Len(t, got.aliNotifies, 1)
	require.Equal(t, "ALWAP0000001", got.aliNotifies[0].OutTradeNo)
	require.Equal(t, alipay.TradeSuccess, got.aliNotifies[0].TradeStatus)
	_, err = b.ali.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: "ALWAP0000001", TotalAmount: decimal.RequireFromString("100"), Subject: "充值 ¥100"})
	var ae *alipay.APIError
	require.ErrorAs(t, err, &ae, "a WAP order number is not a QR order too")
}

func TestAlipayWapSandboxRejectsBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other, err := paykey.Generate()
	require.NoError(t, err)
	wap := alipay.WapOrder{OutTradeNo: "ALWAPBAD0001", TotalAmount: decimal.RequireFromString("100"), Subject: "充值 ¥100", ReturnURL: "https://credits.example/r"}
	for name, tc := range map[string]struct {
		mutate  func(c *alipay.Client, u url.Values)
		subCode string
	}{
		"WrongKey": {func(c *alipay.Client, _ url.Values) { c.PrivateKey = other }, "isv.invalid-signature"},
		"TamperedAmount": {func(_ *alipay.Client, u url.Values) {
			u.Set("biz_content", strings.Replace(u.Get("biz_content"), "100.00", "1.00", 1))
		}, "isv.invalid-signature"},
		"TamperedReturn":   {func(_ *alipay.Client, u url.Values) { u.Set("return_url", "https://evil.example/") }, "isv.invalid-signature"},
		"StaleTimestamp":   {func(c *alipay.Client, _ url.Values) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } }, "isv.invalid-timestamp"},
		"OtherApplication": {func(c *alipay.Client, _ url.Values) { c.AppID = "2021000000009999" }, "isv.invalid-app-id"},
	} {
		t.Run(name, func(t *testing.T) {
			c := *b.ali
			tc.mutate(&c, url.Values{})
			u, err := c.WapPayURL(wap)
			require.NoError(t, err)
			parts := strings.SplitN(u, "?", 2)
			q, err := url.ParseQuery(parts[1])
			require.NoError(t, err)
			tc.mutate(&c, q)
			resp, err := noFollow.Get(parts[0] + "?" + q.Encode())
			require.NoError(t, err)
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Contains(t, body.String(), tc.subCode)
		})
	}
	_, err = b.ali.Query(context.Background(), wap.OutTradeNo)
	require.ErrorIs(t, err, alipay.ErrTradeNotExist, "no rejected request created a trade")
}
