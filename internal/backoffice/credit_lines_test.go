package backoffice_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// TestSetCreditLine: finance grants a line up to the limit at once,
// audited with the balance before and after; a larger line waits for a
// second finance user (the requester cannot approve it) and applies on
// approval; support cannot grant; bad terms are refused field by field.
func TestSetCreditLine(t *testing.T) {
	b := setup(t, setupOpts{creditLines: true, settings: backoffice.Settings{CreditLineLimitFen: 1_000_000}})
	finance := b.staff(t, auth.RoleFinance)
	checker := b.staff(t, auth.RoleFinance)
	support := b.staff(t, auth.RoleSupport)
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "Acme"})
	require.NoError(t, err)
	spec := creditline.Spec{AccountID: acc.ID, LineFen: 1_000_000, BillingDay: 1, TermsDays: 15, GraceDays: 7}

	t.Run("SupportRefused", func(t *testing.T) {
		_, err := b.svc.SetCreditLine(b.ctx, spec, "contract", support)
		require.ErrorIs(t, err, backoffice.ErrForbidden)
	})
	t.Run("FieldErrors", func(t *testing.T) {
		_, err := b.svc.SetCreditLine(b.ctx, creditline.Spec{AccountID: acc.ID, BillingDay: 31, TermsDays: 100, GraceDays: -1}, "x", finance)
		var fe *fielderr.Errors
		require.ErrorAs(t, err, &fe)
		require.Len(t, fe.Fields, 4)
	})
	t.Run("Individual", func(t *testing.T) {
		c := b.customer(t)
		s := spec
		s.AccountID = c.account.ID
		_, err := b.svc.SetCreditLine(b.ctx, s, "x", finance)
		require.ErrorIs(t, err, creditline.ErrNotEnterprise)
	})

	res, err := b.svc.SetCreditLine(b.ctx, spec, "contract 2026-01", finance)
	require.NoError(t, err)
	require.False(t, res.Pending, "at the limit: applies")
	bal := b.balance(t, acc.ID)
	requireDec(t, "10000000", bal.Line, "¥10,000 at ¥0.001")
	requireDec(t, "0", bal.Own())
	rows := b.auditFor(t, backoffice.AuditFilter{AccountID: acc.ID, Action: backoffice.ActionCreditLineSet})
	require.Len(t, rows, 1)
	requireNullDec(t, "0", rows[0].BalanceBefore)
	requireNullDec(t, "10000000", rows[0].BalanceAfter)

	spec.LineFen = 1_000_001
	res, err = b.svc.SetCreditLine(b.ctx, spec, "raise", finance)
	require.NoError(t, err)
	require.True(t, res.Pending, "above the limit: waits")
	requireDec(t, "10000000", b.balance(t, acc.ID).Line, "nothing applied yet")
	_, err = b.svc.Approve(b.ctx, res.Approval.ID, finance)
	require.ErrorIs(t, err, backoffice.ErrSelfApproval)
	_, err = b.svc.Approve(b.ctx, res.Approval.ID, support)
	require.ErrorIs(t, err, backoffice.ErrForbidden)
	a, err := b.svc.Approve(b.ctx, res.Approval.ID, checker)
	require.NoError(t, err)
	require.Equal(t, backoffice.ApprovalApplied, a.State)
	requireDec(t, "10000010", b.balance(t, acc.ID).Line)
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}
