package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/refcode"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestCreditLineBillOverdueFrozenPaidOnAPhone: an enterprise with a credit
// line of ¥500 and no credit of its own spends 2,345.5 credits on the
// line; its overview shows the debt; on the billing day a bill of ¥2.35 is
// issued; the bills page, on a 390 px phone in Chinese and English, shows
// it to pay, then overdue, then frozen (with the notice, and the account
// refusing holds), and after finance records the transfer, paid, with the
// line restored and the account active again. Nothing leaves the screen.
func TestCreditLineBillOverdueFrozenPaidOnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	clock := &testClock{}
	b := setupPortal(t, webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }))
	ctx := context.Background()
	login := uniqEmail("bills")
	c, u := b.register(t, login, "月结企业")
	ent := b.enterprise(t, u.ID, "月结企业")
	b.verified(t, ent)
	lines := b.app.Services.CreditLines
	bill := b.billedLine(t, clock, ent, 50000, "2345.5", "bills-1")
	require.EqualValues(t, 235, bill.AmountFen, "2,345.5 credits at ¥0.001, half-even to the fen")
	p := c.Get("/portal")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "-2,345.5", "the overview shows the debt")
	setClock := func(at time.Time) {
		clock.Advance(at.Sub(clock.Now()))
		_, err := lines.Advance(ctx)
		require.NoError(t, err)
	}
	setClock(bill.DueAt.Add(-time.Hour))

	bctx := webtest.Browser(t, 150*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
	status := map[string]map[string]string{
		"zh-CN": {"open": "待付款", "overdue": "已逾期", "frozen": "已冻结", "paid": "已付款"},
		"en":    {"open": "To pay", "overdue": "Overdue", "frozen": "Frozen", "paid": "Paid"},
	}
	look := func(state string) {
		t.Helper()
		for _, lang := range []string{"zh-CN", "en"} {
			require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang), chromedp.Navigate(b.app.URL+"/portal/bills"),
				chromedp.WaitVisible(css(`[data-testid="bill-row"]`))))
			require.Equal(t, status[lang][state], webtest.Text(t, bctx, `[data-testid="bill-status"]`), "%s (%s)", state, lang)
			require.Equal(t, "¥2.35", webtest.Text(t, bctx, `[data-testid="bill-amount"]`))
			require.Equal(t, "¥500.00", webtest.Text(t, bctx, `[data-testid="bills-line-amount"]`))
			used := map[string]string{"open": "2,345.5 / 500,000", "overdue": "2,345.5 / 500,000", "frozen": "2,345.5 / 500,000", "paid": "0 / 500,000"}[state]
			require.Contains(t, webtest.Text(t, bctx, `[data-testid="bills-line-used"]`), used)
			webtest.RequireFitsWidth(t, bctx, 390, "the bills page, %s (%s)", state, lang)
			webtest.Screenshot(t, bctx, fmt.Sprintf("bills-%s-390-%s", state, lang))
			frozen, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="bills-frozen"]')`))
			require.NoError(t, err)
			require.Equal(t, state == "frozen", frozen, "the frozen notice (%s, %s)", state, lang)

			require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="bill-link"]`)),
				chromedp.WaitVisible(css(`[data-testid="bill"]`))))
			require.Equal(t, status[lang][state], webtest.Text(t, bctx, `[data-testid="bill"] [data-testid="bill-status"]`))
			if state != "paid" {
				require.Equal(t, refcode.Format(bill.ReferenceCode), webtest.Text(t, bctx, `[data-testid="bill-reference"]`))
			}
			webtest.RequireFitsWidth(t, bctx, 390, "the bill, %s (%s)", state, lang)
			webtest.Screenshot(t, bctx, fmt.Sprintf("bill-%s-390-%s", state, lang))
		}
	}
	look("open")

	setClock(bill.DueAt.Add(time.Hour))
	look("overdue")

	setClock(bill.GraceUntil.Add(time.Hour))
	look("frozen")
	_, err := b.ledger.Reserve(ctx, ledger.ReserveRequest{AccountID: ent, Amount: decimal.NewFromInt(1), IdempotencyKey: "bills-2"})
	require.ErrorIs(t, err, ledger.ErrAccountFrozen)

	// Finance records the matched transfer.
	staff, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: uniqEmail("bills-finance"), Password: "staff password 1",
		Name: "Finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	paid, err := b.app.Services.Backoffice.MarkBillPaid(ctx, bill.ID, "STMT-1", backoffice.Actor{User: staff})
	require.NoError(t, err)
	require.Equal(t, creditline.StatusPaid, paid.Status)
	look("paid")
	bal, err := b.ledger.Balance(ctx, ent)
	require.NoError(t, err)
	require.True(t, bal.Own().IsZero(), "the line is back: %s", bal.Own())
	r, err := b.ledger.Reserve(ctx, ledger.ReserveRequest{AccountID: ent, Amount: decimal.NewFromInt(1), IdempotencyKey: "bills-3"})
	require.NoError(t, err, "active again")
	m, err := lines.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)

	// Finance closes the line (0): the page says there is no line — not a
	// line of ¥0.00 — and still lists the bill.
	_, err = b.ledger.Release(ctx, r.ID)
	require.NoError(t, err)
	line, err := lines.Line(ctx, ent)
	require.NoError(t, err)
	_, err = b.app.Services.Backoffice.SetCreditLine(ctx, creditline.Spec{AccountID: ent, LineFen: 0, BillingDay: line.BillingDay,
		TermsDays: line.TermsDays, GraceDays: line.GraceDays}, "合同结束", backoffice.Actor{User: staff})
	require.NoError(t, err)
	for _, lang := range []struct{ code, none string }{{"zh-CN", "无授信额度"}, {"en", "No credit line"}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/bills"),
			chromedp.WaitVisible(css(`[data-testid="bills-no-line"]`))))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="bills-no-line"]`), lang.none)
		card, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="bills-line"]')`))
		require.NoError(t, err)
		require.False(t, card, "no line card of ¥0.00 (%s)", lang.code)
		require.Equal(t, status[lang.code]["paid"], webtest.Text(t, bctx, `[data-testid="bill-row"] [data-testid="bill-status"]`), "the bill stays listed")
		require.Equal(t, "¥2.35", webtest.Text(t, bctx, `[data-testid="bill-amount"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the bills page of a closed line (%s)", lang.code)
		webtest.Screenshot(t, bctx, "bills-closed-390-"+lang.code)
	}
}

// TestBillPaidByQROnAPhone: an enterprise's open bill of ¥123.45, on a
// 390 px phone in Chinese (WeChat Pay) and in English (Alipay): the bill's
// page offers QR payment for exactly its amount, the checkout of top-ups
// shows the code, paying in the sandbox turns it into "the bill is paid",
// and the bill reads paid with the line restored — no credit was added to
// the balance. Paying the paid bill again is refused in the user's
// language.
func TestBillPaidByQROnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupPay(t)
	ctx := context.Background()
	lines := b.app.Services.CreditLines
	// The billing run's clock is 40 days ahead, so the period closes while
	// the channels' signatures stay valid on the server's clock.
	ahead := creditline.New(b.app.Pool, b.ledger, creditline.Options{Now: func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }})
	for _, lang := range []struct{ code, channel, paid, status, refused string }{
		{"zh-CN", "wechat", "账单已付清，授信额度已恢复。", "已付款", "这张账单已经付过款了。"},
		{"en", "alipay", "The bill is paid and the credit line is restored.", "Paid", "This bill has already been paid."},
	} {
		login := uniqEmail("bill-qr")
		c, u := b.register(t, login, "扫码月结")
		ent := b.enterprise(t, u.ID, "扫码月结")
		b.verified(t, ent)
		require.NoError(t, db.InTx(ctx, b.app.Pool, func(tx pgx.Tx) error {
			_, err := lines.SetLineTx(ctx, tx, creditline.Spec{AccountID: ent, LineFen: 100000, BillingDay: 1, TermsDays: 10, GraceDays: 5},
				"staff:1", "contract", nil)
			return err
		}))
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: ent, Amount: decimal.RequireFromString("123450"),
			IdempotencyKey: "bill-qr-" + lang.code, Model: "deepseek-chat"})
		require.NoError(t, err)
		bill, closed, err := ahead.CloseLine(ctx, ent)
		require.NoError(t, err)
		require.True(t, closed)
		require.EqualValues(t, 12345, bill.AmountFen)
		billURL := fmt.Sprintf("%s/portal/bills/%d", b.app.URL, bill.ID)

		bctx := webtest.Browser(t, 120*time.Second)
		css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
		webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(billURL),
			chromedp.WaitVisible(css(`[data-testid="bill-pay-submit"]`))))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="bill-pay-submit"]`), "¥123.45")
		webtest.RequireFitsWidth(t, bctx, 390, "the bill with QR payment (%s)", lang.code)
		webtest.Screenshot(t, bctx, "bill-pay-390-"+lang.code)
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Click(css(`[data-testid="bill-pay-channel-`+lang.channel+`"]`)),
			chromedp.Click(css(`[data-testid="bill-pay-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="checkout-qr"]`))))
		require.Equal(t, "¥123.45", webtest.Text(t, bctx, `[data-testid="checkout-amount"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the bill's checkout (%s)", lang.code)
		no := webtest.Text(t, bctx, `[data-testid="checkout-order-no"]`)
		_, err = b.sim.Confirm(ctx, lang.channel, no)
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(bctx, chromedp.WaitVisible(css(`[data-testid="checkout-bill-paid"]`))))
		require.Equal(t, lang.paid, webtest.Text(t, bctx, `[data-testid="checkout-bill-paid"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the bill paid (%s)", lang.code)
		webtest.Screenshot(t, bctx, "bill-paid-qr-390-"+lang.code)
		// Its receipt says it paid the bill (period and reference code), not credits.
		r := c.Get("/portal/orders/" + no + "/receipt.pdf")
		require.Equal(t, http.StatusOK, r.Status)
		receipt := pdfToText(t, []byte(r.Body))
		require.Contains(t, receipt, "授信账单 "+format.Date(bill.PeriodStart)+" 至 "+format.Date(bill.PeriodEnd.AddDate(0, 0, -1)))
		require.Contains(t, receipt, refcode.Format(bill.ReferenceCode))
		require.NotContains(t, receipt, "到账点数")
		require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="checkout-bill"]`)),
			chromedp.WaitVisible(css(`[data-testid="bill"]`))))
		require.Equal(t, lang.status, webtest.Text(t, bctx, `[data-testid="bill"] [data-testid="bill-status"]`))
		gone, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`!document.querySelector('[data-testid="bill-pay"]')`))
		require.NoError(t, err)
		require.True(t, gone, "a paid bill offers no payment")

		o := b.order(t, no)
		require.Equal(t, payments.PurposeBill, o.Purpose)
		require.EqualValues(t, 12345, o.AmountFen)
		paid, err := lines.Bill(ctx, ent, bill.ID)
		require.NoError(t, err)
		require.Equal(t, creditline.StatusPaid, paid.Status)
		require.Equal(t, creditline.PaidByQR, paid.PaidVia)
		bal := b.balance(t, ent)
		require.True(t, bal.Own().IsZero(), "the line is back and nothing was credited: %s", bal.Own())
		require.True(t, bal.LineUsed().IsZero())

		c.Get("/lang/" + lang.code)
		c.Get(fmt.Sprintf("/portal/bills/%d", bill.ID))
		p := c.PostForm(fmt.Sprintf("/portal/bills/%d/pay", bill.ID), url.Values{"channel": {lang.channel}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Equal(t, lang.refused, strings.TrimSpace(p.TestID("bill-pay-error")))
	}
}

// billedLine gives account a credit line of lineFen (billing day the 1st,
// 10 days' terms, 5 days' grace), spends amount of it on the line now, then
// moves clock past the next billing day, where its one bill is issued, and
// returns that bill.
func (b *portalBundle) billedLine(t *testing.T, clock *testClock, account, lineFen int64, amount, key string) creditline.Bill {
	t.Helper()
	ctx := context.Background()
	lines := b.app.Services.CreditLines
	require.NoError(t, db.InTx(ctx, b.app.Pool, func(tx pgx.Tx) error {
		_, err := lines.SetLineTx(ctx, tx, creditline.Spec{AccountID: account, LineFen: lineFen, BillingDay: 1, TermsDays: 10, GraceDays: 5},
			"staff:1", "contract", nil)
		return err
	}))
	_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: account, Amount: decimal.RequireFromString(amount),
		IdempotencyKey: key, Model: "deepseek-chat", OccurredAt: clock.Now()})
	require.NoError(t, err)
	clock.Advance(32 * 24 * time.Hour)
	n, err := lines.CloseDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	bills, err := lines.Bills(ctx, account)
	require.NoError(t, err)
	require.Len(t, bills, 1)
	return bills[0]
}
