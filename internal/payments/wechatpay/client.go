package wechatpay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the production API host.
const DefaultBaseURL = "https://api.mch.weixin.qq.com"

// MaxSkew is the largest accepted distance between a signed timestamp and
// now (WeChat Pay documents five minutes for both directions).
const MaxSkew = 5 * time.Minute

// Trade states of a transaction (trade_state).
const (
	StateSuccess    = "SUCCESS"
	StateRefund     = "REFUND"
	StateNotPay     = "NOTPAY"
	StateClosed     = "CLOSED"
	StateRevoked    = "REVOKED"
	StateUserPaying = "USERPAYING"
	StatePayError   = "PAYERROR"
)

// Refund statuses.
const (
	RefundSuccess    = "SUCCESS"
	RefundClosed     = "CLOSED"
	RefundProcessing = "PROCESSING"
	RefundAbnormal   = "ABNORMAL"
)

// Client calls WeChat Pay API v3 as one directly connected merchant. Its zero
// HTTPClient means a client with a 15 s timeout; Now defaults to time.Now.
type Client struct {
	BaseURL            string // DefaultBaseURL, or the sandbox's URL
	MchID              string
	AppID              string
	MerchantCertSerial string
	MerchantPrivateKey *rsa.PrivateKey
	APIv3Key           []byte
	// PlatformPublicKeys maps a platform certificate serial (or public key
	// id "PUB_KEY_ID_…") to the key that signs responses and notifies.
	PlatformPublicKeys map[string]*rsa.PublicKey
	NotifyURL          string
	// ContractNotifyURL receives papay contract notifies (signed,
	// terminated); PapayPlanID is the 委托代扣 template id.
	ContractNotifyURL string
	PapayPlanID       int64
	HTTPClient        *http.Client
	Now               func() time.Time
}

// String describes the client without its secrets.
func (c *Client) String() string {
	return fmt.Sprintf("wechatpay.Client{BaseURL:%s MchID:%s AppID:%s Serial:%s keys:[REDACTED]}", c.BaseURL, c.MchID, c.AppID, c.MerchantCertSerial)
}

// LogValue logs the client without its secrets.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("mchid", c.MchID), slog.String("appid", c.AppID), slog.String("serial", c.MerchantCertSerial))
}

// Format prints the client without its secrets under every verb.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// APIError is an error answer of the API: its HTTP status and the body's
// code (SIGN_ERROR, ORDER_NOT_EXIST, PARAM_ERROR, …) and message.
type APIError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wechatpay: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// ErrOrderNotExist is matched (errors.Is) by an APIError with code ORDER_NOT_EXIST.
var ErrOrderNotExist = errors.New("wechatpay: order does not exist")

// Is makes errors.Is(err, ErrOrderNotExist) work on API answers.
func (e *APIError) Is(target error) bool {
	if target == ErrOrderNotExist {
		return e.Code == "ORDER_NOT_EXIST" || e.Code == "RESOURCE_NOT_EXISTS"
	}
	return e.isPapay(target)
}

// Amount is an order amount in fen (分).
type Amount struct {
	Total         int64  `json:"total"`
	Currency      string `json:"currency,omitempty"`
	PayerTotal    int64  `json:"payer_total,omitempty"`
	PayerCurrency string `json:"payer_currency,omitempty"`
}

// NativeOrder is what CreateNative sends. Amount is in fen; TimeExpire is
// optional; an empty NotifyURL uses the client's.
type NativeOrder struct {
	OutTradeNo  string
	Description string
	AmountFen   int64
	TimeExpire  time.Time
	Attach      string
	NotifyURL   string
}

type nativeRequest struct {
	AppID       string `json:"appid"`
	MchID       string `json:"mchid"`
	Description string `json:"description"`
	OutTradeNo  string `json:"out_trade_no"`
	TimeExpire  string `json:"time_expire,omitempty"`
	Attach      string `json:"attach,omitempty"`
	NotifyURL   string `json:"notify_url"`
	Amount      Amount `json:"amount"`
}

// CreateNative places a Native order (POST /v3/pay/transactions/native) and
// returns its code_url, the text to render as a QR code. Errors: *APIError,
// ErrBadSignature, ErrUnknownSerial, ErrStaleNotify (answer timestamp),
// transport errors.
func (c *Client) CreateNative(ctx context.Context, o NativeOrder) (codeURL string, err error) {
	if o.AmountFen <= 0 {
		return "", fmt.Errorf("wechatpay: native: amount must be positive fen, got %d", o.AmountFen)
	}
	req := nativeRequest{
		AppID: c.AppID, MchID: c.MchID, Description: o.Description, OutTradeNo: o.OutTradeNo,
		Attach: o.Attach, NotifyURL: o.NotifyURL, Amount: Amount{Total: o.AmountFen, Currency: "CNY"},
	}
	if req.NotifyURL == "" {
		req.NotifyURL = c.NotifyURL
	}
	if !o.TimeExpire.IsZero() {
		req.TimeExpire = o.TimeExpire.In(chinaTime).Format(time.RFC3339)
	}
	var resp struct {
		CodeURL string `json:"code_url"`
	}
	if err := c.do(ctx, http.MethodPost, "/v3/pay/transactions/native", req, &resp); err != nil {
		return "", fmt.Errorf("wechatpay: native: %w", err)
	}
	if resp.CodeURL == "" {
		return "", fmt.Errorf("wechatpay: native: %w: no code_url", ErrMalformed)
	}
	return resp.CodeURL, nil
}

// Payer identifies who paid.
type Payer struct {
	OpenID string `json:"openid"`
}

// Transaction is a payment as WeChat Pay reports it in a query answer or a
// TRANSACTION.* notify. SuccessTime is RFC 3339 text (empty unless paid).
type Transaction struct {
	AppID          string `json:"appid"`
	MchID          string `json:"mchid"`
	OutTradeNo     string `json:"out_trade_no"`
	TransactionID  string `json:"transaction_id"`
	TradeType      string `json:"trade_type"`
	TradeState     string `json:"trade_state"`
	TradeStateDesc string `json:"trade_state_desc"`
	BankType       string `json:"bank_type"`
	Attach         string `json:"attach"`
	SuccessTime    string `json:"success_time"`
	Payer          Payer  `json:"payer"`
	Amount         Amount `json:"amount"`
}

// PaidAt parses SuccessTime; ok is false when the transaction is not paid.
func (t Transaction) PaidAt() (time.Time, bool) {
	at, err := time.Parse(time.RFC3339, t.SuccessTime)
	return at, err == nil
}

// QueryByOutTradeNo fetches a transaction by our order number. An unknown
// order gives an *APIError matching ErrOrderNotExist.
func (c *Client) QueryByOutTradeNo(ctx context.Context, outTradeNo string) (Transaction, error) {
	var t Transaction
	p := "/v3/pay/transactions/out-trade-no/" + url.PathEscape(outTradeNo) + "?mchid=" + url.QueryEscape(c.MchID)
	if err := c.do(ctx, http.MethodGet, p, nil, &t); err != nil {
		return t, fmt.Errorf("wechatpay: query %s: %w", outTradeNo, err)
	}
	return t, nil
}

// Close closes an unpaid order (answer 204). Errors as for CreateNative.
func (c *Client) Close(ctx context.Context, outTradeNo string) error {
	p := "/v3/pay/transactions/out-trade-no/" + url.PathEscape(outTradeNo) + "/close"
	if err := c.do(ctx, http.MethodPost, p, map[string]string{"mchid": c.MchID}, nil); err != nil {
		return fmt.Errorf("wechatpay: close %s: %w", outTradeNo, err)
	}
	return nil
}

// RefundRequest asks for a (partial) refund of a paid order; amounts in fen.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string
	Reason      string
	RefundFen   int64
	TotalFen    int64
	NotifyURL   string // optional; refund result notifies go there
}

// RefundAmount is the amount block of a refund.
type RefundAmount struct {
	Total       int64  `json:"total"`
	Refund      int64  `json:"refund"`
	PayerTotal  int64  `json:"payer_total,omitempty"`
	PayerRefund int64  `json:"payer_refund,omitempty"`
	Currency    string `json:"currency,omitempty"`
}

// Refund is a refund as the API or a REFUND.* notify reports it. Status is
// the API's "status"; notifies call the same field "refund_status".
type Refund struct {
	MchID               string       `json:"mchid,omitempty"`
	RefundID            string       `json:"refund_id"`
	OutRefundNo         string       `json:"out_refund_no"`
	TransactionID       string       `json:"transaction_id"`
	OutTradeNo          string       `json:"out_trade_no"`
	Channel             string       `json:"channel,omitempty"`
	UserReceivedAccount string       `json:"user_received_account"`
	SuccessTime         string       `json:"success_time,omitempty"`
	CreateTime          string       `json:"create_time,omitempty"`
	Status              string       `json:"status,omitempty"`
	RefundStatus        string       `json:"refund_status,omitempty"`
	Amount              RefundAmount `json:"amount"`
}

type refundRequest struct {
	OutTradeNo  string       `json:"out_trade_no"`
	OutRefundNo string       `json:"out_refund_no"`
	Reason      string       `json:"reason,omitempty"`
	NotifyURL   string       `json:"notify_url,omitempty"`
	Amount      RefundAmount `json:"amount"`
}

// Refund asks for a refund (POST /v3/refund/domestic/refunds). The same
// OutRefundNo repeated is the same refund at WeChat Pay. Errors as for
// CreateNative.
func (c *Client) Refund(ctx context.Context, r RefundRequest) (Refund, error) {
	var out Refund
	if r.RefundFen <= 0 || r.RefundFen > r.TotalFen {
		return out, fmt.Errorf("wechatpay: refund: amount %d fen outside (0, %d]", r.RefundFen, r.TotalFen)
	}
	req := refundRequest{
		OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, Reason: r.Reason, NotifyURL: r.NotifyURL,
		Amount: RefundAmount{Refund: r.RefundFen, Total: r.TotalFen, Currency: "CNY"},
	}
	if err := c.do(ctx, http.MethodPost, "/v3/refund/domestic/refunds", req, &out); err != nil {
		return out, fmt.Errorf("wechatpay: refund %s: %w", r.OutRefundNo, err)
	}
	return out, nil
}

// QueryRefund fetches a refund by our refund number.
func (c *Client) QueryRefund(ctx context.Context, outRefundNo string) (Refund, error) {
	var out Refund
	if err := c.do(ctx, http.MethodGet, "/v3/refund/domestic/refunds/"+url.PathEscape(outRefundNo), nil, &out); err != nil {
		return out, fmt.Errorf("wechatpay: query refund %s: %w", outRefundNo, err)
	}
	return out, nil
}

// do signs and sends one request, verifies a 2xx answer's signature and
// decodes it into out (nil: no body expected). A non-2xx answer becomes an
// *APIError; it is not trusted for anything but being an error.
func (c *Client) do(ctx context.Context, method, pathAndQuery string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+pathAndQuery, bytes.NewReader(body))
	if err != nil {
		return err
	}
	// The signed URL is the one on the wire, including any path prefix of
	// BaseURL.
	auth, err := c.authorization(method, req.URL.RequestURI(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "credits/1.0 (Go)")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &APIError{Status: resp.StatusCode}
		_ = json.Unmarshal(rb, ae)
		return ae
	}
	if err := c.VerifySigned(resp.Header, rb); err != nil {
		return err
	}
	if out == nil || len(rb) == 0 {
		return nil
	}
	if err := json.Unmarshal(rb, out); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// authorization builds the Authorization header for one request.
func (c *Client) authorization(method, pathAndQuery string, body []byte) (string, error) {
	if c.MerchantPrivateKey == nil {
		return "", errors.New("wechatpay: no merchant private key configured")
	}
	ts := c.now().Unix()
	nonce := NewNonce()
	sig, err := Sign(c.MerchantPrivateKey, RequestMessage(method, pathAndQuery, ts, nonce, body))
	if err != nil {
		return "", err
	}
	return Authorization{MchID: c.MchID, Nonce: nonce, Signature: sig, Timestamp: strconv.FormatInt(ts, 10), SerialNo: c.MerchantCertSerial}.String(), nil
}

// VerifySigned checks the Wechatpay-* headers of an answer or notify against
// the platform key named by Wechatpay-Serial, and that the timestamp is within
// MaxSkew of now. Errors: ErrBadSignature, ErrUnknownSerial, ErrStaleNotify.
func (c *Client) VerifySigned(h http.Header, body []byte) error {
	ts, nonce, sig, serial := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature), h.Get(HeaderSerial)
	if ts == "" || nonce == "" || sig == "" || serial == "" {
		return fmt.Errorf("%w: missing Wechatpay-* headers", ErrBadSignature)
	}
	key, ok := c.PlatformPublicKeys[serial]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownSerial, serial)
	}
	if err := Verify(key, ResponseMessage(ts, nonce, body), sig); err != nil {
		return err
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrBadSignature, ts)
	}
	if d := c.now().Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: signed %s ago", ErrStaleNotify, d.Round(time.Second))
	}
	return nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// chinaTime is Beijing time; China has kept UTC+8 without daylight saving
// since 1991, so a fixed zone avoids depending on the tz database.
var chinaTime = time.FixedZone("CST", 8*3600)
