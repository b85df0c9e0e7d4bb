package wechatpay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Notify event types (event_type).
const (
	EventTransactionSuccess = "TRANSACTION.SUCCESS"
	EventRefundSuccess      = "REFUND.SUCCESS"
	EventRefundAbnormal     = "REFUND.ABNORMAL"
	EventRefundClosed       = "REFUND.CLOSED"
)

// Notification is the envelope of a notify body; Resource stays encrypted.
type Notification struct {
	ID           string   `json:"id"`
	CreateTime   string   `json:"create_time"`
	EventType    string   `json:"event_type"`
	ResourceType string   `json:"resource_type"`
	Summary      string   `json:"summary"`
	Resource     Resource `json:"resource"`
}

// VerifyNotify checks a notify's signature and timestamp (see VerifySigned)
// and decrypts its resource, returning the envelope and the plaintext.
// Errors: ErrBadSignature, ErrUnknownSerial, ErrStaleNotify, ErrMalformed,
// ErrDecrypt.
func (c *Client) VerifyNotify(h http.Header, body []byte) (Notification, []byte, error) {
	var n Notification
	if err := c.VerifySigned(h, body); err != nil {
		return n, nil, fmt.Errorf("wechatpay: notify: %w", err)
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return n, nil, fmt.Errorf("wechatpay: notify: %w: %w", ErrMalformed, err)
	}
	pt, err := DecryptResource(c.APIv3Key, n.Resource)
	if err != nil {
		return n, nil, fmt.Errorf("wechatpay: notify %s: %w", n.ID, err)
	}
	return n, pt, nil
}

// ParseNotify verifies and decrypts a payment notify (TRANSACTION.*) and
// returns the transaction it reports. It does not compare the amount, mchid
// or appid with our order: the caller does, because a mismatch is a case for
// review rather than a forged message. Errors: those of VerifyNotify, and
// ErrWrongResource for a notify that is not about a transaction.
func (c *Client) ParseNotify(h http.Header, body []byte) (Transaction, error) {
	var t Transaction
	n, pt, err := c.VerifyNotify(h, body)
	if err != nil {
		return t, err
	}
	if n.Resource.OriginalType != "transaction" || !strings.HasPrefix(n.EventType, "TRANSACTION.") {
		return t, fmt.Errorf("wechatpay: notify %s: %w: %s/%s", n.ID, ErrWrongResource, n.EventType, n.Resource.OriginalType)
	}
	if err := json.Unmarshal(pt, &t); err != nil {
		return t, fmt.Errorf("wechatpay: notify %s: %w: %w", n.ID, ErrMalformed, err)
	}
	if t.OutTradeNo == "" {
		return t, fmt.Errorf("wechatpay: notify %s: %w: no out_trade_no", n.ID, ErrMalformed)
	}
	return t, nil
}

// ParseRefundNotify verifies and decrypts a refund notify (REFUND.*); the
// refund's state is in RefundStatus. Errors as for ParseNotify.
func (c *Client) ParseRefundNotify(h http.Header, body []byte) (Refund, error) {
	var r Refund
	n, pt, err := c.VerifyNotify(h, body)
	if err != nil {
		return r, err
	}
	if n.Resource.OriginalType != "refund" || !strings.HasPrefix(n.EventType, "REFUND.") {
		return r, fmt.Errorf("wechatpay: notify %s: %w: %s/%s", n.ID, ErrWrongResource, n.EventType, n.Resource.OriginalType)
	}
	if err := json.Unmarshal(pt, &r); err != nil {
		return r, fmt.Errorf("wechatpay: notify %s: %w: %w", n.ID, ErrMalformed, err)
	}
	return r, nil
}

// AnswerSuccess acknowledges a notify: WeChat Pay stops retrying on 200 or
// 204 (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_4_5.shtml).
func AnswerSuccess(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// AnswerFailure refuses a notify with status (4xx/5xx) and the documented
// body {"code":"FAIL","message":…}; WeChat Pay will retry it.
func AnswerFailure(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"code": "FAIL", "message": message})
	_, _ = w.Write(b)
}
