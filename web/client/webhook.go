package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WebhookSignatureHeader is the HTTP header that carries a delivery's
// signature: "t=<unix seconds>,v1=<lowercase hex HMAC-SHA256>".
const WebhookSignatureHeader = "Credits-Signature"

// Errors VerifyWebhook returns; each means "do not trust this request".
var (
	ErrWebhookMalformed = errors.New("credits webhook: signature header is missing or malformed")
	ErrWebhookExpired   = errors.New("credits webhook: signature timestamp is outside the tolerance")
	ErrWebhookMismatch  = errors.New("credits webhook: no signature matches the body")
)

// VerifyWebhook checks a webhook delivery: secret is the endpoint's whsec_…
// secret as shown when it was created (used as is, not decoded), header the
// Credits-Signature value, body the raw request body before any JSON
// decoding. The signature is HMAC-SHA256 keyed with the secret over
// "<t>.<body>"; any one of several v1 entries may match (a rotation sends
// both). tolerance bounds how far t may be from now (5 minutes is a good
// choice): it limits replays. Deliveries are at least once, so a receiver
// also treats the event id (Credits-Event-Id) as an idempotency key.
func VerifyWebhook(secret, header string, body []byte, tolerance time.Duration) error {
	return verifyWebhookAt(secret, header, body, tolerance, time.Now())
}

func verifyWebhookAt(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrWebhookMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return ErrWebhookMalformed
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrWebhookMalformed
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w (%s off)", ErrWebhookExpired, d.Round(time.Second))
	}
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	want := h.Sum(nil)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrWebhookMismatch
}
