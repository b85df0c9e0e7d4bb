package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/referral"
	"github.com/seed75218f88/credits/internal/verification"
	"github.com/seed75218f88/credits/web/webtest"
)

// referralLots are the account's referral reward lots.
func referralLots(t *testing.T, l *ledger.Ledger, acc int64) []ledger.Lot {
	t.Helper()
	lots, err := l.Lots(context.Background(), acc)
	require.NoError(t, err)
	var out []ledger.Lot
	for _, x := range lots {
		if x.ReasonCode == "referral_reward" {
			out = append(out, x)
		}
	}
	return out
}

// TestReferralInChromium: a visitor opens an inviter's link on a 390 px
// phone and signs up (an unknown code is dropped with a notice); once
// verified, the invitee's first ¥100 top-up — 64 copies of the channel's
// notify at once — rewards the inviter once (10 % of 100,000 credits); the
// inviter sees the reward on /portal/invite and finance sees it in the
// reports, at 390 px in Chinese and in English.
func TestReferralInChromium(t *testing.T) {
	b := setupPay(t)
	ctx := context.Background()
	refs := b.app.Services.Referrals
	inviterLogin := uniqEmail("inviter")
	_, inviter := b.register(t, inviterLogin, "")
	code, err := refs.Code(ctx, inviter.AccountID)
	require.NoError(t, err)

	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	bctx := webtest.Browser(t, 120*time.Second)
	// An unknown code: a notice, and the form carries no code.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(b.app.URL+"/lang/en"),
		chromedp.Navigate(b.app.URL+"/signup?ref=ZZZZ2222"),
		chromedp.WaitVisible(css(`[data-testid="signup-ref-unknown"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="signup-ref-unknown"]`), "sign up all the same")
	require.Zero(t, countNodes(t, bctx, `input[name="ref"]`))
	// The inviter's link, in Chinese, with the code typed in lower case.
	inviteeLogin := uniqEmail("invitee")
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(b.app.URL+"/lang/zh-CN"),
		chromedp.Navigate(b.app.URL+"/signup?ref="+strings.ToLower(code)),
		chromedp.WaitVisible(css(`[data-testid="signup-invited"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="signup-invited"]`), "受邀")
	webtest.RequireFitsWidth(t, bctx, 390, "the invited sign-up (zh-CN)")
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SendKeys(css(`#f-login`), inviteeLogin),
		chromedp.SendKeys(css(`#f-password`), "correct horse 1"),
		chromedp.SendKeys(css(`#f-password_confirm`), "correct horse 1"),
		chromedp.Click(css(`[data-testid="signup-consent"]`)),
		chromedp.Click(css(`[data-testid="signup-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`)),
	))
	invitee, err := b.auth.UserByLogin(ctx, inviteeLogin)
	require.NoError(t, err)
	sum, err := refs.Summary(ctx, inviter.AccountID)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Invited)

	// Verified (实名) with an ID number, then the first top-up: 64 copies
	// of the paid notify at once.
	st, err := b.verify.SubmitPerson(ctx, invitee.AccountID, "王五", newPersonID(t))
	require.NoError(t, err)
	require.Equal(t, verification.StateVerified, st.State)
	o, n0 := b.paidNotifyFor(t, invitee.AccountID, payments.ChannelWeChat, payments.NotifyPathWeChat)
	statuses, _ := b.concurrently(t, 64, payments.NotifyPathWeChat, n0)
	for _, s := range statuses {
		require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, s)
	}
	require.Equal(t, payments.StatePaid, b.order(t, o.OrderNo).State)
	lots := referralLots(t, b.ledger, inviter.AccountID)
	require.Len(t, lots, 1, "one reward for 64 callbacks")
	requireCredits(t, "10000", lots[0].Amount, "10 % of the 100,000 paid credits")
	require.Equal(t, ledger.LotPromo, lots[0].Kind)
	// A second top-up is not the first.
	o2, n2 := b.paidNotifyFor(t, invitee.AccountID, payments.ChannelAlipay, payments.NotifyPathAlipay)
	b.concurrently(t, 1, payments.NotifyPathAlipay, n2)
	require.Equal(t, payments.StatePaid, b.order(t, o2.OrderNo).State)
	require.Len(t, referralLots(t, b.ledger, inviter.AccountID), 1)
	b.verifyLedger(t)

	// The inviter's page.
	ictx := webtest.Browser(t, 120*time.Second)
	webtest.SignIn(t, ictx, b.app.URL, inviterLogin, "correct horse 1")
	for _, lang := range []struct{ code, lead string }{{"zh-CN", "首次付费充值"}, {"en", "first top-up"}} {
		require.NoError(t, chromedp.Do(ictx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/portal"),
			chromedp.WaitVisible(css(`[data-testid="nav-invite"]`)),
			chromedp.Click(css(`[data-testid="nav-invite"]`)),
			chromedp.WaitVisible(css(`[data-testid="invite-grants"]`)),
		))
		webtest.RequireFitsWidth(t, ictx, 390, "the invite page (%s)", lang.code)
		webtest.Screenshot(t, ictx, "invite-"+lang.code)
		require.Contains(t, webtest.Text(t, ictx, `[data-testid="invite-lead"]`), lang.lead)
		require.Equal(t, code, webtest.Text(t, ictx, `[data-testid="invite-code"]`))
		require.True(t, strings.HasSuffix(webtest.Text(t, ictx, `[data-testid="invite-link"]`), "/signup?ref="+code))
		require.Equal(t, "1", webtest.Text(t, ictx, `[data-testid="invite-count"]`))
		require.Equal(t, 1, countNodes(t, ictx, `[data-testid="invite-grant"]`))
		require.Contains(t, webtest.Text(t, ictx, `[data-testid="invite-grant-amount"]`), "10,000")
		require.Contains(t, webtest.Text(t, ictx, `[data-testid="invite-granted"]`), "10,000")
		require.NotEmpty(t, webtest.Text(t, ictx, `[data-testid="invite-copy"]`))
	}

	// Finance sees the reward among the promotional credit of the reports.
	staff := uniqEmail("referral-finance")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: staff, Password: "staff password 1", Name: "财务", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	sctx := webtest.Browser(t, 120*time.Second)
	webtest.SignIn(t, sctx, b.app.URL, staff, "staff password 1")
	for _, lang := range []string{"zh-CN", "en"} {
		require.NoError(t, chromedp.Do(sctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang),
			chromedp.Navigate(b.app.URL+"/admin/reports"),
			chromedp.WaitVisible(css(`[data-testid="referral-grants"]`)),
		))
		webtest.RequireFitsWidth(t, sctx, 390, "the reports with referral rewards (%s)", lang)
		html, err := chromedp.Run(sctx, chromedp.OuterHTML(css(`[data-testid="referral-grants"]`)))
		require.NoError(t, err)
		require.Contains(t, html, o.OrderNo, "the invitee's first top-up is listed")
	}
}

// TestReferralRewardIsPromotionalNotRevenue: on a database of its own, the
// revenue report counts a referral reward as promotional credit granted,
// never as paid credit or revenue, and its closing balances still equal
// what the ledger's lots hold.
func TestReferralRewardIsPromotionalNotRevenue(t *testing.T) {
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, nil)
	ctx := context.Background()
	_, inviter := b.register(t, uniqEmail("rev-inviter"), "")
	code, err := b.app.Services.Referrals.Code(ctx, inviter.AccountID)
	require.NoError(t, err)
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/signup?ref=" + code)
	login := uniqEmail("rev-invitee")
	p := c.PostForm("/signup", map[string][]string{"login": {login}, "password": {"correct horse 1"},
		"password_confirm": {"correct horse 1"}, "consent": {"yes"}, "ref": {code}})
	require.Equal(t, http.StatusOK, p.Status)
	invitee, err := b.auth.UserByLogin(ctx, login)
	require.NoError(t, err)
	_, err = b.verify.SubmitPerson(ctx, invitee.AccountID, "赵六", newPersonID(t))
	require.NoError(t, err)
	o, n0 := b.paidNotifyFor(t, invitee.AccountID, payments.ChannelAlipay, payments.NotifyPathAlipay)
	b.concurrently(t, 8, payments.NotifyPathAlipay, n0)
	require.Equal(t, payments.StatePaid, b.order(t, o.OrderNo).State)
	require.Len(t, referralLots(t, b.ledger, inviter.AccountID), 1)

	fin, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: uniqEmail("rev-fin"), Password: "staff password 1", Name: "fin",
		Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	now := time.Now()
	sh := now.In(backoffice.Shanghai)
	day := time.Date(sh.Year(), sh.Month(), sh.Day(), 0, 0, 0, 0, backoffice.Shanghai)
	rep, err := b.app.Services.Backoffice.Revenue(ctx, day.AddDate(0, 0, -2), day.AddDate(0, 0, 2), backoffice.Daily,
		backoffice.Actor{User: fin})
	require.NoError(t, err)
	tot := rep.Total.Credits
	requireCredits(t, "100000", tot.PaidPurchased, "only the invitee's paid credit is paid credit")
	// Promo granted: the top-up's 20,000 bonus, the verification bonus if
	// any, and the 10,000 reward.
	var promo decimal.Decimal
	for _, acc := range []int64{inviter.AccountID, invitee.AccountID} {
		lots, err := b.ledger.Lots(ctx, acc)
		require.NoError(t, err)
		for _, l := range lots {
			if l.Kind == ledger.LotPromo {
				promo = promo.Add(l.Amount)
			}
		}
	}
	requireCredits(t, promo.String(), tot.PromoGranted, "every promo lot, the reward included")
	require.True(t, tot.PromoGranted.GreaterThanOrEqual(decimal.NewFromInt(30000)))
	requireCredits(t, "0", tot.Recognised, "nothing was spent: no revenue")
	requireCredits(t, "0", rep.Total.RMB.PromoGranted, "promotional credit has no RMB value")
	// Reconciles: closing balances are what the lots hold.
	var paidLeft, promoLeft decimal.Decimal
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT coalesce(sum(remaining) FILTER (WHERE kind = 'paid'), 0),
		coalesce(sum(remaining) FILTER (WHERE kind IN ('promo', 'grace')), 0) FROM ledger_lot_view`).Scan(&paidLeft, &promoLeft))
	requireCredits(t, paidLeft.String(), tot.DeferredClosing, "deferred revenue = unspent paid credit")
	requireCredits(t, promoLeft.String(), tot.PromoClosing, "promotional closing = unspent promo credit")
	require.True(t, tot.PromoClosing.Equal(tot.PromoOpening.Add(tot.PromoGranted).Sub(tot.PromoSpent).Sub(tot.PromoExpired)))

	grants, err := b.app.Services.Referrals.Grants(ctx, now.AddDate(0, 0, -1), now.AddDate(0, 0, 1))
	require.NoError(t, err)
	var mine []referral.Grant
	for _, g := range grants {
		if g.InviterID == inviter.AccountID {
			mine = append(mine, g)
		}
	}
	require.Len(t, mine, 1)
	require.Equal(t, o.OrderNo, mine[0].OrderNo)
}

// TestRefundTakesBackTheReferralReward: an invitee's first ¥100 top-up
// earns its inviter 10 % of its 100,000 paid credits; refunding ¥30 of the
// top-up takes back 30 % of the reward (3,000), and refunding the rest takes
// back what the inviter has left of it — the 2,000 it spent meanwhile stay
// spent — so a top-up paid and refunded leaves no reward to spend. Before,
// the reward stayed whole after a full refund: a pair of accounts could
// mint the inviter's credit for free. A retried refund takes nothing twice.
func TestRefundTakesBackTheReferralReward(t *testing.T) {
	b := setupPay(t)
	ctx := context.Background()
	_, inviter := b.register(t, uniqEmail("reclaim-inviter"), "")
	code, err := b.app.Services.Referrals.Code(ctx, inviter.AccountID)
	require.NoError(t, err)
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/signup?ref=" + code)
	login := uniqEmail("reclaim-invitee")
	p := c.PostForm("/signup", map[string][]string{"login": {login}, "password": {"correct horse 1"},
		"password_confirm": {"correct horse 1"}, "consent": {"yes"}, "ref": {code}})
	require.Equal(t, http.StatusOK, p.Status)
	invitee, err := b.auth.UserByLogin(ctx, login)
	require.NoError(t, err)
	_, err = b.verify.SubmitPerson(ctx, invitee.AccountID, "钱七", newPersonID(t))
	require.NoError(t, err)

	o, err := b.pay.CreateQROrder(ctx, invitee.AccountID, 10000, payments.ChannelWeChat)
	require.NoError(t, err)
	_, err = b.sim.Confirm(ctx, string(payments.ChannelWeChat), o.OrderNo)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.order(t, o.OrderNo).State == payments.StatePaid }, 10*time.Second, 20*time.Millisecond)
	reward := func() ledger.Lot {
		lots := referralLots(t, b.ledger, inviter.AccountID)
		require.Len(t, lots, 1)
		return lots[0]
	}
	requireCredits(t, "10000", reward().Remaining, "10 % of the paid 100,000 credits")

	refund := func(fen int64, key string) {
		_, err := b.pay.Refund(ctx, payments.RefundRequest{AccountID: invitee.AccountID, OrderNo: o.OrderNo, AmountFen: fen,
			IdempotencyKey: key, Reason: "customer request", Actor: "staff:test"})
		require.NoError(t, err)
	}
	refund(3000, "part")
	requireCredits(t, "7000", reward().Remaining, "¥30 of ¥100 refunded: 30 % of the reward taken back")
	refund(3000, "part") // the same refund again
	requireCredits(t, "7000", reward().Remaining, "a retried refund takes nothing more")

	_, err = b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: inviter.AccountID, Amount: decimal.NewFromInt(2000),
		IdempotencyKey: "reclaim-spend", Model: "deepseek-chat"})
	require.NoError(t, err)
	refund(7000, "rest")
	require.Equal(t, payments.StateRefunded, b.order(t, o.OrderNo).State)
	requireCredits(t, "0", reward().Remaining, "the whole top-up refunded: nothing of the reward is left to spend")
	bal, err := b.ledger.Balance(ctx, inviter.AccountID)
	require.NoError(t, err)
	requireCredits(t, "0", bal.Available, "the inviter keeps only what it spent")

	evs, _, err := b.ledger.Events(ctx, inviter.AccountID, ledger.EventFilter{Types: []ledger.EventType{ledger.EventExpiry}}, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2, "one take-back per refund")
	for _, e := range evs {
		require.Equal(t, referral.ReasonReclaimed, e.ReasonCode)
	}
	b.verifyLedger(t)
}
