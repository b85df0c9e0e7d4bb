package alipay

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/shopspring/decimal"
)

// Notification is a verified async notify (notify_type trade_status_sync).
// Amounts are in yuan; times are parsed from Beijing time (zero when absent).
type Notification struct {
	NotifyID      string
	NotifyType    string
	NotifyTime    time.Time
	AppID         string
	TradeNo       string
	OutTradeNo    string
	OutBizNo      string
	TradeStatus   string
	TotalAmount   decimal.Decimal
	ReceiptAmount decimal.Decimal
	RefundFee     decimal.Decimal
	SellerID      string
	BuyerID       string
	GmtPayment    time.Time
	GmtRefund     time.Time
	GmtClose      time.Time
	// Params holds every parameter as received, for audit records.
	Params url.Values
}

// ParseNotify verifies an async notify — the parameters except sign and
// sign_type, sorted, joined as k=v&…, checked with SHA256withRSA against the
// Alipay public key — and returns it. It does not compare app_id, amount or
// seller with our order: the caller does, because a mismatch is a case for
// review rather than a forgery. Errors: ErrBadSignature, ErrMalformed.
func (c *Client) ParseNotify(form url.Values) (Notification, error) {
	var n Notification
	if st := form.Get("sign_type"); st != "" && st != "RSA2" {
		return n, fmt.Errorf("alipay: notify: %w: sign_type %q", ErrBadSignature, st)
	}
	sign := form.Get("sign")
	if sign == "" {
		return n, fmt.Errorf("alipay: notify: %w: no sign", ErrBadSignature)
	}
	if err := Verify(c.AlipayPublicKey, SignContent(form, "sign", "sign_type"), sign); err != nil {
		return n, fmt.Errorf("alipay: notify %s: %w", form.Get("out_trade_no"), err)
	}
	n = Notification{
		NotifyID: form.Get("notify_id"), NotifyType: form.Get("notify_type"), AppID: form.Get("app_id"),
		TradeNo: form.Get("trade_no"), OutTradeNo: form.Get("out_trade_no"), OutBizNo: form.Get("out_biz_no"),
		TradeStatus: form.Get("trade_status"), SellerID: form.Get("seller_id"), BuyerID: form.Get("buyer_id"),
		Params: form,
	}
	if n.OutTradeNo == "" || n.TradeStatus == "" {
		return n, fmt.Errorf("alipay: notify: %w: no out_trade_no or trade_status", ErrMalformed)
	}
	var err error
	for _, f := range []struct {
		key string
		dst *decimal.Decimal
	}{{"total_amount", &n.TotalAmount}, {"receipt_amount", &n.ReceiptAmount}, {"refund_fee", &n.RefundFee}} {
		if v := form.Get(f.key); v != "" {
			if *f.dst, err = decimal.NewFromString(v); err != nil {
				return n, fmt.Errorf("alipay: notify: %w: %s %q", ErrMalformed, f.key, v)
			}
		}
	}
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"notify_time", &n.NotifyTime}, {"gmt_payment", &n.GmtPayment}, {"gmt_refund", &n.GmtRefund}, {"gmt_close", &n.GmtClose}} {
		if v := form.Get(f.key); v != "" {
			if *f.dst, err = parseTime(v); err != nil {
				return n, fmt.Errorf("alipay: notify: %w: %s %q", ErrMalformed, f.key, v)
			}
		}
	}
	return n, nil
}

// parseTime reads Alipay's Beijing-time stamps; gmt_refund may carry
// milliseconds ("2006-01-02 15:04:05.000").
func parseTime(v string) (time.Time, error) {
	if t, err := time.ParseInLocation(TimeLayout, v, ChinaTime); err == nil {
		return t, nil
	}
	return time.ParseInLocation(TimeLayout+".000", v, ChinaTime)
}

// AnswerSuccess acknowledges a notify: Alipay stops retrying only when the
// body is exactly "success".
func AnswerSuccess(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("success"))
}

// AnswerFailure refuses a notify (anything but "success" makes Alipay retry).
func AnswerFailure(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("failure"))
}
