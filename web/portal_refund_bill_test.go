package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
)

// TestRefundOfABillPaymentIsRefused: a credit line bill's payment bought
// no credit, so the refund form refuses it with a message that says so, in
// the customer's language, and no request is filed.
func TestRefundOfABillPaymentIsRefused(t *testing.T) {
	t.Parallel()
	b := setupRefunds(t)
	ctx := context.Background()
	c, acc := b.customer(t, uniqEmail("refund-bill"), true)
	no := "BILL" + itoa(time.Now().UnixNano())
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var billID int64
	require.NoError(t, b.app.Pool.QueryRow(ctx, `INSERT INTO credit_bills (account_id, period_start, period_end, credits, amount_fen,
	issued_at, due_at, grace_until, status, reference_code, paid_at) VALUES ($1, $2, $3, 12345, 1235, $3, $3, $3, 'paid', $4, now())
	RETURNING id`, acc, start, start.AddDate(0, 1, 0), no).Scan(&billID))
	_, err := b.app.Pool.Exec(ctx, `INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state, expires_at,
	created_at, updated_at, purpose, bill_id) VALUES ($1, $2, 1235, 0, 'wechat', 'paid', now(), now(), now(), 'bill', $3)`, no, acc, billID)
	require.NoError(t, err)

	for lang, want := range map[string]string{
		"zh-CN": "该订单支付的是授信账单，未充值点数，没有可退的金额。",
		"en":    "This order paid a credit line bill and bought no credits, so there is nothing to refund.",
	} {
		c.Header.Set("Accept-Language", lang)
		p := c.PostForm("/portal/orders/"+no+"/refund", refundForm("12.35", "付了两次"))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, lang)
		require.Equal(t, want, p.TestID("refund-error-form"), lang)
	}
	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Empty(t, reqs)
}
