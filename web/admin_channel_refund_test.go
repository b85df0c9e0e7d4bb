package web_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/payments"
)

// refusingRefunds is a WeChat Pay whose refunds fail while refuse is set.
type refusingRefunds struct {
	payments.QRChannel
	refuse *atomic.Bool
}

func (r refusingRefunds) Refund(ctx context.Context, in payments.ChannelRefund) error {
	if r.refuse.Load() {
		return errors.New("NOT_ENOUGH: 基本账户余额不足")
	}
	return r.QRChannel.Refund(ctx, in)
}

// A refund the channel refuses stays approved (its credits already taken
// back) and shows to finance with the channel's answer; once the attempts
// run out finance retries it, and it completes the request.
func TestFinanceSeesAndRetriesARefundTheChannelRefused(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	refuse.Store(true)
	b := setupRefunds(t, func(c payments.QRChannel) payments.QRChannel { return refusingRefunds{c, &refuse} })
	ctx := context.Background()
	c, acc := b.customer(t, "channel-refused@example.com", true)
	o := b.payQR(t, c, acc, "10000", payments.ChannelWeChat)
	req, err := b.bo.RequestRefund(ctx, acc, o.OrderNo, decimal.NewFromInt(10), "不再需要", "127.0.0.1")
	require.NoError(t, err)

	fin := b.finance(t)
	q := fin.Get("/admin/refunds")
	approve := q.Doc.Find(`[data-testid="refund-` + itoa(req.ID) + `"] form`).First()
	q = fin.PostForm(approve.AttrOr("action", ""), nil)
	require.Equal(t, http.StatusOK, q.Status, q.Body)
	require.Contains(t, q.TestID("flash-success"), "尚未确认")
	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Equal(t, backoffice.RefundApproved, reqs[0].State, "not done while the channel refuses")
	ref := reqs[0].RefundRef
	card := q.Doc.Find(`[data-testid="channel-refund-` + ref + `"]`)
	require.Equal(t, "false", card.AttrOr("data-failed", ""), "still being tried")
	require.Contains(t, card.Find(`[data-testid="channel-refund-error"]`).Text(), "NOT_ENOUGH")

	// The sync job's next runs (this refund only: the package's tests
	// share a database).
	for range payments.MaxRefundAttempts {
		_, _ = b.pay.SendRefund(ctx, ref)
	}
	refuse.Store(false)
	for _, lang := range []string{"zh-CN", "en"} {
		fin.Header.Set("Accept-Language", lang)
		q = fin.Get("/admin/refunds")
		card = q.Doc.Find(`[data-testid="channel-refund-` + ref + `"]`)
		require.Equal(t, "true", card.AttrOr("data-failed", ""), "attempts ran out (%s)", lang)
		require.NotEmpty(t, strings.TrimSpace(card.Find(`[data-testid="channel-refund-state"]`).Text()))
	}
	fin.Header.Del("Accept-Language")
	retry := card.Find(`form`)
	require.Contains(t, retry.AttrOr("data-confirm", ""), "¥10.00")
	q = fin.PostForm(retry.AttrOr("action", ""), nil)
	require.Equal(t, http.StatusOK, q.Status, q.Body)
	require.Contains(t, q.TestID("flash-success"), "支付渠道已接受退款。")
	require.Empty(t, q.Doc.Find(`[data-testid="channel-refund-`+ref+`"]`).Nodes, "it left the list")
	reqs, err = b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Equal(t, backoffice.RefundDone, reqs[0].State)
	at, err := b.wx.QueryRefund(ctx, ref)
	require.NoError(t, err)
	require.EqualValues(t, 1000, at.Amount.Refund)
}
