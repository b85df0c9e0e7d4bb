package payments_test

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// TestSyncWorker: the periodic job credits a WeChat payment whose notify
// never arrived and closes an expired Alipay order nobody paid.
func TestSyncWorker(t *testing.T) {
	// Not parallel: SyncPending sees every open order of the database.
	b := setup(t, setupOpts{})
	acc := b.account(t)
	paid, err := b.svc.CreateQROrder(b.ctx, acc, 10000, payments.ChannelWeChat)
	require.NoError(t, err)
	unpaid, err := b.svc.CreateQROrder(b.ctx, acc, 3000, payments.ChannelAlipay)
	require.NoError(t, err)
	b.notify.drop.Store(true)
	require.False(t, b.confirm(t, paid).Acked, "the notify is lost")
	require.Equal(t, payments.StatePending, b.order(t, paid).State)

	w := payments.NewSyncWorker(b.svc)
	b.clock.Add(2 * time.Minute)
	require.NoError(t, w.Work(b.ctx, &river.Job[payments.SyncArgs]{}))
	require.Equal(t, payments.StatePaid, b.order(t, paid).State)
	requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
	require.Equal(t, payments.StatePending, b.order(t, unpaid).State, "not expired yet")

	b.clock.Add(15 * time.Minute)
	require.NoError(t, w.Work(b.ctx, &river.Job[payments.SyncArgs]{}))
	require.Equal(t, payments.StateClosed, b.order(t, unpaid).State)
	b.verifyClean(t)

	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	require.Len(t, payments.PeriodicJobs(), 1)
}
