package backoffice_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

func TestGrant(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	finance := b.staff(t, auth.RoleFinance)
	exp := b.clock.Now().Add(30 * 24 * time.Hour)

	grant := func(actor backoffice.Actor, acc int64, amount string) (backoffice.GrantResult, error) {
		return b.svc.Grant(b.ctx, backoffice.GrantRequest{AccountID: acc, Amount: d(amount), ExpiresAt: exp,
			ReasonCode: "outage_compensation", Note: "API outage 3 March", Actor: actor, IdempotencyKey: uniq("g")})
	}

	t.Run("AtTheLimitAppliesAtOnceWithAudit", func(t *testing.T) {
		c := b.customer(t)
		b.credit(t, c.account.ID, ledger.LotPaid, "10", nil)
		res, err := grant(support, c.account.ID, "50000")
		require.NoError(t, err)
		require.True(t, res.Applied)
		require.Equal(t, ledger.LotPromo, res.Lot.Kind)
		require.Equal(t, "outage_compensation", res.Lot.ReasonCode)
		require.WithinDuration(t, exp, *res.Lot.ExpiresAt, time.Second)
		requireDec(t, "50010", b.balance(t, c.account.ID).Available)

		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID})
		require.Len(t, rows, 1)
		r := rows[0]
		require.Equal(t, backoffice.ActionGrant, r.Action)
		require.Equal(t, support.User.Email, r.ActorEmail)
		require.Equal(t, "192.0.2.10", r.IP)
		require.Equal(t, "outage_compensation", r.Reason)
		requireNullDec(t, "10", r.BalanceBefore)
		requireNullDec(t, "50010", r.BalanceAfter)
		require.Contains(t, string(r.Detail), "API outage 3 March")
	})

	t.Run("AboveTheLimitWaitsForFinance", func(t *testing.T) {
		c := b.customer(t)
		res, err := grant(support, c.account.ID, "50000.000001")
		require.NoError(t, err)
		require.False(t, res.Applied)
		require.Equal(t, backoffice.ApprovalPending, res.Approval.State)
		requireDec(t, "0", b.balance(t, c.account.ID).Available, "nothing granted before approval")

		_, err = b.svc.Approve(b.ctx, res.Approval.ID, support)
		require.ErrorIs(t, err, backoffice.ErrSelfApproval, "the requester cannot approve")
		otherSupport := b.staff(t, auth.RoleSupport)
		_, err = b.svc.Approve(b.ctx, res.Approval.ID, otherSupport)
		require.ErrorIs(t, err, backoffice.ErrForbidden, "support cannot approve grants")

		a, err := b.svc.Approve(b.ctx, res.Approval.ID, finance)
		require.NoError(t, err)
		require.Equal(t, backoffice.ApprovalApplied, a.State)
		require.Equal(t, finance.User.ID, *a.DecidedBy)
		bal := b.balance(t, c.account.ID)
		requireDec(t, "50000.000001", bal.ByKind[ledger.LotPromo])
		require.Len(t, bal.Lots, 1)
		require.WithinDuration(t, exp, *bal.Lots[0].ExpiresAt, time.Second, "the customer sees the lot with its expiry")

		_, err = b.svc.Approve(b.ctx, res.Approval.ID, b.staff(t, auth.RoleFinance))
		require.ErrorIs(t, err, backoffice.ErrApprovalClosed)

		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID})
		require.Len(t, rows, 2)
		require.Equal(t, backoffice.ActionApprovalApplied, rows[0].Action)
		require.Equal(t, finance.User.Email, rows[0].ActorEmail)
		requireNullDec(t, "0", rows[0].BalanceBefore)
		requireNullDec(t, "50000.000001", rows[0].BalanceAfter)
		require.Equal(t, backoffice.ActionGrantRequested, rows[1].Action)
		require.Equal(t, support.User.Email, rows[1].ActorEmail)
	})

	t.Run("FinanceRequesterCannotApproveOwnGrant", func(t *testing.T) {
		c := b.customer(t)
		res, err := grant(finance, c.account.ID, "60000")
		require.NoError(t, err)
		require.False(t, res.Applied)
		_, err = b.svc.Approve(b.ctx, res.Approval.ID, finance)
		require.ErrorIs(t, err, backoffice.ErrSelfApproval)
		_, err = b.svc.Reject(b.ctx, res.Approval.ID, finance, "changed my mind")
		require.ErrorIs(t, err, backoffice.ErrSelfApproval)
	})

	t.Run("DatabaseRefusesSelfDecision", func(t *testing.T) {
		c := b.customer(t)
		res, err := grant(support, c.account.ID, "70000")
		require.NoError(t, err)
		_, err = b.pool.Exec(b.ctx, `UPDATE admin_approvals SET state = 'applied', decided_by = requested_by, decided_at = now() WHERE id = $1`, res.Approval.ID)
		require.ErrorContains(t, err, "admin_approvals_not_self")
	})

	t.Run("ConcurrentApprovalsApplyOnce", func(t *testing.T) {
		c := b.customer(t)
		res, err := grant(support, c.account.ID, "80000")
		require.NoError(t, err)
		approvers := []backoffice.Actor{b.staff(t, auth.RoleFinance), b.staff(t, auth.RoleFinance), b.staff(t, auth.RoleFinance), finance}
		var wg sync.WaitGroup
		errs := make([]error, len(approvers))
		for i, a := range approvers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.svc.Approve(b.ctx, res.Approval.ID, a)
			}()
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
		requireDec(t, "80000", b.balance(t, c.account.ID).Available, "applied once")
		applied := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID, Action: backoffice.ActionApprovalApplied})
		require.Len(t, applied, 1)
	})

	t.Run("RejectNeedsReasonAndAppliesNothing", func(t *testing.T) {
		c := b.customer(t)
		res, err := grant(support, c.account.ID, "90000")
		require.NoError(t, err)
		_, err = b.svc.Reject(b.ctx, res.Approval.ID, finance, "")
		require.ErrorIs(t, err, backoffice.ErrReasonRequired)
		a, err := b.svc.Reject(b.ctx, res.Approval.ID, finance, "too much")
		require.NoError(t, err)
		require.Equal(t, backoffice.ApprovalRejected, a.State)
		_, err = b.svc.Approve(b.ctx, res.Approval.ID, b.staff(t, auth.RoleFinance))
		require.ErrorIs(t, err, backoffice.ErrApprovalClosed)
		requireDec(t, "0", b.balance(t, c.account.ID).Available)
		pending, err := b.svc.Approvals(b.ctx, backoffice.ApprovalFilter{AccountID: c.account.ID, State: backoffice.ApprovalPending})
		require.NoError(t, err)
		require.Empty(t, pending)
	})

	t.Run("RepeatWithSameKeyGrantsOnce", func(t *testing.T) {
		c := b.customer(t)
		// A support user with today's allowance untouched (support granted
		// its day's 50,000 above).
		req := backoffice.GrantRequest{AccountID: c.account.ID, Amount: d("100"), ExpiresAt: exp, ReasonCode: "goodwill",
			Actor: b.staff(t, auth.RoleSupport), IdempotencyKey: "form-1"}
		r1, err := b.svc.Grant(b.ctx, req)
		require.NoError(t, err)
		r2, err := b.svc.Grant(b.ctx, req)
		require.NoError(t, err)
		require.Equal(t, r1.Lot.ID, r2.Lot.ID)
		requireDec(t, "100", b.balance(t, c.account.ID).Available)
		require.Len(t, b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID}), 1)

		big := req
		big.Amount, big.IdempotencyKey = d("99999"), "form-2"
		p1, err := b.svc.Grant(b.ctx, big)
		require.NoError(t, err)
		p2, err := b.svc.Grant(b.ctx, big)
		require.NoError(t, err)
		require.Equal(t, p1.Approval.ID, p2.Approval.ID, "a double-submitted form makes one approval request")
	})

	t.Run("Refusals", func(t *testing.T) {
		c := b.customer(t)
		base := backoffice.GrantRequest{AccountID: c.account.ID, Amount: d("1"), ExpiresAt: exp, ReasonCode: "goodwill", Actor: support, IdempotencyKey: uniq("g")}
		for name, tc := range map[string]struct {
			mod  func(*backoffice.GrantRequest)
			want error
		}{
			"UnknownReason":   {func(r *backoffice.GrantRequest) { r.ReasonCode = "because" }, backoffice.ErrUnknownReasonCode},
			"ZeroAmount":      {func(r *backoffice.GrantRequest) { r.Amount = d("0") }, backoffice.ErrInvalidAmount},
			"SevenDecimals":   {func(r *backoffice.GrantRequest) { r.Amount = d("1.0000001") }, backoffice.ErrInvalidAmount},
			"PastExpiry":      {func(r *backoffice.GrantRequest) { r.ExpiresAt = b.clock.Now().Add(-time.Hour) }, backoffice.ErrInvalidExpiry},
			"NoKey":           {func(r *backoffice.GrantRequest) { r.IdempotencyKey = "" }, backoffice.ErrMissingIdempotencyKey},
			"AdminOnly":       {func(r *backoffice.GrantRequest) { r.Actor = b.staff(t, auth.RoleAdmin) }, backoffice.ErrForbidden},
			"NoSuchAccount":   {func(r *backoffice.GrantRequest) { r.AccountID = 1 << 40 }, backoffice.ErrAccountNotFound},
			"CustomerIsStaff": {func(r *backoffice.GrantRequest) { r.Actor = backoffice.Actor{User: c.user} }, backoffice.ErrForbidden},
		} {
			r := base
			tc.mod(&r)
			_, err := b.svc.Grant(b.ctx, r)
			require.ErrorIs(t, err, tc.want, name)
		}
		requireDec(t, "0", b.balance(t, c.account.ID).Available)
	})
}

func TestReasonCodes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	admin := b.staff(t, auth.RoleAdmin)
	support := b.staff(t, auth.RoleSupport)
	vip := uniq("vip_care_")

	codes, err := b.svc.ReasonCodes(b.ctx, false)
	require.NoError(t, err)
	var names []string
	for _, c := range codes {
		names = append(names, c.Code)
	}
	require.Subset(t, names, []string{"outage_compensation", "goodwill", "migration", "sales_promotion"})

	require.ErrorIs(t, b.svc.AddReasonCode(b.ctx, vip, "VIP 关怀", "VIP care", support), backoffice.ErrForbidden)
	require.ErrorIs(t, b.svc.AddReasonCode(b.ctx, "Bad Code", "x", "x", admin), backoffice.ErrInvalidReasonCode)
	require.NoError(t, b.svc.AddReasonCode(b.ctx, vip, "VIP 关怀", "VIP care", admin))
	require.ErrorIs(t, b.svc.AddReasonCode(b.ctx, vip, "VIP 关怀", "VIP care", admin), backoffice.ErrReasonCodeExists)

	c := b.customer(t)
	req := backoffice.GrantRequest{AccountID: c.account.ID, Amount: d("5"), ExpiresAt: b.clock.Now().Add(time.Hour),
		ReasonCode: vip, Actor: support, IdempotencyKey: uniq("g")}
	_, err = b.svc.Grant(b.ctx, req)
	require.NoError(t, err)

	require.NoError(t, b.svc.SetReasonCodeActive(b.ctx, vip, false, admin))
	req.IdempotencyKey = uniq("g")
	_, err = b.svc.Grant(b.ctx, req)
	require.ErrorIs(t, err, backoffice.ErrUnknownReasonCode, "a deactivated code cannot be used")
	active, err := b.svc.ReasonCodes(b.ctx, false)
	require.NoError(t, err)
	for _, c := range active {
		require.NotEqual(t, vip, c.Code)
	}
	all, err := b.svc.ReasonCodes(b.ctx, true)
	require.NoError(t, err)
	found := false
	for _, c := range all {
		if c.Code == vip {
			found = true
			require.False(t, c.Active)
			require.Equal(t, "VIP care", c.Label("en"))
		}
	}
	require.True(t, found, "the admin list still shows the deactivated code")
	require.Len(t, b.auditFor(t, backoffice.AuditFilter{ActorID: admin.User.ID}), 2)
}
