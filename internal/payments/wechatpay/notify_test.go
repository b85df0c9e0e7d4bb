package wechatpay

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

type notifyBundle struct {
	client   *Client
	platform *rsa.PrivateKey
	now      time.Time
}

func setupNotify(t *testing.T) notifyBundle {
	t.Helper()
	platform, err := paykey.LoadPrivateKey("testdata/merchant_pkcs1.pem") // any key will do as the platform's
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)
	c := &Client{
		MchID: "1900000109", AppID: "wxd930ea5d5a258f4f",
		APIv3Key:           []byte("a7f3c1e9b2d84f6a0c5e7b9d1f3a5c7e"),
		PlatformPublicKeys: map[string]*rsa.PublicKey{"PLATFORM1": &platform.PublicKey},
		Now:                func() time.Time { return now },
	}
	return notifyBundle{client: c, platform: platform, now: now}
}

// notify builds a signed notify for tx, signed at signedAt.
func (b notifyBundle) notify(t *testing.T, event, originalType string, plaintext []byte, signedAt time.Time) (http.Header, []byte) {
	t.Helper()
	res, err := EncryptResource(b.client.APIv3Key, plaintext, "n0nce0000001", originalType, originalType)
	require.NoError(t, err)
	body, err := json.Marshal(Notification{ID: "EV-1", CreateTime: signedAt.Format(time.RFC3339), EventType: event, ResourceType: "encrypt-resource", Summary: "支付成功", Resource: res})
	require.NoError(t, err)
	ts := strconv.FormatInt(signedAt.Unix(), 10)
	sig, err := Sign(b.platform, ResponseMessage(ts, "NONCE1", body))
	require.NoError(t, err)
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, "NONCE1")
	h.Set(HeaderSignature, sig)
	h.Set(HeaderSerial, "PLATFORM1")
	return h, body
}

func TestParseNotify(t *testing.T) {
	t.Parallel()
	b := setupNotify(t)
	tx := Transaction{AppID: "wxd930ea5d5a258f4f", MchID: "1900000109", OutTradeNo: "T20260101000001", TransactionID: "4200000000000000000000000001",
		TradeState: StateSuccess, SuccessTime: "2026-01-01T12:00:00+08:00", Amount: Amount{Total: 10000, Currency: "CNY"}}
	plain, err := json.Marshal(tx)
	require.NoError(t, err)

	t.Run("Valid", func(t *testing.T) {
		h, body := b.notify(t, EventTransactionSuccess, "transaction", plain, b.now.Add(-time.Minute))
		got, err := b.client.ParseNotify(h, body)
		require.NoError(t, err)
		require.Equal(t, tx, got)
		at, ok := got.PaidAt()
		require.True(t, ok)
		require.True(t, at.Equal(time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)))
	})
	t.Run("StaleTimestamp", func(t *testing.T) {
		h, body := b.notify(t, EventTransactionSuccess, "transaction", plain, b.now.Add(-6*time.Minute))
		_, err := b.client.ParseNotify(h, body)
		require.ErrorIs(t, err, ErrStaleNotify)
	})
	t.Run("FutureTimestamp", func(t *testing.T) {
		h, body := b.notify(t, EventTransactionSuccess, "transaction", plain, b.now.Add(6*time.Minute))
		_, err := b.client.ParseNotify(h, body)
		require.ErrorIs(t, err, ErrStaleNotify)
	})
	t.Run("TamperedBody", func(t *testing.T) {
		h, body := b.notify(t, EventTransactionSuccess, "transaction", plain, b.now)
		body = bytes.Replace(body, []byte("EV-1"), []byte("EV-2"), 1)
		_, err := b.client.ParseNotify(h, body)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("TamperedTimestampHeader", func(t *testing.T) {
		h, body := b.notify(t, EventTransactionSuccess, "transaction", plain, b.now.Add(-10*time.Minute))
		h.Set(HeaderTimestamp, strconv.FormatInt(b.now.Unix(), 10)) // refreshing a replay breaks the signature
		_, err := b.client.ParseNotify(h, body)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("UnknownSerial", func(t *testing.T) {
		h, body := b.notify(t, EventTransactionSuccess, "transaction", plain, b.now)
		h.Set(HeaderSerial, "SOMEONE_ELSE")
		_, err := b.client.ParseNotify(h, body)
		require.ErrorIs(t, err, ErrUnknownSerial)
	})
	t.Run("WrongSigningKey", func(t *testing.T) {
		other, err := paykey.Generate()
		require.NoError(t, err)
		forger := b
		forger.platform = other
		h, body := forger.notify(t, EventTransactionSuccess, "transaction", plain, b.now)
		_, err = b.client.ParseNotify(h, body)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("MissingHeaders", func(t *testing.T) {
		_, body := b.notify(t, EventTransactionSuccess, "transaction", plain, b.now)
		_, err := b.client.ParseNotify(http.Header{}, body)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("WrongAPIv3Key", func(t *testing.T) {
		h, body := b.notify(t, EventTransactionSuccess, "transaction", plain, b.now)
		c := *b.client
		c.APIv3Key = []byte("00000000000000000000000000000000")
		_, err := c.ParseNotify(h, body)
		require.ErrorIs(t, err, ErrDecrypt)
	})
	t.Run("RefundNotifyIsNotAPayment", func(t *testing.T) {
		h, body := b.notify(t, EventRefundSuccess, "refund", []byte(`{"out_refund_no":"R1","refund_status":"SUCCESS","amount":{"total":10000,"refund":100}}`), b.now)
		_, err := b.client.ParseNotify(h, body)
		require.ErrorIs(t, err, ErrWrongResource)
		r, err := b.client.ParseRefundNotify(h, body)
		require.NoError(t, err)
		require.Equal(t, "R1", r.OutRefundNo)
		require.Equal(t, RefundSuccess, r.RefundStatus)
		require.EqualValues(t, 100, r.Amount.Refund)
	})
}

func TestNotifyAnswers(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	AnswerSuccess(rec)
	require.Equal(t, http.StatusNoContent, rec.Code)

	rec = httptest.NewRecorder()
	AnswerFailure(rec, http.StatusUnauthorized, "签名错误")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.JSONEq(t, `{"code":"FAIL","message":"签名错误"}`, rec.Body.String())
}

func TestClientDoesNotPrintSecrets(t *testing.T) {
	t.Parallel()
	b := setupNotify(t)
	b.client.MerchantPrivateKey = b.platform
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, b.client)
		require.NotContains(t, out, "a7f3c1e9", verb)
		require.NotContains(t, out, b.platform.D.String()[:12], verb)
		require.Contains(t, out, "1900000109", verb)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("client", "wechatpay", b.client)
	require.NotContains(t, buf.String(), "a7f3c1e9")
	require.Contains(t, buf.String(), "1900000109")
}
