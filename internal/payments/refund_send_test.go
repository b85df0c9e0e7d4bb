package payments_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// gatedRefunds holds every channel refund until open is closed, counting
// calls, and fails while failing is set.
type gatedRefunds struct {
	payments.QRChannel
	open    chan struct{}
	calls   *atomic.Int64
	failing *atomic.Bool
}

func (g gatedRefunds) Refund(ctx context.Context, r payments.ChannelRefund) error {
	g.calls.Add(1)
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	if g.failing.Load() {
		return errors.New("channel refused: SYSTEM_ERROR")
	}
	return g.QRChannel.Refund(ctx, r)
}

// A refund is committed in the ledger first and sent to the channel after:
// a channel that hangs holds no ledger lock, a crash between the two is
// finished by the sync job exactly once, and failed calls stop after
// MaxRefundAttempts until finance retries.
func TestRefundAtTheChannel(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	var failing atomic.Bool
	open := make(chan struct{})
	release := sync.OnceFunc(func() { close(open) })
	t.Cleanup(release)
	var refunded sync.Map
	b := setup(t, setupOpts{
		ownDB: true, // its sweeps see only its own refunds
		opts: payments.Options{OnRefunded: func(_ context.Context, no string) error {
			n, _ := refunded.LoadOrStore(no, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			return nil
		}},
		wrapWeChat: func(c payments.QRChannel) payments.QRChannel {
			return gatedRefunds{QRChannel: c, open: open, calls: &calls, failing: &failing}
		},
	})
	acc := b.account(t)
	o := b.paid(t, acc, 10000, payments.ChannelWeChat)

	t.Run("AHangingChannelDelaysNoLedgerWrite", func(t *testing.T) {
		defer release() // a failure below must not leave the channel shut for the rest
		sent := make(chan payments.RefundState, 1)
		go func() {
			r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 1000, IdempotencyKey: "hang"})
			if err != nil {
				t.Error(err)
			}
			sent <- r.State
		}()
		require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, 10*time.Millisecond, "the channel is called")
		// While the channel hangs, the pool's ledger takes other writes at once.
		start := time.Now()
		_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d("10"), IdempotencyKey: "during-hang", Model: "test"})
		require.NoError(t, err)
		require.Less(t, time.Since(start), 2*time.Second, "the charge did not wait for the channel")
		requireDec(t, "90000", b.byKind(t, acc, ledger.LotPaid), "the refund's credits are already gone from the ledger")
		release()
		require.Equal(t, payments.RefundDone, <-sent)
	})

	t.Run("ACrashAfterTheLedgerRefundIsFinishedOnce", func(t *testing.T) {
		// The approval's transaction commits the refund pending (as
		// StartRefundTx does) and the process dies before sending it.
		before := calls.Load()
		refund := b.commitPending(t, acc, o.OrderNo, 2000, "crash")
		var wg sync.WaitGroup
		for range 8 { // several servers' sync jobs at once
			wg.Go(func() {
				_, err := b.svc.SendPendingRefunds(b.ctx, 100)
				require.NoError(t, err)
			})
		}
		wg.Wait()
		st, err := b.svc.RefundStatus(b.ctx, refund)
		require.NoError(t, err)
		require.Equal(t, payments.RefundDone, st)
		n, _ := refunded.Load(refund)
		require.EqualValues(t, 1, n.(*atomic.Int64).Load(), "completed once")
		rf, err := b.wx.QueryRefund(b.ctx, refund)
		require.NoError(t, err)
		require.EqualValues(t, 2000, rf.Amount.Refund, "the channel refunded it once, whatever the senders")
		require.Positive(t, calls.Load()-before)
		sentAgain, err := b.svc.SendPendingRefunds(b.ctx, 100)
		require.NoError(t, err)
		require.Zero(t, sentAgain, "nothing left pending")
	})

	t.Run("FailedCallsStopThenFinanceRetries", func(t *testing.T) {
		failing.Store(true)
		refund := b.commitPending(t, acc, o.OrderNo, 500, "failing")
		for range payments.MaxRefundAttempts + 2 {
			_, _ = b.svc.SendPendingRefunds(b.ctx, 100)
		}
		st, err := b.svc.RefundStatus(b.ctx, refund)
		require.NoError(t, err)
		require.Equal(t, payments.RefundFailed, st, "attempts ran out")
		failing.Store(false)
		st, err = b.svc.RetryRefund(b.ctx, refund, "staff:9")
		require.NoError(t, err)
		require.Equal(t, payments.RefundDone, st)
		_, err = b.svc.RetryRefund(b.ctx, refund, "staff:9")
		require.ErrorIs(t, err, payments.ErrInvalidTransition, "a done refund is not retried")
	})
	b.verifyClean(t)
}

// commitPending commits a refund the way the back office's approval does
// (StartRefundTx on its transaction) without sending it, and returns its
// refund number.
func (b *testBundle) commitPending(t *testing.T, acc int64, orderNo string, fen int64, key string) string {
	t.Helper()
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	no, err := b.svc.BackOffice().StartRefundTx(b.ctx, tx, backofficeRefund(acc, orderNo, fen, key))
	require.NoError(t, err)
	require.NoError(t, tx.Commit(b.ctx))
	st, err := b.svc.RefundStatus(b.ctx, no)
	require.NoError(t, err)
	require.Equal(t, payments.RefundPending, st)
	return no
}

var refundRequestIDs atomic.Int64

// backofficeRefund is an approved refund request of fen for the order.
func backofficeRefund(acc int64, orderNo string, fen int64, reason string) backoffice.RefundRequest {
	return backoffice.RefundRequest{ID: 1_000_000 + refundRequestIDs.Add(1), AccountID: acc, OrderNo: orderNo,
		Amount: decimal.New(fen, -2), Reason: reason, State: backoffice.RefundApproved}
}
