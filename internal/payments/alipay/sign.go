// Package alipay speaks the Alipay OpenAPI gateway for 当面付 (face-to-face)
// QR payments on the standard library's crypto: RSA2 (SHA256withRSA) request
// signing, response and async-notify verification.
//
// The wire protocol follows Alipay's public documentation:
//   - Request signing ("自行实现签名"): https://opendocs.alipay.com/common/02kf5q
//   - Response and notify verification ("自行实现验签"): https://opendocs.alipay.com/common/02mse7
//   - Async notify (异步通知说明): https://opendocs.alipay.com/open/194/103296
//   - alipay.trade.precreate / query / close / refund:
//     https://opendocs.alipay.com/apis/api_1/alipay.trade.precreate (and …/alipay.trade.query,
//     …/alipay.trade.close, …/alipay.trade.refund)
package alipay

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

// Errors returned by signature checks and notify parsing.
var (
	// ErrBadSignature: a sign is missing, malformed or does not verify.
	ErrBadSignature = errors.New("alipay: bad signature")
	// ErrMalformed: the answer or notify is not what the protocol describes.
	ErrMalformed = errors.New("alipay: malformed message")
	// ErrTradeNotExist is matched (errors.Is) by an APIError with sub_code
	// ACQ.TRADE_NOT_EXIST — also what Alipay answers for a precreated order
	// nobody has scanned yet.
	ErrTradeNotExist = errors.New("alipay: trade does not exist")
)

// TimeLayout is the gateway's timestamp layout, in Beijing time.
const TimeLayout = "2006-01-02 15:04:05"

// ChinaTime is Beijing time (UTC+8, no daylight saving since 1991), fixed so
// that the tz database is not needed.
var ChinaTime = time.FixedZone("CST", 8*3600)

// SignContent is the string Alipay signs: the parameters with a non-empty
// value, except those named in exclude, sorted by key in byte order and
// joined as k=v&k=v with raw (not URL-encoded) values. Requests exclude
// "sign"; notifies exclude "sign" and "sign_type".
func SignContent(params url.Values, exclude ...string) string {
	keys := make([]string, 0, len(params))
next:
	for k, v := range params {
		for _, x := range exclude {
			if k == x {
				continue next
			}
		}
		if len(v) == 0 || v[0] == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params.Get(k))
	}
	return b.String()
}

// Sign returns base64(SHA256withRSA(content)), the RSA2 sign.
func Sign(key *rsa.PrivateKey, content string) (string, error) {
	sig, err := paykey.SignSHA256(key, content)
	if err != nil {
		return "", fmt.Errorf("alipay: sign: %w", err)
	}
	return sig, nil
}

// Verify checks an RSA2 sign over content; ErrBadSignature when it fails.
func Verify(key *rsa.PublicKey, content, sign string) error {
	if key == nil {
		return fmt.Errorf("%w: no Alipay public key configured", ErrBadSignature)
	}
	if !paykey.VerifySHA256(key, content, sign) {
		return ErrBadSignature
	}
	return nil
}

// ResponseKey is the JSON key of a method's answer node:
// "alipay.trade.precreate" → "alipay_trade_precreate_response".
func ResponseKey(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}
