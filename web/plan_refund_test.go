package web_test

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
)

// TestYearlyPlanRefund: a customer with a paid yearly Basic (¥290) sees the
// yearly refund rule and its figures on /portal/plans before asking; a
// request without a reason is refused on its field in the user's language;
// the request goes to finance's refund queue, whose approval refunds
// through WeChat Pay the existing way, revokes the plan credit left and
// ends the subscription with a refunded event — once, however often it is
// approved or asked again.
func TestYearlyPlanRefund(t *testing.T) {
	t.Parallel()
	b := setupRefunds(t)
	demoPlans(t, b.app)
	ctx := context.Background()
	c, acc := b.customer(t, uniqEmail("plan-refund"), true)

	p := c.PostForm("/portal/plans/buy", url.Values{"plan": {"basic"}, "cycle": {"yearly"}, "channel": {"wechat"}, "mode": {"qr"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	no := path.Base(p.URL.Path)
	_, err := b.sim.Confirm(ctx, string(payments.ChannelWeChat), no)
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, b.order(t, no).State)
	b.spend(t, acc, "1000")

	p = c.Get("/portal/plans")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("plan-refund-rule"), "尚未开始的整月按月均价退还")
	require.Contains(t, p.TestID("plan-refund-rule"), "¥0.001")
	require.Equal(t, "¥290.00", p.TestID("plan-refund-paid"))
	require.Equal(t, "11 个月，折合 ¥265.83", p.TestID("plan-refund-unused"), "290 × 11 ÷ 12; the month in progress is used")
	require.Contains(t, p.TestID("plan-refund-credits"), "已用 1,000 点")
	require.Equal(t, "¥264.83", p.TestID("plan-refund-amount"), "1,000 credits used, the share of a few seconds is nearly nothing: ¥1.00 less")

	t.Run("ReasonRequiredInTheUsersLanguage", func(t *testing.T) {
		for _, tc := range []struct{ lang, want string }{{"zh-CN", "请填写原因。"}, {"en", "A reason is required."}} {
			c.Header.Set("Accept-Language", tc.lang)
			r := c.PostForm("/portal/plans/refund", url.Values{"reason": {" "}})
			require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Body)
			require.Equal(t, tc.want, r.TestID("plan-refund-error-reason"))
		}
		c.Header.Del("Accept-Language")
	})

	r := c.PostForm("/portal/plans/refund", url.Values{"reason": {"换用其他方案"}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.Contains(t, r.URL.Path, "/portal/orders")
	p = c.Get("/portal/plans")
	require.Equal(t, "该套餐的退款申请正在等待财务审核。", p.TestID("plan-refund-open"))
	require.Zero(t, p.Doc.Find(`[data-testid="plan-refund-form"]`).Length(), "asked once")
	again := c.PostForm("/portal/plans/refund", url.Values{"reason": {"again"}})
	require.Equal(t, http.StatusConflict, again.Status, "one open request per order")

	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	req := reqs[0]
	require.Equal(t, no, req.OrderNo)
	require.Equal(t, "264.83", req.Amount.StringFixed(2))

	// Finance approves it, eight times at once: one refund.
	fin := b.finance(t)
	q := fin.Get("/admin/refunds")
	approve := q.Doc.Find(`[data-testid="refund-`+itoa(req.ID)+`"] form`).First().AttrOr("action", "")
	require.NotEmpty(t, approve)
	first := fin.PostForm(approve, nil)
	require.Equal(t, http.StatusOK, first.Status, first.Doc.Find("main").Text())
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = fin.PostForm(approve, nil).Status
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	require.Zero(t, ok, "decided once: %v", statuses)

	o := b.order(t, no)
	require.Equal(t, payments.StatePartiallyRefunded, o.State, "the used month is kept")
	require.EqualValues(t, 26_483, o.RefundedFen)
	refunds, err := b.pay.Refunds(ctx, o.ID)
	require.NoError(t, err)
	require.Len(t, refunds, 1, "refunded once")
	reqs, err = b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Equal(t, backoffice.RefundDone, reqs[0].State, "WeChat Pay accepted it: the request is done")

	_, err = b.app.Services.Subscriptions.Current(ctx, acc)
	require.ErrorIs(t, err, plans.ErrNotFound, "the plan ended")
	for _, l := range planLots(t, b.ledger, acc) {
		require.True(t, l.Remaining.IsZero(), "plan credit taken back")
	}
	p = c.Get("/portal/plans")
	require.NotEmpty(t, p.TestID("current-plan-none"))
	require.Zero(t, p.Doc.Find(`[data-testid="plan-refund"]`).Length())

	// A refund of the same order asked again through payments is refused.
	_, err = b.pay.Refund(ctx, payments.RefundRequest{AccountID: acc, OrderNo: no, AmountFen: 100, Actor: "test", IdempotencyKey: "again"})
	require.ErrorIs(t, err, payments.ErrNotRefundable)
	b.verifyLedger(t)
}
