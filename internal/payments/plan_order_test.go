package payments_test

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// TestPlanOrderStartsOneSubscription: 64 concurrent reports of one plan
// order's payment start one subscription with one first-month plan lot
// and credit no top-up; the account then cannot buy another plan; a free
// plan cannot be ordered.
func TestPlanOrderStartsOneSubscription(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{plans: true})
	subs := b.subs
	err := demoCatalogue(b)
	require.NoError(t, err)
	acc := b.account(t)

	_, _, err = b.svc.CreatePlanOrder(b.ctx, acc, "free", "monthly", payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.ErrorIs(t, err, payments.ErrInvalidArgument, "Free costs nothing")

	o, _, err := b.svc.CreatePlanOrder(b.ctx, acc, "basic", "monthly", payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	require.Equal(t, payments.StatePending, o.State)
	require.Equal(t, int64(2900), o.AmountFen)
	require.True(t, o.Credits.IsZero())
	// The payer's app names what is bought, not a top-up.
	resp, err := http.Get(b.simURL + "/pay/wechat/" + o.OrderNo)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(page), "套餐 basic 月付 ¥29.00")

	p := payments.ChannelPayment{Channel: payments.ChannelWeChat, OutTradeNo: o.OrderNo, ChannelTradeNo: "4200000000001",
		State: payments.ChannelPaid, RawState: "SUCCESS", AmountFen: o.AmountFen, MerchantID: b.wx.MchID, AppID: b.wx.AppID}
	results := make([]payments.Result, 64)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			out, err := b.svc.ApplyChannelPayment(b.ctx, p, payments.CauseNotify)
			require.NoError(t, err)
			results[i] = out.Result
		})
	}
	close(start)
	wg.Wait()
	credited := 0
	for _, r := range results {
		if r == payments.ResultCredited {
			credited++
		} else {
			require.Equal(t, payments.ResultDuplicate, r)
		}
	}
	require.Equal(t, 1, credited, "one report marks the order paid")
	require.Equal(t, payments.StatePaid, b.order(t, o).State)

	cur, err := subs.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, "basic", cur.PlanCode)
	grants, err := subs.Grants(b.ctx, cur.ID)
	require.NoError(t, err)
	require.Len(t, grants, 1)
	var planLots int
	for _, l := range b.lots(t, acc) {
		require.NotEqual(t, ledger.LotPaid, l.Kind, "a plan order credits no top-up")
		if l.Kind == ledger.LotPlan {
			planLots++
		}
	}
	require.Equal(t, 1, planLots)
	require.Zero(t, b.order(t, o).RefundableFen(), "a plan order is not refunded as a top-up")

	_, _, err = b.svc.CreatePlanOrder(b.ctx, acc, "standard", "yearly", payments.ChannelBankTransfer, payments.PayModeQR, payments.PhonePayer{})
	require.ErrorIs(t, err, payments.ErrPlanInForce)
	require.Equal(t, "plan_in_force", payments.Code(err))
	b.verifyClean(t)
}

// TestPlanTransferOrderCompletedFromTheStatement: a yearly plan paid by
// bank transfer starts when finance matches the statement line, once even
// when the line is matched again.
func TestPlanTransferOrderCompletedFromTheStatement(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{plans: true})
	subs := b.subs
	err := demoCatalogue(b)
	require.NoError(t, err)
	acc := b.account(t)

	o, _, err := b.svc.CreatePlanOrder(b.ctx, acc, "standard", "yearly", payments.ChannelBankTransfer, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	require.Equal(t, int64(99000), o.AmountFen)
	require.NotEmpty(t, o.ReferenceCode)
	for range 2 {
		err = db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, err := b.svc.CompleteTransferOrder(b.ctx, tx, o.ID, "STMT-PLAN-1", "finance@example.com")
			return err
		})
		require.NoError(t, err)
	}
	require.Equal(t, payments.StatePaid, b.order(t, o).State)
	cur, err := subs.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, plans.Yearly, cur.Cycle)
	require.Equal(t, "standard", cur.PlanCode)
	grants, err := subs.Grants(b.ctx, cur.ID)
	require.NoError(t, err)
	require.Len(t, grants, 1, "the first month of the year")
	requireDec(t, "80000", grants[0].Credits)
}

// demoCatalogue publishes the demo plans once for the package's shared
// database: two tests publishing the same drafts at once would race.
func demoCatalogue(b *testBundle) error {
	demoOnce.Do(func() { _, demoErr = plans.New(b.pool, plans.Options{}).EnsureDemo(b.ctx, "test") })
	return demoErr
}

var (
	demoOnce sync.Once
	demoErr  error
)
