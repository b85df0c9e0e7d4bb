package alipay

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// DefaultGatewayURL is the production gateway.
const DefaultGatewayURL = "https://openapi.alipay.com/gateway.do"

// Trade statuses (trade_status).
const (
	TradeWaitBuyerPay = "WAIT_BUYER_PAY"
	TradeClosed       = "TRADE_CLOSED"
	TradeSuccess      = "TRADE_SUCCESS"
	TradeFinished     = "TRADE_FINISHED"
)

// CodeSuccess is the code of a successful answer.
const CodeSuccess = "10000"

// Client calls the Alipay gateway as one application in public-key mode.
// A zero HTTPClient means a client with a 15 s timeout; Now defaults to
// time.Now.
type Client struct {
	GatewayURL      string // DefaultGatewayURL, or the sandbox's URL
	AppID           string
	PrivateKey      *rsa.PrivateKey // the application's key (signs requests)
	AlipayPublicKey *rsa.PublicKey  // verifies answers and notifies
	NotifyURL       string
	// AgreementNotifyURL receives the agreement signing and unsigning
	// notifies (商家扣款).
	AgreementNotifyURL string
	HTTPClient         *http.Client
	Now                func() time.Time
}

// String describes the client without its secrets.
func (c *Client) String() string {
	return fmt.Sprintf("alipay.Client{GatewayURL:%s AppID:%s keys:[REDACTED]}", c.GatewayURL, c.AppID)
}

// LogValue logs the client without its secrets.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("gateway", c.GatewayURL), slog.String("app_id", c.AppID))
}

// Format prints the client without its secrets under every verb.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// APIError is a business or gateway error answer (code other than 10000),
// such as 40004/ACQ.TRADE_NOT_EXIST or 40002/isv.invalid-signature.
type APIError struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("alipay: %s %s: %s %s", e.Code, e.Msg, e.SubCode, e.SubMsg)
}

// Is makes errors.Is(err, ErrTradeNotExist) work on answers.
func (e *APIError) Is(target error) bool {
	if target == ErrTradeNotExist {
		return e.SubCode == "ACQ.TRADE_NOT_EXIST"
	}
	c := classifySubCode(e.SubCode)
	return c != nil && c == target
}

// Yuan formats an amount as the gateway wants it: yuan with two decimals.
// It fails for amounts that are not positive whole fen.
func Yuan(d decimal.Decimal) (string, error) {
	if !d.IsPositive() || !d.Equal(d.Round(2)) {
		return "", fmt.Errorf("alipay: amount %s is not a positive amount of whole fen", d)
	}
	return d.StringFixed(2), nil
}

// PrecreateOrder is what Precreate sends. Timeout, when set, becomes
// timeout_express in whole minutes (the documented range is 1m–15d).
type PrecreateOrder struct {
	OutTradeNo  string
	TotalAmount decimal.Decimal // yuan
	Subject     string
	Timeout     time.Duration
	NotifyURL   string // empty: the client's
}

// Precreate creates a 当面付 QR order (alipay.trade.precreate) and returns
// qr_code, the text to render as a QR code. Errors: *APIError,
// ErrBadSignature, ErrMalformed, transport errors.
func (c *Client) Precreate(ctx context.Context, o PrecreateOrder) (qrCode string, err error) {
	amt, err := Yuan(o.TotalAmount)
	if err != nil {
		return "", err
	}
	biz := map[string]string{"out_trade_no": o.OutTradeNo, "total_amount": amt, "subject": o.Subject}
	if o.Timeout > 0 {
		biz["timeout_express"] = fmt.Sprintf("%dm", max(1, int(o.Timeout/time.Minute)))
	}
	notify := o.NotifyURL
	if notify == "" {
		notify = c.NotifyURL
	}
	var resp struct {
		OutTradeNo string `json:"out_trade_no"`
		QRCode     string `json:"qr_code"`
	}
	if err := c.call(ctx, "alipay.trade.precreate", notify, biz, &resp); err != nil {
		return "", err
	}
	if resp.QRCode == "" {
		return "", fmt.Errorf("alipay: precreate: %w: no qr_code", ErrMalformed)
	}
	return resp.QRCode, nil
}

// Trade is a trade as alipay.trade.query reports it.
type Trade struct {
	TradeNo        string          `json:"trade_no"`
	OutTradeNo     string          `json:"out_trade_no"`
	BuyerLogonID   string          `json:"buyer_logon_id"`
	TradeStatus    string          `json:"trade_status"`
	TotalAmount    decimal.Decimal `json:"total_amount"`
	ReceiptAmount  string          `json:"receipt_amount"`
	BuyerPayAmount string          `json:"buyer_pay_amount"`
	SendPayDate    string          `json:"send_pay_date"` // Beijing time, TimeLayout
	BuyerUserID    string          `json:"buyer_user_id"`
}

// Query fetches a trade (alipay.trade.query). A precreated order that nobody
// has scanned yet answers ErrTradeNotExist, as at Alipay.
func (c *Client) Query(ctx context.Context, outTradeNo string) (Trade, error) {
	var t Trade
	err := c.call(ctx, "alipay.trade.query", "", map[string]string{"out_trade_no": outTradeNo}, &t)
	return t, err
}

// Close closes an unpaid trade (alipay.trade.close).
func (c *Client) Close(ctx context.Context, outTradeNo string) error {
	var resp struct {
		TradeNo string `json:"trade_no"`
	}
	return c.call(ctx, "alipay.trade.close", "", map[string]string{"out_trade_no": outTradeNo}, &resp)
}

// RefundRequest asks for a (partial) refund; OutRequestNo identifies it, so a
// repeat with the same number is the same refund.
type RefundRequest struct {
	OutTradeNo   string
	OutRequestNo string
	RefundAmount decimal.Decimal // yuan
	Reason       string
}

// RefundResult is the answer of alipay.trade.refund. RefundFee is the total
// refunded on the trade so far; FundChange "Y" means money moved this time.
type RefundResult struct {
	TradeNo      string          `json:"trade_no"`
	OutTradeNo   string          `json:"out_trade_no"`
	BuyerLogonID string          `json:"buyer_logon_id"`
	FundChange   string          `json:"fund_change"`
	RefundFee    decimal.Decimal `json:"refund_fee"`
	GmtRefundPay string          `json:"gmt_refund_pay"`
}

// Refund asks for a refund (alipay.trade.refund).
func (c *Client) Refund(ctx context.Context, r RefundRequest) (RefundResult, error) {
	var out RefundResult
	amt, err := Yuan(r.RefundAmount)
	if err != nil {
		return out, err
	}
	biz := map[string]string{"out_trade_no": r.OutTradeNo, "out_request_no": r.OutRequestNo, "refund_amount": amt}
	if r.Reason != "" {
		biz["refund_reason"] = r.Reason
	}
	err = c.call(ctx, "alipay.trade.refund", "", biz, &out)
	return out, err
}

// RequestParams builds the signed form of one gateway call; exported for
// tests and the sandbox.
func (c *Client) RequestParams(method, notifyURL string, biz any) (url.Values, error) {
	return c.signedParams(method, notifyURL, "", biz)
}

// signedParams builds and signs the common parameters, return_url (page
// methods only; empty: none) and biz_content.
func (c *Client) signedParams(method, notifyURL, returnURL string, biz any) (url.Values, error) {
	bizJSON, err := json.Marshal(biz)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	p := url.Values{}
	p.Set("app_id", c.AppID)
	p.Set("method", method)
	p.Set("format", "JSON")
	p.Set("charset", "utf-8")
	p.Set("sign_type", "RSA2")
	p.Set("timestamp", now().In(ChinaTime).Format(TimeLayout))
	p.Set("version", "1.0")
	if notifyURL != "" {
		p.Set("notify_url", notifyURL)
	}
	if returnURL != "" {
		p.Set("return_url", returnURL)
	}
	p.Set("biz_content", string(bizJSON))
	if c.PrivateKey == nil {
		return nil, errors.New("alipay: no application private key configured")
	}
	sign, err := Sign(c.PrivateKey, SignContent(p, "sign"))
	if err != nil {
		return nil, err
	}
	p.Set("sign", sign)
	return p, nil
}

// call posts one method, verifies the answer and decodes its node into out.
func (c *Client) call(ctx context.Context, method, notifyURL string, biz, out any) error {
	p, err := c.RequestParams(method, notifyURL, biz)
	if err != nil {
		return fmt.Errorf("alipay: %s: %w", method, err)
	}
	gw := c.GatewayURL
	if gw == "" {
		gw = DefaultGatewayURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gw, strings.NewReader(p.Encode()))
	if err != nil {
		return fmt.Errorf("alipay: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("alipay: %s: %w", method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("alipay: %s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("alipay: %s: %w: HTTP %d", method, ErrMalformed, resp.StatusCode)
	}
	node, err := c.VerifyResponse(method, body)
	if err != nil {
		return fmt.Errorf("alipay: %s: %w", method, err)
	}
	if err := json.Unmarshal(node, out); err != nil {
		return fmt.Errorf("alipay: %s: %w: %w", method, ErrMalformed, err)
	}
	return nil
}

// VerifyResponse extracts the answer node of method (or "error_response")
// from a gateway answer, verifies the sign over the node's exact bytes, and
// returns the node. A node whose code is not 10000 becomes an *APIError; an
// unsigned error answer (the gateway sends some) is still returned as an
// error, since an error can only stop us, never pay us. Errors: *APIError,
// ErrBadSignature, ErrMalformed.
func (c *Client) VerifyResponse(method string, body []byte) (json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	node, ok := doc[ResponseKey(method)]
	if !ok {
		if node, ok = doc["error_response"]; !ok {
			return nil, fmt.Errorf("%w: no %s node", ErrMalformed, ResponseKey(method))
		}
	}
	var sign string
	if raw, ok := doc["sign"]; ok {
		if err := json.Unmarshal(raw, &sign); err != nil {
			return nil, fmt.Errorf("%w: sign is not a string", ErrMalformed)
		}
	}
	var ae APIError
	if err := json.Unmarshal(node, &ae); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if sign == "" && ae.Code != CodeSuccess {
		return nil, &ae
	}
	// json.RawMessage keeps the node's bytes exactly as sent, which is what
	// Alipay signed.
	if err := Verify(c.AlipayPublicKey, string(node), sign); err != nil {
		return nil, err
	}
	if ae.Code != CodeSuccess {
		return nil, &ae
	}
	return node, nil
}
