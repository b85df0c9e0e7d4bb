package backoffice_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/pricing"
)

// Maker-checker for customers' own prices: within the discount limit a
// card is in force at once; beyond it, it waits for a second admin, never
// the requester, and 64 concurrent approvals apply it once.
func TestSetRateCard(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{pricing: true, settings: backoffice.Settings{RateCardDiscountPct: d("20")}})
	admin, second := b.staff(t, auth.RoleAdmin), b.staff(t, auth.RoleAdmin)
	cards := func(t *testing.T, acc int64) []pricing.AccountCard {
		t.Helper()
		cs, err := b.svc.AccountCards(b.ctx, acc)
		require.NoError(t, err)
		return cs
	}

	t.Run("WithinTheLimitAppliesAtOnce", func(t *testing.T) {
		c := b.customer(t)
		res, err := b.svc.SetRateCard(b.ctx, backoffice.SetRateCardRequest{AccountID: c.account.ID, Kind: "discount",
			Discount: "20", Reason: "contract 2027"}, admin)
		require.NoError(t, err)
		require.False(t, res.Pending)
		require.Equal(t, 1, res.Card.Version)
		got := cards(t, c.account.ID)
		require.Len(t, got, 1)
		requireDec(t, "20", got[0].DiscountPct)
		audit := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID, Action: backoffice.ActionRateCardSet})
		require.Len(t, audit, 1)
		require.Equal(t, "contract 2027", audit[0].Reason)

		// Custom prices 10 % below the public card: also within.
		res, err = b.svc.SetRateCard(b.ctx, backoffice.SetRateCardRequest{AccountID: c.account.ID, Kind: "custom",
			Prices: "deepseek-chat 1.8 7.2 0.45\n\nwanx-v1 150", Reason: "custom"}, admin)
		require.NoError(t, err)
		require.False(t, res.Pending)
		require.Equal(t, 2, res.Card.Version)
		require.Len(t, cards(t, c.account.ID)[1].Models, 2)
	})

	t.Run("BeyondTheLimitWaitsForASecondAdmin", func(t *testing.T) {
		c := b.customer(t)
		// 1.5 for deepseek-chat's input is 25 % below the public 2.
		res, err := b.svc.SetRateCard(b.ctx, backoffice.SetRateCardRequest{AccountID: c.account.ID, Kind: "custom",
			Prices: "deepseek-chat 1.5 8 0.5", Reason: "big deal"}, admin)
		require.NoError(t, err)
		require.True(t, res.Pending)
		requireDec(t, "25", res.Approval.Amount)
		require.Empty(t, cards(t, c.account.ID), "nothing in force yet")
		_, err = b.svc.SetRateCard(b.ctx, backoffice.SetRateCardRequest{AccountID: c.account.ID, Kind: "discount",
			Discount: "30", Reason: "again"}, second)
		require.ErrorIs(t, err, backoffice.ErrApprovalPending, "one waiting card per account")

		_, err = b.svc.Approve(b.ctx, res.Approval.ID, admin)
		require.ErrorIs(t, err, backoffice.ErrSelfApproval)
		support := b.staff(t, auth.RoleSupport, auth.RoleFinance)
		_, err = b.svc.Approve(b.ctx, res.Approval.ID, support)
		require.ErrorIs(t, err, backoffice.ErrForbidden, "admins decide prices")
		require.Empty(t, cards(t, c.account.ID))

		a, err := b.svc.Approve(b.ctx, res.Approval.ID, second)
		require.NoError(t, err)
		require.Equal(t, backoffice.ApprovalApplied, a.State)
		got := cards(t, c.account.ID)
		require.Len(t, got, 1)
		require.Equal(t, res.Approval.ID, got[0].ApprovalID)
		require.Equal(t, "staff:"+strconv.FormatInt(admin.User.ID, 10), got[0].Actor, "set as its requester")
		require.Len(t, b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID, Action: backoffice.ActionRateCardRequested}), 1)
		require.Len(t, b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID, Action: backoffice.ActionRateCardSet}), 1)
		require.Len(t, b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID, Action: backoffice.ActionApprovalApplied}), 1)
	})

	t.Run("OnlyAdminsSetPrices", func(t *testing.T) {
		c := b.customer(t)
		_, err := b.svc.SetRateCard(b.ctx, backoffice.SetRateCardRequest{AccountID: c.account.ID, Kind: "discount",
			Discount: "5", Reason: "x"}, b.staff(t, auth.RoleSupport, auth.RoleFinance))
		require.ErrorIs(t, err, backoffice.ErrForbidden)
	})

	t.Run("EveryFieldsProblemAtOnce", func(t *testing.T) {
		c := b.customer(t)
		for _, tc := range []struct {
			req  backoffice.SetRateCardRequest
			want map[string]string
		}{
			{backoffice.SetRateCardRequest{Kind: "gold"}, map[string]string{"kind": "rate_card_kind", "reason": "reason_required"}},
			{backoffice.SetRateCardRequest{Kind: "discount", Discount: "abc"},
				map[string]string{"discount": "rate_card_discount", "reason": "reason_required"}},
			{backoffice.SetRateCardRequest{Kind: "discount", Discount: "100", Reason: "r"}, map[string]string{"discount": "rate_card_discount"}},
			{backoffice.SetRateCardRequest{Kind: "pinned", Pinned: "999", Reason: "r"}, map[string]string{"pinned_version": "rate_card_pinned"}},
			{backoffice.SetRateCardRequest{Kind: "custom", Prices: "gpt-17 1 1 1"},
				map[string]string{"prices": "rate_card_model", "reason": "reason_required"}},
			{backoffice.SetRateCardRequest{Kind: "custom", Prices: "deepseek-chat 1 1", Reason: "r"}, map[string]string{"prices": "rate_card_line"}},
			{backoffice.SetRateCardRequest{Kind: "custom", Prices: "", Reason: "r"}, map[string]string{"prices": "rate_card_no_models"}},
			{backoffice.SetRateCardRequest{Kind: "custom", Prices: "deepseek-chat -1 1 1", Reason: "r"}, map[string]string{"prices": "rate_card_price"}},
		} {
			tc.req.AccountID = c.account.ID
			_, err := b.svc.SetRateCard(b.ctx, tc.req, admin)
			fe, ok := fielderr.As(err)
			require.True(t, ok, "%+v: %v", tc.req, err)
			got := map[string]string{}
			for _, f := range fe.Fields {
				got[f.Name] = f.Code
			}
			require.Equal(t, tc.want, got, "%+v", tc.req)
		}
		require.Empty(t, cards(t, c.account.ID))
	})

	t.Run("ConcurrentApprovalsApplyOnce", func(t *testing.T) {
		c := b.customer(t)
		res, err := b.svc.SetRateCard(b.ctx, backoffice.SetRateCardRequest{AccountID: c.account.ID, Kind: "discount",
			Discount: "35", Reason: "race"}, admin)
		require.NoError(t, err)
		require.True(t, res.Pending)
		approvers := []backoffice.Actor{second, b.staff(t, auth.RoleAdmin), b.staff(t, auth.RoleAdmin), b.staff(t, auth.RoleAdmin)}
		const n = 64
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = b.svc.Approve(b.ctx, res.Approval.ID, approvers[i%len(approvers)]) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, backoffice.ErrApprovalClosed)
			}
		}
		require.Equal(t, 1, ok)
		require.Len(t, cards(t, c.account.ID), 1, "one version")
		require.Len(t, b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID, Action: backoffice.ActionRateCardSet}), 1)
	})
}
