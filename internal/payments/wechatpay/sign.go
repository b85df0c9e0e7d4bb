// Package wechatpay speaks WeChat Pay API v3 for Native (QR code) payments on
// the standard library's crypto: RSA-SHA256 request signing, response and
// notify signature verification, and AEAD_AES_256_GCM notify decryption.
//
// The wire protocol follows WeChat Pay's public documentation:
//   - Signing requests: https://pay.weixin.qq.com/docs/merchant/development/interface-rules/signature-generation.html
//     (older copy: https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_0.shtml)
//   - Verifying responses and notifies: https://pay.weixin.qq.com/docs/merchant/development/interface-rules/signature-verification.html
//     (https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_1.shtml)
//   - Decrypting notify resources: https://pay.weixin.qq.com/docs/merchant/development/interface-rules/certificate-callback-decryption.html
//     (https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_2.shtml)
//   - Native order, query, close, notify: https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_4_1.shtml,
//     chapter3_4_2, chapter3_4_3, chapter3_4_5; refund and refund notify: chapter3_4_9, chapter3_4_11.
package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

// AuthScheme is the Authorization scheme of API v3 requests.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// Header names WeChat Pay uses to sign its responses and notifies.
const (
	HeaderTimestamp = "Wechatpay-Timestamp"
	HeaderNonce     = "Wechatpay-Nonce"
	HeaderSignature = "Wechatpay-Signature"
	HeaderSerial    = "Wechatpay-Serial"
)

// AlgorithmAESGCM is the only resource encryption algorithm of API v3.
const AlgorithmAESGCM = "AEAD_AES_256_GCM"

// Errors returned by signature checks and notify parsing.
var (
	// ErrBadSignature: a signature is missing, malformed or does not verify.
	ErrBadSignature = errors.New("wechatpay: bad signature")
	// ErrUnknownSerial: the message names a key serial we do not hold.
	ErrUnknownSerial = errors.New("wechatpay: unknown key serial")
	// ErrStaleNotify: the signed timestamp is more than MaxSkew away from now.
	ErrStaleNotify = errors.New("wechatpay: stale timestamp")
	// ErrDecrypt: the encrypted resource does not decrypt or authenticate.
	ErrDecrypt = errors.New("wechatpay: resource does not decrypt")
	// ErrMalformed: the message is not the JSON the protocol describes.
	ErrMalformed = errors.New("wechatpay: malformed message")
	// ErrWrongResource: a notify carries another resource type than expected
	// (a refund notify given to ParseNotify, for example).
	ErrWrongResource = errors.New("wechatpay: unexpected notify resource")
)

// RequestMessage is the string a merchant signs for a request:
// method, path with query, timestamp, nonce and body, each followed by "\n".
// An empty body (GET) still contributes its terminating "\n".
func RequestMessage(method, pathAndQuery string, timestamp int64, nonce string, body []byte) string {
	return method + "\n" + pathAndQuery + "\n" + strconv.FormatInt(timestamp, 10) + "\n" + nonce + "\n" + string(body) + "\n"
}

// ResponseMessage is the string WeChat Pay signs for a response or notify:
// timestamp, nonce and body, each followed by "\n".
func ResponseMessage(timestamp, nonce string, body []byte) string {
	return timestamp + "\n" + nonce + "\n" + string(body) + "\n"
}

// Sign returns base64(RSASSA-PKCS1-v1_5(SHA-256(message))).
func Sign(key *rsa.PrivateKey, message string) (string, error) {
	sig, err := paykey.SignSHA256(key, message)
	if err != nil {
		return "", fmt.Errorf("wechatpay: sign: %w", err)
	}
	return sig, nil
}

// Verify checks a base64 RSA-SHA256 signature over message; it returns
// ErrBadSignature when it does not hold.
func Verify(key *rsa.PublicKey, message, signature string) error {
	if key == nil {
		return fmt.Errorf("%w: no public key", ErrBadSignature)
	}
	if !paykey.VerifySHA256(key, message, signature) {
		return ErrBadSignature
	}
	return nil
}

// Authorization is the parsed Authorization header of a v3 request.
type Authorization struct {
	MchID     string
	Nonce     string
	Signature string
	Timestamp string
	SerialNo  string
}

// String renders the header value in the documented order.
func (a Authorization) String() string {
	return fmt.Sprintf(`%s mchid="%s",nonce_str="%s",signature="%s",timestamp="%s",serial_no="%s"`,
		AuthScheme, a.MchID, a.Nonce, a.Signature, a.Timestamp, a.SerialNo)
}

// ParseAuthorization parses an Authorization header value; the sandbox uses it
// to check our requests. It returns ErrBadSignature for anything malformed.
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	rest, ok := strings.CutPrefix(h, AuthScheme+" ")
	if !ok {
		return a, fmt.Errorf("%w: scheme is not %s", ErrBadSignature, AuthScheme)
	}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return a, fmt.Errorf("%w: malformed authorization", ErrBadSignature)
		}
		v = v[1 : len(v)-1]
		switch k {
		case "mchid":
			a.MchID = v
		case "nonce_str":
			a.Nonce = v
		case "signature":
			a.Signature = v
		case "timestamp":
			a.Timestamp = v
		case "serial_no":
			a.SerialNo = v
		}
	}
	if a.MchID == "" || a.Nonce == "" || a.Signature == "" || a.Timestamp == "" || a.SerialNo == "" {
		return a, fmt.Errorf("%w: authorization lacks a field", ErrBadSignature)
	}
	return a, nil
}

// Resource is the encrypted part of a notify (and of certificate downloads).
type Resource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	OriginalType   string `json:"original_type"`
	Nonce          string `json:"nonce"`
}

// DecryptResource opens an AEAD_AES_256_GCM resource with the 32-byte APIv3
// key: the nonce and associated data are used as given (UTF-8 text), the
// ciphertext is base64 of ciphertext||16-byte tag.
func DecryptResource(apiV3Key []byte, r Resource) ([]byte, error) {
	if r.Algorithm != AlgorithmAESGCM {
		return nil, fmt.Errorf("%w: algorithm %q", ErrDecrypt, r.Algorithm)
	}
	aead, err := newGCM(apiV3Key, len(r.Nonce))
	if err != nil {
		return nil, err
	}
	ct, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext is not base64", ErrDecrypt)
	}
	pt, err := aead.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// EncryptResource seals plaintext the way WeChat Pay does for notifies; the
// sandbox and tests use it. nonce is the 12-character text nonce.
func EncryptResource(apiV3Key []byte, plaintext []byte, nonce, associatedData, originalType string) (Resource, error) {
	aead, err := newGCM(apiV3Key, len(nonce))
	if err != nil {
		return Resource{}, err
	}
	ct := aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return Resource{
		Algorithm:      AlgorithmAESGCM,
		Ciphertext:     base64.StdEncoding.EncodeToString(ct),
		AssociatedData: associatedData,
		OriginalType:   originalType,
		Nonce:          nonce,
	}, nil
}

func newGCM(key []byte, nonceSize int) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: the APIv3 key must be 32 bytes", ErrDecrypt)
	}
	if nonceSize == 0 {
		return nil, fmt.Errorf("%w: empty nonce", ErrDecrypt)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return cipher.NewGCMWithNonceSize(block, nonceSize)
}

// NewNonce returns a 32-character random nonce for signatures.
func NewNonce() string { return paykey.RandomString(32) }
