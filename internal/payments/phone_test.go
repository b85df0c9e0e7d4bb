package payments_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// TestPhoneOrder: a WeChat Pay H5 / Alipay WAP order is placed for the
// phone browser, its pay URL opens the sandbox's cashier (which checked our
// signature), the customer pays there and the notify credits exactly once,
// replays included.
func TestPhoneOrder(t *testing.T) {
	t.Parallel()
	for _, ch := range []payments.Channel{payments.ChannelWeChat, payments.ChannelAlipay} {
		t.Run(string(ch), func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{})
			acc := b.account(t)
			payer := payments.PhonePayer{ClientIP: "203.0.113.7", ReturnURL: func(no string) string { return "https://credits.example/portal/orders/" + no }}

			o, payURL, err := b.svc.CreatePhoneOrder(b.ctx, acc, 10000, ch, payer)
			require.NoError(t, err)
			require.Equal(t, payments.StatePending, o.State)
			require.Equal(t, payments.PayModePhone, o.PayMode)
			require.Empty(t, o.QRCode, "a phone order has no code to scan")
			u, err := url.Parse(payURL)
			require.NoError(t, err)
			switch ch {
			case payments.ChannelWeChat:
				require.Equal(t, "/h5/wechat/"+o.OrderNo, u.Path)
				require.NotEmpty(t, u.Query().Get("prepay_id"))
				require.Equal(t, payer.ReturnURL(o.OrderNo), u.Query().Get("redirect_url"), "redirect_url is appended to h5_url")
			case payments.ChannelAlipay:
				require.Equal(t, "/gateway.do", u.Path)
				q := u.Query()
				require.Equal(t, "alipay.trade.wap.pay", q.Get("method"))
				require.Equal(t, payer.ReturnURL(o.OrderNo), q.Get("return_url"))
				require.Contains(t, q.Get("biz_content"), `"product_code":"QUICK_WAP_WAY"`)
				require.Contains(t, q.Get("biz_content"), `"quit_url":"`+payer.ReturnURL(o.OrderNo)+`"`)

				// Tampered on its way through the browser: the sandbox's gateway
				// verifies the sign and refuses.
				q.Set("biz_content", strings.Replace(q.Get("biz_content"), `"total_amount":"100.00"`, `"total_amount":"0.01"`, 1))
				u2 := *u
				u2.RawQuery = q.Encode()
				resp, err := http.Get(u2.String())
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusBadRequest, resp.StatusCode)
				require.Contains(t, string(body), "isv.invalid-signature")
			}

			// The browser opens it from our page (WeChat Pay checks the
			// Referer): the cashier shows the order.
			req, err := http.NewRequest(http.MethodGet, payURL, nil)
			require.NoError(t, err)
			req.Header.Set("Referer", "https://credits.example/")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Contains(t, string(page), o.OrderNo)
			require.Contains(t, string(page), "¥100.00")
			require.Contains(t, string(page), `data-testid="paysim-confirm"`)

			// Coming back unpaid and opening it again places it again.
			again, err := b.svc.PhonePayURL(b.ctx, acc, o.OrderNo, payer)
			require.NoError(t, err)
			if ch == payments.ChannelWeChat {
				require.NotEqual(t, payURL, again, "a fresh h5_url each time (one lasts five minutes)")
			} else {
				require.Contains(t, again, "method=alipay.trade.wap.pay", "a freshly signed WAP request")
			}
			_, err = b.svc.PhonePayURL(b.ctx, b.account(t), o.OrderNo, payer)
			require.ErrorIs(t, err, payments.ErrNotFound, "another account's order")

			dl := b.confirm(t, o)
			require.True(t, dl.Acked, "%+v", dl)
			// The channel's retries arriving together: byte-for-byte and freshly signed.
			var wg sync.WaitGroup
			acked := make(chan bool, 8)
			for i := range 8 {
				wg.Go(func() {
					dl, err := b.sim.Replay(b.ctx, string(ch), o.OrderNo, i%2 == 1)
					acked <- err == nil && dl.Acked
				})
			}
			wg.Wait()
			close(acked)
			for ok := range acked {
				require.True(t, ok, "every replay is acknowledged")
			}

			got := b.order(t, o)
			require.Equal(t, payments.StatePaid, got.State)
			requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
			requireDec(t, "20000", b.byKind(t, acc, ledger.LotPromo))
			require.Len(t, b.lots(t, acc), 2)
			b.notify.mu.Lock()
			results := map[payments.Result]int{}
			for _, out := range b.notify.outcomes {
				results[out.Result]++
			}
			b.notify.mu.Unlock()
			require.Equal(t, map[payments.Result]int{payments.ResultCredited: 1, payments.ResultDuplicate: 8}, results)
			require.Equal(t, []string{"->created:create", "created>pending:qr_created", "pending>paid:notify"}, b.causes(t, o))

			_, err = b.svc.PhonePayURL(b.ctx, acc, o.OrderNo, payer)
			require.ErrorIs(t, err, payments.ErrInvalidArgument, "a paid order is not paid again")
			qr, err := b.svc.CreateQROrder(b.ctx, acc, 10000, ch)
			require.NoError(t, err)
			_, err = b.svc.PhonePayURL(b.ctx, acc, qr.OrderNo, payer)
			require.ErrorIs(t, err, payments.ErrInvalidArgument, "a QR order is paid by its code")
			b.verifyClean(t)
		})
	}
}

// TestPhoneOrderSync: a WAP order nobody opened is unknown at Alipay, as a
// precreated one is; once the customer has paid, the sync job finds it even
// when the notify was lost.
func TestPhoneOrderSync(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	acc := b.account(t)
	b.notify.drop.Store(true)
	o, payURL, err := b.svc.CreatePhoneOrder(b.ctx, acc, 10000, payments.ChannelAlipay, payments.PhonePayer{ClientIP: "127.0.0.1"})
	require.NoError(t, err)
	resp, err := http.Get(payURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, b.confirm(t, o).Acked)
	require.Equal(t, payments.StatePending, b.order(t, o).State)

	b.clock.Add(2 * 60e9)
	_, err = b.svc.SyncPending(b.ctx, 100)
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, b.order(t, o).State)
	requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
}
