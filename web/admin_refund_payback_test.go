package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// TestFinancePaysBackABankRefund: the approved refund of a bank transfer
// top-up waits in /admin/refunds until finance transfers the money and marks
// it paid back with the bank's reference (required, asked again in the
// user's language when missing); the mark is audited under the finance
// user, the customer's orders page then shows the request refunded with
// that reference, and a WeChat Pay refund never waits there.
func TestFinancePaysBackABankRefund(t *testing.T) {
	t.Parallel()
	b := setupRefunds(t)
	ctx := context.Background()
	c, acc := b.customer(t, "payback-bank@example.com", true)
	o := b.payTransfer(t, acc, 30000)
	p := c.PostForm("/portal/orders/"+o.OrderNo+"/refund", refundForm("120", "项目取消"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	qr := b.payQR(t, c, acc, "10000", payments.ChannelWeChat)
	p = c.PostForm("/portal/orders/"+qr.OrderNo+"/refund", refundForm("100", "不再需要"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Len(t, reqs, 2)
	bank, wechat := reqs[0], reqs[1]
	require.Equal(t, o.OrderNo, bank.OrderNo)

	fin := b.finance(t)
	page := fin.Get("/admin/refunds")
	require.Empty(t, page.Doc.Find(`[data-testid="payback-`+itoa(bank.ID)+`"]`).Nodes, "nothing to pay back before the approval")
	for _, r := range []backoffice.RefundRequest{bank, wechat} {
		q := fin.PostForm("/admin/refunds/"+itoa(r.ID)+"/approve", nil)
		require.Equal(t, http.StatusOK, q.Status, q.Body)
	}
	page = fin.Get("/admin/refunds")
	row := page.Doc.Find(`[data-testid="payback-` + itoa(bank.ID) + `"]`)
	require.Equal(t, 1, row.Length(), "the approved bank refund waits to be paid back")
	require.Contains(t, row.Text(), "¥120.00")
	require.Contains(t, row.Text(), o.OrderNo)
	require.Contains(t, row.Find(`[data-testid="payback-form"]`).AttrOr("data-confirm", ""), "¥120.00", "marking it paid back asks first, naming the amount")
	require.Empty(t, page.Doc.Find(`[data-testid="payback-`+itoa(wechat.ID)+`"]`).Nodes, "a channel refund is done at its approval")
	refunds, err := b.pay.Refunds(ctx, o.ID)
	require.NoError(t, err)
	require.Len(t, refunds, 1)
	require.Contains(t, row.Text(), refunds[0].RefundNo, "finance sees which bank refund record it pays")

	orders := c.Get("/portal/orders")
	cust := orders.Doc.Find(`[data-testid="refund-row"][data-order="` + o.OrderNo + `"]`)
	require.Equal(t, "approved", cust.AttrOr("data-state", ""))

	// No reference: the form comes back with the message, in Chinese, then
	// in English; the request stays approved.
	path := "/admin/refunds/" + itoa(bank.ID) + "/paid"
	q := fin.PostForm(path, url.Values{"bank_ref": {"  "}})
	require.Equal(t, http.StatusUnprocessableEntity, q.Status)
	require.Equal(t, "请填写退款转账的银行流水号。", q.TestID("error-bank-ref"))
	require.Equal(t, 1, q.Doc.Find(`[data-testid="payback-`+itoa(bank.ID)+`"] [data-testid="error-bank-ref"]`).Length(), "the message stands by its form")
	fin.Get("/lang/en?next=/admin/refunds")
	q = fin.PostForm(path, url.Values{"bank_ref": {""}})
	require.Equal(t, http.StatusUnprocessableEntity, q.Status)
	require.Equal(t, "Enter the bank's reference of the refund transfer.", q.TestID("error-bank-ref"))
	reqs, err = b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc, State: backoffice.RefundApproved})
	require.NoError(t, err)
	require.Len(t, reqs, 1)

	// Paid back: flash, out of the list, audited under the finance user.
	q = fin.PostForm(path, url.Values{"bank_ref": {" ICBC-20250601-7781 "}})
	require.Equal(t, http.StatusOK, q.Status, q.Body)
	require.Equal(t, "/admin/refunds", q.URL.Path)
	require.Contains(t, q.TestID("flash-success"), "The refund is marked paid back.")
	require.Empty(t, q.Doc.Find(`[data-testid="payback-`+itoa(bank.ID)+`"]`).Nodes)
	audit, _, err := b.bo.AuditLog(ctx, backoffice.AuditFilter{AccountID: acc, Action: backoffice.ActionRefundDone}, 0, 10)
	require.NoError(t, err)
	var found bool
	for _, a := range audit {
		if strings.Contains(string(a.Detail), "ICBC-20250601-7781") {
			found = true
			require.Equal(t, backoffice.ActorStaff, a.ActorKind)
			require.NotNil(t, a.ActorID)
		}
	}
	require.True(t, found, "the pay-back is audited with its reference: %v", audit)

	// The customer sees it refunded, with the bank's reference.
	orders = c.Get("/portal/orders")
	cust = orders.Doc.Find(`[data-testid="refund-row"][data-order="` + o.OrderNo + `"]`)
	require.Equal(t, "done", cust.AttrOr("data-state", ""))
	require.Contains(t, cust.Text(), "已退款")
	require.Equal(t, "ICBC-20250601-7781", strings.TrimSpace(cust.Find(`[data-testid="refund-row-ref"]`).Text()))
	require.Empty(t, cust.Find(`[data-testid="refund-row-bank"]`).Nodes, "no longer under way")

	// Marking it again changes nothing; the credit went back once.
	q = fin.PostForm(path, url.Values{"bank_ref": {"OTHER-REF"}})
	require.Equal(t, http.StatusOK, q.Status, q.Body)
	reqs, err = b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc, State: backoffice.RefundDone})
	require.NoError(t, err)
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		if r.ID == bank.ID {
			require.Equal(t, "ICBC-20250601-7781", r.RefundRef)
		}
	}
	requireCredits(t, "180000", b.balance(t, acc).ByKind[ledger.LotPaid], "¥300 + ¥100 paid, ¥120 + ¥100 refunded")
	b.verifyLedger(t)
}
