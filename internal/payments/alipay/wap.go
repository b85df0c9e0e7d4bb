package alipay

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// 手机网站支付 (WAP payment) opens the Alipay app, or Alipay's mobile
// cashier, from a phone browser. It follows Alipay's documentation of
// alipay.trade.wap.pay (https://opendocs.alipay.com/apis/api_1/alipay.trade.wap.pay):
// unlike the other methods it is a page request — the customer's browser
// goes to the gateway with the signed parameters (the SDKs' pageExecute,
// here as a GET URL), there is no answer for our server to read; Alipay
// returns the customer to return_url (sync return, which we do not trust for
// anything) and posts the same trade_status_sync notify as for 当面付
// (ParseNotify). biz_content: out_trade_no, total_amount, subject,
// product_code QUICK_WAP_WAY, quit_url (where "give up" leads) and
// timeout_express.

// MethodWapPay is the gateway method of a WAP payment.
const MethodWapPay = "alipay.trade.wap.pay"

// ProductQuickWap is the product_code of a WAP payment.
const ProductQuickWap = "QUICK_WAP_WAY"

// WapOrder is what WapPayURL signs. Timeout, when set, becomes
// timeout_express in whole minutes.
type WapOrder struct {
	OutTradeNo  string
	TotalAmount decimal.Decimal // yuan
	Subject     string
	Timeout     time.Duration
	ReturnURL   string // where Alipay sends the customer after paying
	QuitURL     string // where "give up" in the cashier leads
	NotifyURL   string // empty: the client's
}

// WapPayURL returns the signed gateway URL that starts a WAP payment: send
// the customer's browser there. Nothing is sent to Alipay here, so until
// the customer opens it a query answers ErrTradeNotExist. Errors: a bad
// amount or a missing key.
func (c *Client) WapPayURL(o WapOrder) (string, error) {
	amt, err := Yuan(o.TotalAmount)
	if err != nil {
		return "", err
	}
	biz := map[string]string{"out_trade_no": o.OutTradeNo, "total_amount": amt, "subject": o.Subject, "product_code": ProductQuickWap}
	if o.QuitURL != "" {
		biz["quit_url"] = o.QuitURL
	}
	if o.Timeout > 0 {
		biz["timeout_express"] = fmt.Sprintf("%dm", max(1, int(o.Timeout/time.Minute)))
	}
	notify := o.NotifyURL
	if notify == "" {
		notify = c.NotifyURL
	}
	p, err := c.signedParams(MethodWapPay, notify, o.ReturnURL, biz)
	if err != nil {
		return "", fmt.Errorf("alipay: %s: %w", MethodWapPay, err)
	}
	gw := c.GatewayURL
	if gw == "" {
		gw = DefaultGatewayURL
	}
	sep := "?"
	if strings.Contains(gw, "?") {
		sep = "&"
	}
	return gw + sep + p.Encode(), nil
}
