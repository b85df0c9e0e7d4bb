package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestAdminSubscriptions: support finds subscribers by plan, state, cycle,
// renewal due and account, a page at a time, and opens the customer page,
// which shows the plan and its history; support extends the period (form
// errors all at once, in the user's language) and grants an enterprise a
// contract plan: within the limit at once, above it as an approval that
// the requester cannot decide and another admin approves (granted event),
// every action audited.
func TestAdminSubscriptions(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t, webtest.WithOwnDatabase())
	demoPlans(t, b.app)
	ctx := context.Background()
	svc := b.app.Services
	support := b.staff(t, "subs-support", auth.RoleSupport)

	// Three subscribers: two comped Basic (monthly), one Standard yearly.
	var accs []int64
	for i, spec := range []struct{ plan string }{{"basic"}, {"basic"}, {"standard"}} {
		acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: fmt.Sprintf("Subscriber %d", i)})
		require.NoError(t, err)
		accs = append(accs, acc.ID)
		if spec.plan == "standard" {
			_, _, err = svc.Subscriptions.Subscribe(ctx, plans.SubscribeRequest{AccountID: acc.ID, PlanCode: "standard", Cycle: plans.Yearly, Actor: "payments:wechat", Note: "P1"})
		} else {
			_, _, err = svc.Subscriptions.Comp(ctx, plans.CompRequest{AccountID: acc.ID, PlanCode: "basic", Months: 1, Actor: "test"})
		}
		require.NoError(t, err)
	}

	list := func(q url.Values) *webtest.Page {
		t.Helper()
		p := support.Get("/admin/subscriptions?" + q.Encode())
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		return p
	}
	rows := func(p *webtest.Page) int {
		return p.Doc.Find(`[data-testid="subs-results"] [data-testid="sub-account"]`).Length()
	}
	p := list(url.Values{})
	require.Equal(t, 3, rows(p))
	require.Equal(t, 2, rows(list(url.Values{"plan": {"basic"}})))
	require.Equal(t, 1, rows(list(url.Values{"cycle": {"yearly"}})))
	require.Equal(t, 1, rows(list(url.Values{"state": {"active"}})), "comps do not renew")
	require.Equal(t, 0, rows(list(url.Values{"due": {"7"}})), "the yearly one renews in a year")
	qp := list(url.Values{"q": {"Subscriber 2"}})
	require.Equal(t, 1, rows(qp), qp.Text(`[data-testid="subs-results"]`))
	byID := list(url.Values{"q": {strconv.FormatInt(accs[0], 10)}})
	require.Equal(t, 1, byID.Doc.Find(fmt.Sprintf(`[data-testid="subs-results"] a[href="/admin/customers/%d"]`, accs[0])).Length(), "found by account id")
	bad := support.Get("/admin/subscriptions?due=0")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.Contains(t, bad.Text(`[data-testid="subs-filter"]`), "天数须在 1 到 366 之间")

	// The customer page of a subscriber.
	page := "/admin/customers/" + strconv.FormatInt(accs[2], 10)
	link := p.Doc.Find(fmt.Sprintf(`a[href="%s"]`, page))
	require.Equal(t, 1, link.Length(), "the list links to the customer page")
	c := support.Get(page)
	require.Equal(t, http.StatusOK, c.Status)
	require.Contains(t, c.TestID("customer-sub-plan"), "标准版")
	require.Equal(t, 1, c.Doc.Find(`[data-testid="sub-event-created"]`).Length())

	t.Run("Extend", func(t *testing.T) {
		for _, tc := range []struct{ lang, days, reason string }{{"zh-CN", "天数须在 1 到 90 之间。", "请填写原因。"}, {"en", "Days must be between 1 and 90.", "A reason is required."}} {
			support.Header.Set("Accept-Language", tc.lang)
			r := support.PostForm(page+"/plan/extend", url.Values{"days": {"0"}, "reason": {""}})
			require.Equal(t, http.StatusUnprocessableEntity, r.Status)
			require.Contains(t, r.Text(`[data-testid="plan-extend-form"]`), tc.days, "both fields at once")
			require.Contains(t, r.Text(`[data-testid="plan-extend-form"]`), tc.reason)
		}
		support.Header.Del("Accept-Language")
		before, err := svc.Subscriptions.Current(ctx, accs[2])
		require.NoError(t, err)
		r := support.PostForm(page+"/plan/extend", url.Values{"days": {"7"}, "reason": {"故障补偿"}})
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		require.Contains(t, r.Body, "已延长当前周期。")
		after, err := svc.Subscriptions.Current(ctx, accs[2])
		require.NoError(t, err)
		require.Equal(t, before.TermEnd.AddDate(0, 0, 7), after.TermEnd)
		require.Equal(t, 1, r.Doc.Find(`[data-testid="sub-event-extended"]`).Length())
		entries, _, err := b.bo.AuditLog(ctx, backoffice.AuditFilter{AccountID: accs[2], Action: backoffice.ActionPlanExtended}, 0, 10)
		require.NoError(t, err)
		require.Len(t, entries, 1, "audited")
	})

	t.Run("GrantWithMakerChecker", func(t *testing.T) {
		ent, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "合同企业"})
		require.NoError(t, err)
		epage := "/admin/customers/" + strconv.FormatInt(ent.ID, 10)
		e := support.Get(epage)
		require.Equal(t, 1, e.Doc.Find(`[data-testid="plan-grant-form"]`).Length())
		require.Contains(t, e.TestID("plan-grant-limit"), "3")

		r := support.PostForm(epage+"/plan/grant", url.Values{"plan": {""}, "months": {"99"}, "reason": {""}})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		form := r.Text(`[data-testid="plan-grant-form"]`)
		for _, want := range []string{"请选择目录中的套餐。", "月数须在 1 到 36 之间。", "请填写原因。"} {
			require.Contains(t, form, want, "every field at once")
		}
		r = support.PostForm(page+"/plan/grant", url.Values{"plan": {"basic"}, "months": {"2"}, "reason": {"合同"}})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "an individual gets no contract plan")
		require.Contains(t, r.Body, "合同套餐只能开通给企业账户。")

		// Twelve months is over the 3-month limit: an approval.
		r = support.PostForm(epage+"/plan/grant", url.Values{"plan": {"standard"}, "months": {"12"}, "reason": {"合同 2026-018"}})
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		require.Contains(t, r.Body, "已提交给另一位管理员审批")
		_, err = svc.Subscriptions.Current(ctx, ent.ID)
		require.ErrorIs(t, err, plans.ErrNotFound, "nothing granted before the approval")
		pending, err := b.bo.Approvals(ctx, backoffice.ApprovalFilter{AccountID: ent.ID, State: backoffice.ApprovalPending})
		require.NoError(t, err)
		require.Len(t, pending, 1)
		require.Equal(t, backoffice.ApprovePlanGrant, pending[0].Action)

		admin := b.staff(t, "subs-admin", auth.RoleAdmin)
		q := admin.Get("/admin/approvals")
		require.Equal(t, http.StatusOK, q.Status)
		require.Contains(t, q.Body, "合同期 12 个月")
		a := admin.PostForm(fmt.Sprintf("/admin/approvals/%d/approve", pending[0].ID), nil)
		require.Equal(t, http.StatusOK, a.Status, a.Body)
		cur, err := svc.Subscriptions.Current(ctx, ent.ID)
		require.NoError(t, err)
		require.Equal(t, "standard", cur.PlanCode)
		require.Equal(t, plans.Canceled, cur.State, "a contract term ends with its term")
		e = support.Get(epage)
		require.Equal(t, 1, e.Doc.Find(`[data-testid="sub-event-granted"]`).Length())

		// Within the limit it applies at once (another enterprise).
		ent2, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "短期企业"})
		require.NoError(t, err)
		r = support.PostForm("/admin/customers/"+strconv.FormatInt(ent2.ID, 10)+"/plan/grant", url.Values{"plan": {"basic"}, "months": {"3"}, "reason": {"试点"}})
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		require.Contains(t, r.Body, "已开通合同套餐。")
		_, err = svc.Subscriptions.Current(ctx, ent2.ID)
		require.NoError(t, err)
		require.True(t, strings.Contains(r.Body, "合同开通"))
	})
}
