package payments_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// TestTopUp pays a ¥100 order through each channel's sandbox: the notify
// credits a ¥100 paid lot of 100,000 credits and a 20 % promo lot that
// expires in 90 days, exactly once however often it is replayed.
func TestTopUp(t *testing.T) {
	t.Parallel()
	for _, ch := range []payments.Channel{payments.ChannelWeChat, payments.ChannelAlipay} {
		t.Run(string(ch), func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{})
			acc := b.account(t)

			o, err := b.svc.CreateQROrder(b.ctx, acc, 10000, ch)
			require.NoError(t, err)
			require.Equal(t, payments.StatePending, o.State)
			require.Equal(t, b.simURL+"/pay/"+string(ch)+"/"+o.OrderNo, o.QRCode)
			require.Regexp(t, `^T\d{8}\d{10}$`, o.OrderNo)
			require.WithinDuration(t, b.clock.Now().Add(15*time.Minute), o.ExpiresAt, 5*time.Second)
			requireDec(t, "100000", o.Credits)
			requireDec(t, "20000", o.BonusCredits)

			dl := b.confirm(t, o)
			require.True(t, dl.Acked, "our endpoint acknowledged the notify: %+v", dl)

			got := b.order(t, o)
			require.Equal(t, payments.StatePaid, got.State)
			require.NotEmpty(t, got.ChannelTradeNo)
			require.NotNil(t, got.PaidLotID)
			require.NotNil(t, got.PromoLotID)
			requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
			requireDec(t, "20000", b.byKind(t, acc, ledger.LotPromo))
			lots := b.lots(t, acc)
			require.Len(t, lots, 2)
			for _, l := range lots {
				if l.Kind == ledger.LotPromo {
					require.NotNil(t, l.ExpiresAt)
					require.WithinDuration(t, b.clock.Now().Add(90*24*time.Hour), *l.ExpiresAt, time.Minute)
				} else {
					require.Nil(t, l.ExpiresAt, "paid credit does not expire")
				}
			}

			// Replays, byte for byte and freshly signed: acknowledged, no effect.
			for _, fresh := range []bool{false, true, false} {
				dl, err := b.sim.Replay(b.ctx, string(ch), o.OrderNo, fresh)
				require.NoError(t, err)
				require.True(t, dl.Acked)
			}
			require.Len(t, b.lots(t, acc), 2)
			requireDec(t, "120000", b.byKind(t, acc, ledger.LotPaid).Add(b.byKind(t, acc, ledger.LotPromo)))
			b.notify.mu.Lock()
			results := map[payments.Result]int{}
			for _, out := range b.notify.outcomes {
				results[out.Result]++
			}
			b.notify.mu.Unlock()
			require.Equal(t, map[payments.Result]int{payments.ResultCredited: 1, payments.ResultDuplicate: 3}, results)

			require.Equal(t, []string{"->created:create", "created>pending:qr_created", "pending>paid:notify"}, b.causes(t, o))

			mine, err := b.svc.Order(b.ctx, acc, o.OrderNo)
			require.NoError(t, err)
			require.Equal(t, payments.StatePaid, mine.State)
			_, err = b.svc.Order(b.ctx, b.account(t), o.OrderNo)
			require.ErrorIs(t, err, payments.ErrNotFound, "another account cannot see the order")

			top, err := b.svc.PaidTopUps(b.ctx, acc)
			require.NoError(t, err)
			require.Len(t, top, 1)
			require.Equal(t, payments.TopUp{OrderID: o.ID, OrderNo: o.OrderNo, Channel: ch, AmountFen: 10000, PaidAt: top[0].PaidAt}, top[0])
			b.verifyClean(t)
		})
	}
}

// TestTamperedNotify: a notify whose signature or body was altered is
// refused with ErrBadSignature (401) and changes nothing; the genuine one
// then credits.
func TestTamperedNotify(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})

	t.Run("WeChat", func(t *testing.T) {
		acc := b.account(t)
		o, err := b.svc.CreateQROrder(b.ctx, acc, 10000, payments.ChannelWeChat)
		require.NoError(t, err)
		b.notify.drop.Store(true)
		b.confirm(t, o)
		b.notify.drop.Store(false)
		n := b.notify.last(t, payments.NotifyPathWeChat)

		tamperedBody := bytes.Replace(n.Body, []byte(`"summary":"`), []byte(`"summary":"x`), 1)
		require.NotEqual(t, n.Body, tamperedBody)
		badSig := n.Header.Clone()
		sig := []byte(badSig.Get("Wechatpay-Signature"))
		sig[10] ^= 1
		badSig.Set("Wechatpay-Signature", string(sig))
		stale := n.Header.Clone()
		stale.Set("Wechatpay-Timestamp", "1700000000")
		unknownSerial := n.Header.Clone()
		unknownSerial.Set("Wechatpay-Serial", "DEADBEEF")
		for name, c := range map[string]struct {
			h    http.Header
			body []byte
		}{"body": {n.Header, tamperedBody}, "signature": {badSig, n.Body}, "timestamp": {stale, n.Body}, "serial": {unknownSerial, n.Body}} {
			_, err := b.svc.HandleWeChatNotify(b.ctx, c.h, c.body)
			require.ErrorIs(t, err, payments.ErrBadSignature, name)
		}
		require.Equal(t, payments.StatePending, b.order(t, o).State)
		require.Empty(t, b.lots(t, acc), "nothing credited")

		out, err := b.svc.HandleWeChatNotify(b.ctx, n.Header, n.Body)
		require.NoError(t, err)
		require.Equal(t, payments.ResultCredited, out.Result)
		requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
	})

	t.Run("Alipay", func(t *testing.T) {
		acc := b.account(t)
		o, err := b.svc.CreateQROrder(b.ctx, acc, 10000, payments.ChannelAlipay)
		require.NoError(t, err)
		b.notify.drop.Store(true)
		b.confirm(t, o)
		b.notify.drop.Store(false)
		n := b.notify.last(t, payments.NotifyPathAlipay)
		form, err := url.ParseQuery(string(n.Body))
		require.NoError(t, err)

		cheaper := cloneForm(form)
		cheaper.Set("total_amount", "1.00")
		other := cloneForm(form)
		other.Set("out_trade_no", "T202601010000000001")
		badSig := cloneForm(form)
		badSig.Set("sign", strings.Replace(form.Get("sign"), form.Get("sign")[:4], "AAAA", 1))
		noSig := cloneForm(form)
		noSig.Del("sign")
		for name, f := range map[string]url.Values{"amount": cheaper, "order": other, "signature": badSig, "unsigned": noSig} {
			_, err := b.svc.HandleAlipayNotify(b.ctx, f)
			require.ErrorIs(t, err, payments.ErrBadSignature, name)
		}
		require.Equal(t, payments.StatePending, b.order(t, o).State)
		require.Empty(t, b.lots(t, acc))

		// Over HTTP the endpoint answers 401.
		resp, err := http.Post(b.notifyURL+payments.NotifyPathAlipay, "application/x-www-form-urlencoded", strings.NewReader(cheaper.Encode()))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

		out, err := b.svc.HandleAlipayNotify(b.ctx, form)
		require.NoError(t, err)
		require.Equal(t, payments.ResultCredited, out.Result)
		requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
	})
	b.verifyClean(t)
}

func cloneForm(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// TestMismatchGoesToReview: a genuine payment whose amount, or whose
// merchant, differs from the order is kept for finance and credits nothing.
func TestMismatchGoesToReview(t *testing.T) {
	t.Parallel()
	t.Run("WrongAmount", func(t *testing.T) {
		t.Parallel()
		b, acc, o := shortPaid(t, 10000)
		got := b.order(t, o)
		require.Contains(t, got.ReviewReason, "amount")
		require.EqualValues(t, 9999, *got.PaidFen)
		require.Empty(t, b.lots(t, acc))
		require.Equal(t, "pending>needs_review:channel_mismatch", b.causes(t, o)[2])

		_, err := b.sim.Replay(b.ctx, "wechat", o.OrderNo, true)
		require.NoError(t, err)
		require.Equal(t, payments.StateNeedsReview, b.order(t, o).State)
		require.Empty(t, b.lots(t, acc))

		// Finance cannot accept a different amount; rejecting refunds it at the channel.
		_, err = b.svc.ResolveReview(b.ctx, o.OrderNo, true, "staff:3", "")
		require.ErrorIs(t, err, payments.ErrInvalidArgument)
		got, err = b.svc.ResolveReview(b.ctx, o.OrderNo, false, "staff:3", "amount differs")
		require.NoError(t, err)
		require.Equal(t, payments.StateClosed, got.State)
		tx, err := b.wx.QueryByOutTradeNo(b.ctx, o.OrderNo)
		require.NoError(t, err)
		require.Equal(t, "REFUND", tx.TradeState)
		_, err = b.sim.Replay(b.ctx, "wechat", o.OrderNo, true)
		require.NoError(t, err)
		require.Equal(t, payments.StateClosed, b.order(t, o).State, "a late replay does not reopen the review")
		require.Empty(t, b.lots(t, acc))
		b.verifyClean(t)
	})
	t.Run("WrongSeller", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{alipaySeller: "2088000000000999"})
		acc := b.account(t)
		o, err := b.svc.CreateQROrder(b.ctx, acc, 3000, payments.ChannelAlipay)
		require.NoError(t, err)
		require.True(t, b.confirm(t, o).Acked)
		got := b.order(t, o)
		require.Equal(t, payments.StateNeedsReview, got.State)
		require.Contains(t, got.ReviewReason, "merchant_id")
		require.Empty(t, b.lots(t, acc))
	})
}

// TestPaidAfterClosed: an Alipay order nobody scanned is closed by the sync
// job once expired (the channel answers ACQ.TRADE_NOT_EXIST); a payment that
// still arrives goes to review and credits nothing.
func TestPaidAfterClosed(t *testing.T) {
	// Not parallel: SyncPending sees every open order of the database.
	b := setup(t, setupOpts{})
	acc := b.account(t)
	o, err := b.svc.CreateQROrder(b.ctx, acc, 10000, payments.ChannelAlipay)
	require.NoError(t, err)

	b.clock.Add(2 * time.Minute)
	rep, err := b.svc.SyncPending(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, payments.SyncReport{Checked: 1}, rep, "not scanned yet is not an error")
	require.Equal(t, payments.StatePending, b.order(t, o).State)

	b.clock.Add(15 * time.Minute)
	rep, err = b.svc.SyncPending(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, payments.SyncReport{Checked: 1, Closed: 1}, rep)
	require.Equal(t, payments.StateClosed, b.order(t, o).State)

	require.True(t, b.confirm(t, o).Acked)
	got := b.order(t, o)
	require.Equal(t, payments.StateNeedsReview, got.State)
	require.Equal(t, payments.CausePaidAfterClosed, got.ReviewReason)
	require.NotEmpty(t, got.ChannelTradeNo, "finance sees the trade to refund or accept")
	require.Empty(t, b.lots(t, acc))
	require.Equal(t, []string{"->created:create", "created>pending:qr_created", "pending>closed:expired", "closed>needs_review:paid_after_closed"}, b.causes(t, o))

	// Finance accepts it: credited once, however often it is resolved.
	for range 2 {
		got, err := b.svc.ResolveReview(b.ctx, o.OrderNo, true, "staff:3", "customer paid late")
		require.NoError(t, err)
		require.Equal(t, payments.StatePaid, got.State)
	}
	requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
	requireDec(t, "20000", b.byKind(t, acc, ledger.LotPromo))
	b.verifyClean(t)
}

// TestConcurrentNotifies: 50 identical notifies at once credit once; every
// one is acknowledged.
func TestConcurrentNotifies(t *testing.T) {
	t.Parallel()
	for _, ch := range []payments.Channel{payments.ChannelWeChat, payments.ChannelAlipay} {
		t.Run(string(ch), func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{})
			acc := b.account(t)
			o, err := b.svc.CreateQROrder(b.ctx, acc, 10000, ch)
			require.NoError(t, err)
			path := payments.NotifyPathWeChat
			if ch == payments.ChannelAlipay {
				path = payments.NotifyPathAlipay
			}
			b.notify.drop.Store(true)
			b.confirm(t, o)
			n := b.notify.last(t, path)
			b.notify.mu.Lock()
			b.notify.received = nil
			b.notify.mu.Unlock()
			b.notify.drop.Store(false)

			var wg sync.WaitGroup
			statuses := make([]int, 50)
			for i := range statuses {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodPost, b.notifyURL+path, bytes.NewReader(n.Body))
					req.Header = n.Header.Clone()
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return
					}
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				})
			}
			wg.Wait()
			for _, s := range statuses {
				require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, s)
			}
			b.notify.mu.Lock()
			results := map[payments.Result]int{}
			for _, out := range b.notify.outcomes {
				results[out.Result]++
			}
			b.notify.mu.Unlock()
			require.Equal(t, map[payments.Result]int{payments.ResultCredited: 1, payments.ResultDuplicate: 49}, results)
			require.Len(t, b.lots(t, acc), 2)
			requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
			requireDec(t, "20000", b.byKind(t, acc, ledger.LotPromo))
			b.verifyClean(t)
		})
	}
}

// TestNotifyRacingSync: the channel's notify and the sync job's query find
// the same payment at the same moment; it is credited once.
func TestNotifyRacingSync(t *testing.T) {
	// Not parallel: SyncPending sees every open order of the database.
	b := setup(t, setupOpts{})
	acc := b.account(t)
	var orders []payments.Order
	for range 3 {
		o, err := b.svc.CreateQROrder(b.ctx, acc, 10000, payments.ChannelWeChat)
		require.NoError(t, err)
		orders = append(orders, o)
	}
	b.notify.drop.Store(true)
	var notes []notified
	for _, o := range orders {
		b.confirm(t, o)
		notes = append(notes, b.notify.last(t, payments.NotifyPathWeChat))
	}
	b.notify.drop.Store(false)
	b.clock.Add(2 * time.Minute) // old enough for the sync job

	var wg sync.WaitGroup
	var mu sync.Mutex
	credited := 0
	for range 4 {
		wg.Go(func() {
			rep, err := b.svc.SyncPending(b.ctx, 10)
			if err == nil {
				mu.Lock()
				credited += rep.Credited
				mu.Unlock()
			}
		})
	}
	for _, n := range notes {
		for range 5 {
			wg.Go(func() {
				out, err := b.svc.HandleWeChatNotify(b.ctx, n.Header, n.Body)
				if err == nil && out.Result == payments.ResultCredited {
					mu.Lock()
					credited++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Equal(t, 3, credited, "each order credited exactly once")
	require.Len(t, b.lots(t, acc), 6)
	requireDec(t, "300000", b.byKind(t, acc, ledger.LotPaid))
	for _, o := range orders {
		require.Equal(t, payments.StatePaid, b.order(t, o).State)
	}
	b.verifyClean(t)
}

// TestSyncPending: the job credits a payment whose notify never arrived,
// and closes an expired order at the channel and here.
func TestSyncPending(t *testing.T) {
	// Not parallel: SyncPending sees every open order of the database.
	b := setup(t, setupOpts{})
	acc := b.account(t)
	lost, err := b.svc.CreateQROrder(b.ctx, acc, 3000, payments.ChannelWeChat)
	require.NoError(t, err)
	unpaid, err := b.svc.CreateQROrder(b.ctx, acc, 3000, payments.ChannelWeChat)
	require.NoError(t, err)
	b.notify.drop.Store(true)
	b.confirm(t, lost)

	rep, err := b.svc.SyncPending(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, payments.SyncReport{}, rep, "fresh orders are left to their notify")

	b.clock.Add(2 * time.Minute)
	rep, err = b.svc.SyncPending(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, payments.SyncReport{Checked: 2, Credited: 1}, rep)
	require.Equal(t, payments.StatePaid, b.order(t, lost).State)
	require.Equal(t, "pending>paid:sync", b.causes(t, lost)[2])
	requireDec(t, "30000", b.byKind(t, acc, ledger.LotPaid))

	b.clock.Add(15 * time.Minute)
	rep, err = b.svc.SyncPending(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, payments.SyncReport{Checked: 1, Closed: 1}, rep)
	require.Equal(t, payments.StateClosed, b.order(t, unpaid).State)
	tx, err := b.wx.QueryByOutTradeNo(b.ctx, unpaid.OrderNo)
	require.NoError(t, err)
	require.Equal(t, "CLOSED", tx.TradeState, "closed at the channel too, so it cannot be paid")
	_, err = b.sim.Confirm(b.ctx, "wechat", unpaid.OrderNo)
	require.Error(t, err)

	// The late notify of the order the job already credited changes nothing.
	b.notify.drop.Store(false)
	_, err = b.sim.Replay(b.ctx, "wechat", lost.OrderNo, true)
	require.NoError(t, err)
	requireDec(t, "30000", b.byKind(t, acc, ledger.LotPaid))
	b.verifyClean(t)
}

// TestCreateQROrderFailure: when the channel refuses the order, it is
// recorded as failed with the cause.
func TestCreateQROrderFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{wrapWeChat: func(c payments.QRChannel) payments.QRChannel { return amountShift{c, -20000} }})
	acc := b.account(t)
	o, err := b.svc.CreateQROrder(b.ctx, acc, 10000, payments.ChannelWeChat)
	require.ErrorIs(t, err, payments.ErrChannel)
	require.Equal(t, payments.StateFailed, o.State)
	require.Equal(t, payments.StateFailed, b.order(t, o).State)
	require.Equal(t, "created>failed:channel_error", b.causes(t, o)[1])

	_, err = b.svc.CreateQROrder(b.ctx, acc, 5, payments.ChannelWeChat)
	var ae *payments.AmountError
	require.ErrorAs(t, err, &ae)
	require.ErrorIs(t, err, payments.ErrAmountOutOfRange)
	require.EqualValues(t, payments.DefaultMinFen, ae.MinFen)

	_, err = b.svc.CreateQROrder(b.ctx, acc, 10000, payments.ChannelBankTransfer)
	require.ErrorIs(t, err, payments.ErrChannelUnavailable)
	orders, err := b.svc.Orders(b.ctx, acc, 10)
	require.NoError(t, err)
	require.Len(t, orders, 1)
}
