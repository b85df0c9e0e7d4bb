package payments_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// TestQRChannels drives both adapters through the sandbox: the checkout's
// view of create, notify, query, refund and close.
func TestQRChannels(t *testing.T) {
	keys, err := paysim.LoadOrCreateDevKeys(t.TempDir())
	require.NoError(t, err)
	cfg := keys.Config()
	cfg.RetryDelays = []time.Duration{0}
	sim := paysim.New(cfg)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()

	var mu sync.Mutex
	notified := map[string][]byte{}
	var headers = map[string]http.Header{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		notified[r.URL.Path], headers[r.URL.Path] = b, r.Header.Clone()
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "alipay") {
			alipay.AnswerSuccess(w)
			return
		}
		wechatpay.AnswerSuccess(w)
	}))
	defer recv.Close()

	ws, as := keys.WeChatSettings(simSrv.URL), keys.AlipaySettings(simSrv.URL)
	ws.NotifyURL, as.NotifyURL = recv.URL+"/wechat", recv.URL+"/alipay"
	wx, err := ws.Client()
	require.NoError(t, err)
	ali, err := as.Client()
	require.NoError(t, err)

	for _, ch := range []payments.QRChannel{payments.WeChatChannel(wx), payments.AlipayChannel(ali, paysim.DevAlipaySeller)} {
		t.Run(string(ch.Name()), func(t *testing.T) {
			ctx := context.Background()
			no := "QR" + string(ch.Name()) + "000001"
			qr, err := ch.CreateQR(ctx, payments.QROrder{OutTradeNo: no, AmountFen: 10000, Subject: "充值 ¥100", ExpiresAt: time.Now().Add(15 * time.Minute)})
			require.NoError(t, err)
			require.Equal(t, simSrv.URL+"/pay/"+string(ch.Name())+"/"+no, qr)

			d, err := sim.Confirm(ctx, string(ch.Name()), no)
			require.NoError(t, err)
			require.True(t, d.Acked)

			mu.Lock()
			body, h := notified["/"+string(ch.Name())], headers["/"+string(ch.Name())]
			mu.Unlock()
			p, err := ch.ParseNotify(h, body)
			require.NoError(t, err)
			require.Equal(t, payments.ChannelPaid, p.State)
			require.EqualValues(t, 10000, p.AmountFen)
			require.Equal(t, no, p.OutTradeNo)
			require.False(t, p.PaidAt.IsZero())

			q, err := ch.Query(ctx, no)
			require.NoError(t, err)
			require.Equal(t, payments.ChannelPaid, q.State)
			require.EqualValues(t, 10000, q.AmountFen)
			require.Equal(t, p.ChannelTradeNo, q.ChannelTradeNo)
			require.Equal(t, p.MerchantID, q.MerchantID)

			require.NoError(t, ch.Refund(ctx, payments.ChannelRefund{OutTradeNo: no, OutRefundNo: no + "R1", RefundFen: 10000, TotalFen: 10000}))
			q, err = ch.Query(ctx, no)
			require.NoError(t, err)
			require.Equal(t, payments.ChannelPaid, q.State, "a refunded payment was still paid")

			_, err = ch.Query(ctx, "QRNOSUCHORDER1")
			require.ErrorIs(t, err, payments.ErrChannelNoOrder)
			require.Error(t, ch.Close(ctx, no), "a paid order cannot be closed")
		})
	}
}
