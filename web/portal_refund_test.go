package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// refundBundle is the payments bundle (paysim sandbox) with the back
// office carrying out refunds through payments and invoicing gating them,
// wired the way `credits serve` wires them.
type refundBundle struct {
	*payBundle
	inv *invoicing.Service
	bo  *backoffice.Service
}

func setupRefunds(t *testing.T, wrapWeChat ...func(payments.QRChannel) payments.QRChannel) *refundBundle {
	t.Helper()
	r := &refundBundle{}
	r.payBundle = setupPayWith(t, func(b *payBundle, a *app.App) {
		r.inv, r.bo = a.Invoicing, a.Backoffice
	}, func(chans *payments.Channels, o *payments.Options) {
		for _, w := range wrapWeChat {
			chans.WeChat = w(chans.WeChat)
		}
	})
	return r
}

// finance signs a finance user in, following redirects.
func (r *refundBundle) finance(t *testing.T) *webtest.Client {
	t.Helper()
	c := r.staffClient(t, uniqEmail("refund-finance"), auth.RoleFinance)
	c.FollowRedirects = true
	return c
}

// payQR tops up fen through the customer's top-up form and the sandbox.
func (r *refundBundle) payQR(t *testing.T, c *webtest.Client, acc int64, fen string, ch payments.Channel) payments.Order {
	t.Helper()
	p := c.PostForm("/portal/topup", topUpForm(fen, "", string(ch)))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	no := strings.TrimPrefix(p.URL.Path, "/portal/orders/")
	_, err := r.sim.Confirm(context.Background(), string(ch), no)
	require.NoError(t, err)
	o := r.order(t, no)
	require.Equal(t, payments.StatePaid, o.State)
	require.Equal(t, acc, o.AccountID)
	return o
}

// payTransfer makes a bank transfer order of fen and completes it as a
// matched statement line would.
func (r *refundBundle) payTransfer(t *testing.T, acc, fen int64) payments.Order {
	t.Helper()
	ctx := context.Background()
	o, err := r.pay.CreateTransferOrder(ctx, acc, fen)
	require.NoError(t, err)
	tx, err := r.app.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	o, err = r.pay.CompleteTransferOrder(ctx, tx, o.ID, "STMT-"+o.OrderNo, "test")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	return o
}

func (r *refundBundle) spend(t *testing.T, acc int64, credits string) {
	t.Helper()
	res, err := r.ledger.Charge(context.Background(), ledger.ChargeRequest{AccountID: acc, Amount: decimal.RequireFromString(credits),
		IdempotencyKey: "spend-" + t.Name() + credits, Model: "test-model"})
	require.NoError(t, err)
	require.True(t, res.Unpaid.IsZero())
}

// offer is the refund offer of an order on the orders page.
func offerSel(orderNo string) string {
	return `[data-testid="refund-offer"][data-order="` + orderNo + `"]`
}

func refundForm(amount, reason string) url.Values {
	return url.Values{"amount": {amount}, "reason": {reason}}
}

// TestRefundRequestThroughFinanceToTheChannel walks the whole refund of a
// WeChat Pay top-up with a bonus: the customer sees what is refundable (the
// unspent part of its paid lot, less the bonus already used that goes with
// it) and the bonus rule, wrong forms come back with messages in their
// language, the request waits for finance, finance approves it in
// /admin/refunds, the sandbox records the channel refund, the ledger shows
// the refund event and the paid bucket shrinks by exactly the credit that
// refund took.
func TestRefundRequestThroughFinanceToTheChannel(t *testing.T) {
	t.Parallel()
	b := setupRefunds(t)
	ctx := context.Background()
	c, acc := b.customer(t, "refund-wechat@example.com", true)
	o := b.payQR(t, c, acc, "10000", payments.ChannelWeChat)
	// 80,000 spent: the 20,000 bonus first, then 60,000 of the paid 100,000.
	b.spend(t, acc, "80000")
	requireCredits(t, "40000", b.balance(t, acc).ByKind[ledger.LotPaid], "paid before the refund")

	p := c.Get("/portal/orders")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "page", p.Doc.Find(`[data-testid="nav-portal.orders"]`).AttrOr("aria-current", ""), "the menu marks the orders page")
	offer := p.Doc.Find(offerSel(o.OrderNo))
	require.Equal(t, 1, offer.Length())
	// ¥40.00 of paid credit is unspent; refunding it takes back 40 % of
	// the bonus, 8,000 credits, all used: ¥8.00 at ¥0.001.
	require.Equal(t, "¥32.00", strings.TrimSpace(offer.Find(`[data-testid="refund-max"]`).Text()), "the unspent ¥40 less the used bonus that goes with it")
	require.Equal(t, "20,000", strings.TrimSpace(offer.Find(`[data-testid="refund-bonus"]`).Text()))
	require.Equal(t, "-¥8.00", strings.TrimSpace(offer.Find(`[data-testid="refund-bonus-deduction"]`).Text()))
	rule := strings.TrimSpace(offer.Find(`[data-testid="refund-bonus-rule"]`).Text())
	require.Contains(t, rule, "退款时按相同比例收回随该笔充值赠送的点数")
	require.Contains(t, rule, "按上方金额退款将为已使用的赠送点数 8,000 点扣除 ¥8.00。")
	action := offer.Find(`form[data-testid="refund-form"]`).AttrOr("action", "")
	require.Equal(t, "/portal/orders/"+o.OrderNo+"/refund", action)

	t.Run("FormErrors", func(t *testing.T) {
		for _, tc := range []struct {
			name, amount, reason, field, text string
		}{
			{"NoAmount", "", "不再需要", "amount", "请填写退款金额。"},
			{"NotAnAmount", "3o", "不再需要", "amount", "请以元为单位填写金额，例如 30 或 12.50。"},
			{"FractionOfAFen", "10.001", "不再需要", "amount", "请以元为单位填写金额，例如 30 或 12.50。"},
			{"OverRefund", "32.01", "不再需要", "amount", "此笔充值最多可退 ¥32.00。"},
			{"NoReason", "10", " ", "reason", "请填写退款原因。"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := c.PostForm(action, refundForm(tc.amount, tc.reason))
				require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
				require.Equal(t, tc.text, strings.TrimSpace(p.Doc.Find(offerSel(o.OrderNo)+` [data-testid="refund-error-`+tc.field+`"]`).Text()))
				require.Equal(t, tc.amount, p.Doc.Find(offerSel(o.OrderNo)+` [data-testid="refund-amount"]`).AttrOr("value", ""), "the form keeps what was typed")
			})
		}
		t.Run("OverRefundInEnglish", func(t *testing.T) {
			c.Header.Set("Accept-Language", "en")
			defer c.Header.Del("Accept-Language")
			p := c.PostForm(action, refundForm("100", "not needed"))
			require.Equal(t, http.StatusUnprocessableEntity, p.Status)
			require.Equal(t, "You can ask for at most ¥32.00 from this top-up.", p.TestID("refund-error-amount"))
			require.Contains(t, p.TestID("refund-bonus-rule"), "A refund takes back the same share of the bonus granted with this top-up")
			require.Contains(t, p.TestID("refund-bonus-rule"), "Refunding the amount above deducts ¥8.00 for 8,000 bonus credits already used.")
		})
		// An amount over the limit and no reason: both named at once, in
		// either language (before, the reason alone was named, and the
		// limit only once the reason was given).
		t.Run("OverRefundAndNoReasonAtOnce", func(t *testing.T) {
			for _, lang := range []struct{ code, amount, reason string }{
				{"zh-CN", "此笔充值最多可退 ¥32.00。", "请填写退款原因。"},
				{"en", "You can ask for at most ¥32.00 from this top-up.", ""},
			} {
				c.Header.Set("Accept-Language", lang.code)
				p := c.PostForm(action, refundForm("32.01", " "))
				c.Header.Del("Accept-Language")
				require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
				require.Equal(t, lang.amount, strings.TrimSpace(p.Doc.Find(offerSel(o.OrderNo)+` [data-testid="refund-error-amount"]`).Text()), lang.code)
				reason := strings.TrimSpace(p.Doc.Find(offerSel(o.OrderNo) + ` [data-testid="refund-error-reason"]`).Text())
				require.NotEmpty(t, reason, lang.code)
				if lang.reason != "" {
					require.Equal(t, lang.reason, reason)
				}
			}
		})
		reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
		require.NoError(t, err)
		require.Empty(t, reqs, "no invalid form filed a request")
	})

	// A valid request waits for finance; meanwhile no second one.
	p = c.PostForm(action, refundForm("30", "项目取消"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "/portal/orders", p.URL.Path)
	require.Equal(t, "退款申请已提交，等待财务审核。", p.TestID("flash-success"))
	row := p.Doc.Find(`[data-testid="refund-row"][data-order="` + o.OrderNo + `"]`)
	require.Equal(t, "requested", row.AttrOr("data-state", ""))
	require.Equal(t, "¥30.00", strings.TrimSpace(row.Find(`[data-testid="refund-row-amount"]`).Text()))
	require.Contains(t, row.Find(`[data-testid="refund-row-state"]`).Text(), "待审核")
	require.Empty(t, p.Doc.Find(offerSel(o.OrderNo)+` form`).Nodes, "no second form while one is pending")
	require.NotEmpty(t, p.Doc.Find(offerSel(o.OrderNo)+` [data-testid="refund-open"]`).Text())
	require.Equal(t, "¥2.00", strings.TrimSpace(p.Doc.Find(offerSel(o.OrderNo)+` [data-testid="refund-max"]`).Text()),
		"当前可退 leaves out the ¥30 already asked for")
	p = c.PostForm(action, refundForm("5", "again"))
	require.Equal(t, http.StatusConflict, p.Status)
	require.Equal(t, "该笔充值已有处理中的退款申请，请等待财务处理。", p.TestID("refund-error-form"))
	requireCredits(t, "40000", b.balance(t, acc).ByKind[ledger.LotPaid], "a request alone takes nothing")

	// Finance approves it in the back office.
	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	id := reqs[0].ID
	fin := b.finance(t)
	q := fin.Get("/admin/refunds")
	require.Equal(t, http.StatusOK, q.Status)
	article := q.Doc.Find(`[data-testid="refund-` + itoa(id) + `"]`)
	require.Contains(t, article.Text(), o.OrderNo)
	require.Contains(t, article.Text(), "项目取消")
	require.Contains(t, article.Find(`form`).First().AttrOr("data-confirm", ""), "¥30.00", "approving asks first, naming the amount")
	q = fin.PostForm(article.Find(`form`).First().AttrOr("action", ""), nil)
	require.Equal(t, http.StatusOK, q.Status, q.Body)
	require.Empty(t, q.Doc.Find(`[data-testid="refund-`+itoa(id)+`"]`).Nodes, "it left the queue")

	// The sandbox refunded ¥30 of the ¥100 payment.
	reqs, err = b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Equal(t, backoffice.RefundDone, reqs[0].State, "the channel accepted it: done")
	ref := reqs[0].RefundRef
	at, err := b.wx.QueryRefund(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, o.OrderNo, at.OutTradeNo)
	require.EqualValues(t, 3000, at.Amount.Refund)
	require.EqualValues(t, 10000, at.Amount.Total)

	// ¥30 back took ¥37.50 of the top-up, 37,500 credits, and its 7,500
	// bonus credits, used: ¥7.50 deducted. Exactly that left the paid lot.
	requireCredits(t, "2500", b.balance(t, acc).ByKind[ledger.LotPaid], "paid after the refund")
	refunds, err := b.pay.Refunds(ctx, o.ID)
	require.NoError(t, err)
	require.Len(t, refunds, 1)
	requireCredits(t, "37500", refunds[0].Credits, "paid credit refunded")
	requireCredits(t, "7500", refunds[0].BonusCharged, "used bonus paid for")
	require.EqualValues(t, 750, refunds[0].BonusFen)
	tx := c.Get("/portal/transactions")
	ev := tx.Doc.Find(`[data-testid="event-row"][data-type="refund"]`)
	require.Equal(t, 1, ev.Length(), "the ledger shows one refund")
	require.Contains(t, ev.Text(), "-37,500")
	b.verifyLedger(t)

	// The customer sees it done, and may ask for what is left: ¥2.50 of
	// the top-up less ¥0.50 for its share of the used bonus.
	p = c.Get("/portal/orders")
	row = p.Doc.Find(`[data-testid="refund-row"][data-order="` + o.OrderNo + `"]`)
	require.Equal(t, "done", row.AttrOr("data-state", ""))
	require.Equal(t, ref, strings.TrimSpace(row.Find(`[data-testid="refund-row-ref"]`).Text()))
	orow := p.Doc.Find(`[data-testid="order-row"][data-order="` + o.OrderNo + `"]`)
	require.Equal(t, "partially_refunded", orow.AttrOr("data-state", ""))
	require.Equal(t, "¥30.00", strings.TrimSpace(orow.Find(`[data-testid="order-refunded"]`).Text()))
	require.Equal(t, "¥2.00", strings.TrimSpace(p.Doc.Find(offerSel(o.OrderNo)+` [data-testid="refund-max"]`).Text()))
	require.NotEmpty(t, p.Doc.Find(offerSel(o.OrderNo)+` form[data-testid="refund-form"]`).Nodes)

	// An unpaid order has nothing to refund.
	open, err := b.pay.CreateTransferOrder(ctx, acc, 10000)
	require.NoError(t, err)
	require.Empty(t, p.Doc.Find(offerSel(open.OrderNo)).Nodes)
	p = c.PostForm("/portal/orders/"+open.OrderNo+"/refund", refundForm("10", "试试"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "此笔充值没有可退的金额。", p.TestID("refund-error-form"))

	// Another customer can neither see nor request a refund of this order.
	other, _ := b.customer(t, "refund-other@example.com", true)
	require.Empty(t, other.Get("/portal/orders").Doc.Find(offerSel(o.OrderNo)).Nodes)
	require.Equal(t, http.StatusNotFound, other.PostForm(action, refundForm("1", "mine")).Status)
}

// TestRefundOfATransferTopUpIsABankRefund: a bank transfer top-up cannot go
// back through a payment channel; the approval records a bank refund for
// finance to pay and takes the credit at once.
func TestRefundOfATransferTopUpIsABankRefund(t *testing.T) {
	t.Parallel()
	b := setupRefunds(t)
	ctx := context.Background()
	c, acc := b.customer(t, "refund-bank@example.com", true)
	o := b.payTransfer(t, acc, 50000)
	requireCredits(t, "500000", b.balance(t, acc).ByKind[ledger.LotPaid], "paid before")

	p := c.PostForm("/portal/orders/"+o.OrderNo+"/refund", refundForm("200", "预算调整"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	fin := b.finance(t)
	fin.Get("/admin/refunds")
	q := fin.PostForm("/admin/refunds/"+itoa(reqs[0].ID)+"/approve", nil)
	require.Equal(t, http.StatusOK, q.Status, q.Body)

	o = b.order(t, o.OrderNo)
	require.Equal(t, payments.StatePartiallyRefunded, o.State)
	refunds, err := b.pay.Refunds(ctx, o.ID)
	require.NoError(t, err)
	require.Len(t, refunds, 1)
	require.Equal(t, payments.RefundManual, refunds[0].State, "a bank refund record for finance")
	require.EqualValues(t, 20000, refunds[0].AmountFen)
	requireCredits(t, "200000", refunds[0].Credits, "¥200 of credit")
	requireCredits(t, "300000", b.balance(t, acc).ByKind[ledger.LotPaid], "paid after")

	p = c.Get("/portal/orders")
	row := p.Doc.Find(`[data-testid="refund-row"][data-order="` + o.OrderNo + `"]`)
	require.Equal(t, "approved", row.AttrOr("data-state", ""), "it stays approved until finance pays it back")
	require.Equal(t, "财务将通过银行转账退回至付款账户。", strings.TrimSpace(row.Find(`[data-testid="refund-row-bank"]`).Text()))
	require.Equal(t, refunds[0].RefundNo, strings.TrimSpace(row.Find(`[data-testid="refund-row-ref"]`).Text()))
	b.verifyLedger(t)
}

// TestInvoicedTopUpNeedsReversalBeforeRefund: a top-up with an issued
// invoice offers no refund form but the note that the invoice must be
// reversed first, and the server refuses a request; once the invoice is
// reversed (red-letter) the request goes through.
func TestInvoicedTopUpNeedsReversalBeforeRefund(t *testing.T) {
	t.Parallel()
	b := setupRefunds(t)
	ctx := context.Background()
	c, acc := b.customer(t, "refund-invoiced@example.com", true)
	o := b.payTransfer(t, acc, 30000)
	inv, err := b.inv.RequestInvoice(ctx, acc, invoicing.Request{Kind: invoicing.KindOrdinary, Email: "refund-invoiced@example.com",
		Title: &invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"}, Items: []invoicing.ItemRequest{{OrderID: o.ID, AmountFen: 30000}}})
	require.NoError(t, err)
	_, _, err = b.inv.Issue(ctx, inv.ID, invoicing.IssueRequest{Number: "25440000000012340001"}, "test")
	require.NoError(t, err)

	action := "/portal/orders/" + o.OrderNo + "/refund"
	p := c.Get("/portal/orders")
	offer := p.Doc.Find(offerSel(o.OrderNo))
	require.Empty(t, offer.Find(`form`).Nodes, "no refund form for an invoiced top-up")
	require.Equal(t, "该笔充值已开具发票，须先红冲发票后才能退款。 前往发票", strings.Join(strings.Fields(offer.Find(`[data-testid="refund-needs-reversal"]`).Text()), " "))
	require.Equal(t, "/portal/invoices", offer.Find(`[data-testid="refund-needs-reversal"] a`).AttrOr("href", ""))

	p = c.PostForm(action, refundForm("100", "不用了"))
	require.Equal(t, http.StatusConflict, p.Status)
	require.Equal(t, "该充值已开具发票，退款前须先红冲发票。", p.TestID("refund-error-form"))
	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Empty(t, reqs)

	_, err = b.inv.Reverse(ctx, inv.ID, "退款", "test")
	require.NoError(t, err)
	p = c.Get("/portal/orders")
	require.Empty(t, p.Doc.Find(offerSel(o.OrderNo)+` [data-testid="refund-needs-reversal"]`).Nodes)
	p = c.PostForm(action, refundForm("100", "不用了"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "requested", p.Doc.Find(`[data-testid="refund-row"][data-order="`+o.OrderNo+`"]`).AttrOr("data-state", ""))

	// Finance rejects it; the customer sees why, and may ask again.
	reqs, err = b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	fin := b.finance(t)
	fin.Get("/admin/refunds")
	q := fin.PostForm("/admin/refunds/"+itoa(reqs[0].ID)+"/reject", url.Values{"reason": {"请先联系客户经理"}})
	require.Equal(t, http.StatusOK, q.Status, q.Body)
	p = c.Get("/portal/orders")
	row := p.Doc.Find(`[data-testid="refund-row"][data-order="` + o.OrderNo + `"]`)
	require.Equal(t, "rejected", row.AttrOr("data-state", ""))
	require.Equal(t, "请先联系客户经理", strings.TrimSpace(row.Find(`[data-testid="refund-row-decision"]`).Text()))
	require.NotEmpty(t, p.Doc.Find(offerSel(o.OrderNo)+` form[data-testid="refund-form"]`).Nodes)
	requireCredits(t, "300000", b.balance(t, acc).ByKind[ledger.LotPaid], "a rejected request takes nothing")
}

// TestPortalMenuHasOrdersAndRedeem: the menu leads to the orders and the
// redemption code pages, in both languages.
func TestPortalMenuHasOrdersAndRedeem(t *testing.T) {
	t.Parallel()
	b := setupRefunds(t)
	c, _ := b.customer(t, "refund-menu@example.com", false)
	p := c.Get("/portal")
	require.Equal(t, "/portal/orders", p.Doc.Find(`[data-testid="nav-portal.orders"]`).AttrOr("href", ""))
	require.Equal(t, "订单", p.TestID("nav-portal.orders"))
	require.Equal(t, "/portal/redeem", p.Doc.Find(`[data-testid="nav-portal.redeem"]`).AttrOr("href", ""))
	require.Equal(t, "兑换码", p.TestID("nav-portal.redeem"))
	c.Header.Set("Accept-Language", "en")
	p = c.Get("/portal/redeem")
	require.Equal(t, "Orders", p.TestID("nav-portal.orders"))
	require.Equal(t, "Redeem code", p.TestID("nav-portal.redeem"))
	require.Equal(t, "page", p.Doc.Find(`[data-testid="nav-portal.redeem"]`).AttrOr("aria-current", ""))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
