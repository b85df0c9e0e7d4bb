package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// paidNotifyFor creates a ¥100 order on channel for acc, pays it at the
// sandbox and returns the notify the sandbox sent (captured, not applied).
func (b *payBundle) paidNotifyFor(t *testing.T, acc int64, ch payments.Channel, path string) (payments.Order, captured) {
	t.Helper()
	nc := b.captureNotifies(t)
	defer b.notifyTo(b.app.URL)
	ctx := context.Background()
	o, err := b.pay.CreateQROrder(ctx, acc, 10000, ch)
	require.NoError(t, err)
	d, err := b.sim.Confirm(ctx, string(ch), o.OrderNo)
	require.NoError(t, err)
	require.False(t, d.Acked, "the capture server does not acknowledge")
	return o, nc.get(t, path)
}

// requireNothingCredited: the order is still open and the account empty.
func (b *payBundle) requireNothingCredited(t *testing.T, acc int64, o payments.Order) {
	t.Helper()
	require.Equal(t, payments.StatePending, b.order(t, o.OrderNo).State)
	require.True(t, b.balance(t, acc).Available.IsZero(), "nothing was credited")
}

// requireCreditedOnce: the order is paid and the account holds exactly one
// ¥100 top-up: 100,000 paid credits and the 20,000 bonus, from one purchase.
func (b *payBundle) requireCreditedOnce(t *testing.T, acc int64, o payments.Order) {
	t.Helper()
	require.Equal(t, payments.StatePaid, b.order(t, o.OrderNo).State)
	bal := b.balance(t, acc)
	requireCredits(t, "100000", bal.ByKind[ledger.LotPaid], "paid")
	requireCredits(t, "20000", bal.ByKind[ledger.LotPromo], "promo")
	evs, _, err := b.ledger.Events(context.Background(), acc, ledger.EventFilter{Types: []ledger.EventType{ledger.EventPurchase}}, 0, 100)
	require.NoError(t, err)
	require.Len(t, evs, 1, "one purchase")
	b.verifyLedger(t)
}

// concurrently posts the same notify n times at once and returns the
// answers' statuses and bodies.
func (b *payBundle) concurrently(t *testing.T, n int, path string, n0 captured) ([]int, []string) {
	t.Helper()
	statuses, bodies := make([]int, n), make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i], bodies[i] = b.post(t, path, n0.Header, n0.Body)
		})
	}
	close(start)
	wg.Wait()
	return statuses, bodies
}

// TestWeChatNotifyEndpoint drives POST /pay/notify/wechat over HTTP with
// what the sandbox signed: tampered signatures and bodies are refused with
// 401 and change nothing; 50 concurrent copies of the genuine notify credit
// once and are all acknowledged; a later replay is acknowledged without
// effect.
func TestWeChatNotifyEndpoint(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	_, acc := b.customer(t, "wechat-notify@example.com", true)
	o, n := b.paidNotifyFor(t, acc, payments.ChannelWeChat, payments.NotifyPathWeChat)
	require.NotEmpty(t, n.Header.Get("Wechatpay-Signature"))

	t.Run("TamperedSignature", func(t *testing.T) {
		h := n.Header.Clone()
		sig := []byte(h.Get("Wechatpay-Signature"))
		sig[10] ^= 1
		h.Set("Wechatpay-Signature", string(sig))
		status, _ := b.post(t, payments.NotifyPathWeChat, h, n.Body)
		require.Equal(t, http.StatusUnauthorized, status)
		b.requireNothingCredited(t, acc, o)
	})
	t.Run("TamperedBody", func(t *testing.T) {
		body := bytes.Replace(n.Body, []byte(`"TRANSACTION.SUCCESS"`), []byte(`"TRANSACTION.SUCCESS" `), 1)
		require.NotEqual(t, n.Body, body)
		status, _ := b.post(t, payments.NotifyPathWeChat, n.Header, body)
		require.Equal(t, http.StatusUnauthorized, status)
		b.requireNothingCredited(t, acc, o)
	})
	t.Run("UnsignedGarbage", func(t *testing.T) {
		status, _ := b.post(t, payments.NotifyPathWeChat, http.Header{"Content-Type": {"application/json"}}, []byte(`{"nonsense":`))
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusBadRequest}, status)
		b.requireNothingCredited(t, acc, o)
	})
	t.Run("FiftyConcurrentCopiesCreditOnce", func(t *testing.T) {
		statuses, _ := b.concurrently(t, 50, payments.NotifyPathWeChat, n)
		for i, s := range statuses {
			require.Equal(t, http.StatusNoContent, s, "copy %d is acknowledged", i)
		}
		b.requireCreditedOnce(t, acc, o)
	})
	t.Run("ReplayLater", func(t *testing.T) {
		status, _ := b.post(t, payments.NotifyPathWeChat, n.Header, n.Body)
		require.Equal(t, http.StatusNoContent, status)
		b.requireCreditedOnce(t, acc, o)
	})
}

// TestAlipayNotifyEndpoint: the same for POST /pay/notify/alipay, whose
// acknowledgement is the body "success"; a changed amount breaks the RSA2
// signature; an unreadable form is 400.
func TestAlipayNotifyEndpoint(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	_, acc := b.customer(t, "alipay-notify@example.com", true)
	o, n := b.paidNotifyFor(t, acc, payments.ChannelAlipay, payments.NotifyPathAlipay)
	form, err := url.ParseQuery(string(n.Body))
	require.NoError(t, err)
	require.Equal(t, o.OrderNo, form.Get("out_trade_no"))
	require.Equal(t, "100.00", form.Get("total_amount"))

	tampered := func(k, v string) []byte {
		f, _ := url.ParseQuery(string(n.Body))
		f.Set(k, v)
		return []byte(f.Encode())
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"TamperedSignature", tampered("sign", otherFirstChar(form.Get("sign")))},
		{"TamperedAmount", tampered("total_amount", "1000.00")},
		{"TamperedOrder", tampered("out_trade_no", "T000000000000000001")},
		{"NoSignature", tampered("sign", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := b.post(t, payments.NotifyPathAlipay, n.Header, tc.body)
			require.Equal(t, http.StatusUnauthorized, status)
			require.NotEqual(t, "success", body)
			b.requireNothingCredited(t, acc, o)
		})
	}
	t.Run("Malformed", func(t *testing.T) {
		status, body := b.post(t, payments.NotifyPathAlipay, n.Header, []byte("a=%zz"))
		require.Equal(t, http.StatusBadRequest, status)
		require.NotEqual(t, "success", body)
		b.requireNothingCredited(t, acc, o)
	})
	t.Run("FiftyConcurrentCopiesCreditOnce", func(t *testing.T) {
		statuses, bodies := b.concurrently(t, 50, payments.NotifyPathAlipay, n)
		for i := range statuses {
			require.Equal(t, http.StatusOK, statuses[i], "copy %d", i)
			require.Equal(t, "success", bodies[i], "copy %d is acknowledged", i)
		}
		b.requireCreditedOnce(t, acc, o)
	})
	t.Run("ReplayLater", func(t *testing.T) {
		status, body := b.post(t, payments.NotifyPathAlipay, n.Header, n.Body)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "success", body)
		b.requireCreditedOnce(t, acc, o)
	})
}

// amountShift places orders at the channel for another amount than ours,
// as a bug or tampering between us and the channel would.
type amountShift struct {
	payments.QRChannel
	deltaFen int64
}

func (a amountShift) CreateQR(ctx context.Context, o payments.QROrder) (string, error) {
	o.AmountFen += a.deltaFen
	return a.QRChannel.CreateQR(ctx, o)
}

// TestNotifyWithWrongAmountGoesToReview: a correctly signed notify whose
// amount differs from the order is acknowledged, credits nothing and leaves
// the order to finance; the checkout says so.
func TestNotifyWithWrongAmountGoesToReview(t *testing.T) {
	t.Parallel()
	b := setupPay(t, func(ch *payments.Channels, _ *payments.Options) {
		ch.WeChat = amountShift{ch.WeChat, 100}
		ch.Alipay = amountShift{ch.Alipay, -100}
	})
	c, acc := b.customer(t, "wrong-amount@example.com", true)
	ctx := context.Background()
	for _, ch := range []payments.Channel{payments.ChannelWeChat, payments.ChannelAlipay} {
		o, err := b.pay.CreateQROrder(ctx, acc, 10000, ch)
		require.NoError(t, err)
		d, err := b.sim.Confirm(ctx, string(ch), o.OrderNo)
		require.NoError(t, err)
		require.True(t, d.Acked, "%s: a mismatch is acknowledged (finance reviews it)", ch)
		require.Equal(t, payments.StateNeedsReview, b.order(t, o.OrderNo).State, ch)
		p := c.Get("/portal/orders/" + o.OrderNo)
		require.NotEmpty(t, p.TestID("checkout-review"), ch)
		require.Empty(t, p.Doc.Find(`[data-testid="checkout"]`).AttrOr("hx-trigger", ""), "polling stops")
	}
	require.True(t, b.balance(t, acc).Available.IsZero(), "nothing was credited")
	b.verifyLedger(t)
}

// otherFirstChar changes the first character of a base64 signature to one it
// certainly is not, so the tampered signature never equals the real one.
func otherFirstChar(sig string) string {
	if strings.HasPrefix(sig, "A") {
		return "B" + sig[1:]
	}
	return "A" + sig[1:]
}
