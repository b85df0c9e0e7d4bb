package wechatpay

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// H5 payment (H5支付) opens WeChat from a phone browser other than WeChat's
// own. It follows WeChat Pay's documentation:
//   - H5下单 (POST /v3/pay/transactions/h5): https://pay.weixin.qq.com/doc/v3/merchant/4012791834
//     — the Native body plus scene_info {payer_client_ip, h5_info {type}};
//     the answer is h5_url (valid for five minutes).
//   - H5调起支付, in the same H5 payment guide: the redirect_url parameter,
//     URL-encoded and appended to h5_url, brings the customer back after
//     paying or giving up — whether or not they paid, so the page it opens
//     must ask for the order's state rather than trust the return.
//
// The notify is the same TRADE.SUCCESS notify as for Native orders
// (ParseNotify); the trade_type of the transaction is "MWEB".

// H5SceneWap is h5_info.type for a mobile web site (the documented values
// are iOS, Android and Wap).
const H5SceneWap = "Wap"

// TradeTypeMWeb is the trade_type of an H5 transaction.
const TradeTypeMWeb = "MWEB"

// H5Order is what CreateH5 sends: a NativeOrder plus the payer's address.
type H5Order struct {
	NativeOrder
	// PayerClientIP is the customer's address as our server sees it (the
	// trusted-proxy aware one); WeChat Pay compares it with the address
	// that opens h5_url.
	PayerClientIP string
}

// H5Info is scene_info.h5_info.
type H5Info struct {
	Type string `json:"type"`
}

// SceneInfo is the scene_info block of an H5 order.
type SceneInfo struct {
	PayerClientIP string `json:"payer_client_ip"`
	H5Info        H5Info `json:"h5_info"`
}

// H5Request is the body of POST /v3/pay/transactions/h5; exported for the
// sandbox, which reads the same shape.
type H5Request struct {
	AppID       string    `json:"appid"`
	MchID       string    `json:"mchid"`
	Description string    `json:"description"`
	OutTradeNo  string    `json:"out_trade_no"`
	TimeExpire  string    `json:"time_expire,omitempty"`
	Attach      string    `json:"attach,omitempty"`
	NotifyURL   string    `json:"notify_url"`
	Amount      Amount    `json:"amount"`
	SceneInfo   SceneInfo `json:"scene_info"`
}

// CreateH5 places an H5 order (POST /v3/pay/transactions/h5) and returns
// its h5_url. Placing the same order again answers a fresh h5_url, which is
// how a customer who came back unpaid opens the payment again. Errors as
// for CreateNative.
func (c *Client) CreateH5(ctx context.Context, o H5Order) (h5URL string, err error) {
	if o.AmountFen <= 0 {
		return "", fmt.Errorf("wechatpay: h5: amount must be positive fen, got %d", o.AmountFen)
	}
	if o.PayerClientIP == "" {
		return "", fmt.Errorf("wechatpay: h5: scene_info.payer_client_ip is required")
	}
	req := H5Request{
		AppID: c.AppID, MchID: c.MchID, Description: o.Description, OutTradeNo: o.OutTradeNo,
		Attach: o.Attach, NotifyURL: o.NotifyURL, Amount: Amount{Total: o.AmountFen, Currency: "CNY"},
		SceneInfo: SceneInfo{PayerClientIP: o.PayerClientIP, H5Info: H5Info{Type: H5SceneWap}},
	}
	if req.NotifyURL == "" {
		req.NotifyURL = c.NotifyURL
	}
	if !o.TimeExpire.IsZero() {
		req.TimeExpire = o.TimeExpire.In(chinaTime).Format(time.RFC3339)
	}
	var resp struct {
		H5URL string `json:"h5_url"`
	}
	if err := c.do(ctx, http.MethodPost, "/v3/pay/transactions/h5", req, &resp); err != nil {
		return "", fmt.Errorf("wechatpay: h5: %w", err)
	}
	if resp.H5URL == "" {
		return "", fmt.Errorf("wechatpay: h5: %w: no h5_url", ErrMalformed)
	}
	return resp.H5URL, nil
}

// WithRedirect appends redirect_url (URL-encoded, as the documentation
// asks) to an h5_url, so that WeChat sends the customer back there.
func WithRedirect(h5URL, redirectURL string) string {
	if redirectURL == "" {
		return h5URL
	}
	sep := "?"
	if strings.Contains(h5URL, "?") {
		sep = "&"
	}
	return h5URL + sep + "redirect_url=" + url.QueryEscape(redirectURL)
}
