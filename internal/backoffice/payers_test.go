package backoffice_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/refcode"
)

// The customer lookup also finds an account by the gateway client's external
// id and by a transfer order's reference code, however the code is typed.
func TestFindCustomersByExternalIDAndReferenceCode(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)

	external := uniq("tenant-")
	api, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, ExternalID: external, Name: "API customer"})
	require.NoError(t, err)
	found, err := b.svc.FindCustomers(b.ctx, " "+external+" ", support)
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, api.ID, found[0].Account.ID)
	require.Equal(t, "external_id", found[0].MatchedBy)
	_, err = b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Mode: ledger.ModeTest, ExternalID: external + "-t", Name: "sandbox"})
	require.NoError(t, err)
	found, err = b.svc.FindCustomers(b.ctx, external+"-t", support)
	require.NoError(t, err)
	require.Empty(t, found, "a test-mode account never receives bank money")

	c := b.customer(t)
	code := refcode.Generate()
	b.orders.add(t, b.pool, c.account.ID, code, "300.00", "")
	for _, typed := range []string{code, strings.ToLower(refcode.Format(code))} {
		found, err = b.svc.FindCustomers(b.ctx, typed, support)
		require.NoError(t, err)
		require.Len(t, found, 1, typed)
		require.Equal(t, c.account.ID, found[0].Account.ID, typed)
		require.Equal(t, "reference", found[0].MatchedBy)
	}
	found, err = b.svc.FindCustomers(b.ctx, badCheck(code), support)
	require.NoError(t, err)
	require.Empty(t, found, "a mistyped code finds no one")
}

// Finance's resolve form lists candidates with their open transfer orders;
// only finance may search it, and a broad query says there is more.
func TestFindPayerCandidates(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	finance := b.staff(t, auth.RoleFinance)
	name := uniq("Payer Candidate ")
	register := func() customer {
		t.Helper()
		acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: name})
		require.NoError(t, err)
		var u auth.User
		require.NoError(t, db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			u, err = b.users.RegisterTx(b.ctx, tx, auth.RegisterRequest{Login: uniq("payer") + "@example.com", Password: "correct horse battery", Name: name, AccountID: acc.ID})
			return err
		}))
		return customer{account: acc, user: u}
	}
	c := register()
	open := refcode.Generate()
	b.orders.add(t, b.pool, c.account.ID, open, "250.00", "")
	paid := refcode.Generate()
	paidNo := b.orders.add(t, b.pool, c.account.ID, paid, "100.00", "")
	_, err := b.pool.Exec(b.ctx, `UPDATE test_transfer_orders SET paid_at = now() WHERE order_no = $1`, paidNo)
	require.NoError(t, err)

	_, err = b.svc.FindPayerCandidates(b.ctx, name, b.staff(t, auth.RoleSupport))
	require.ErrorIs(t, err, backoffice.ErrForbidden, "the unmatched queue is finance's")

	res, err := b.svc.FindPayerCandidates(b.ctx, name, finance)
	require.NoError(t, err)
	require.False(t, res.More)
	require.Len(t, res.Candidates, 1)
	got := res.Candidates[0]
	require.Equal(t, c.account.ID, got.Account.ID)
	require.Equal(t, c.user.Email, got.User.Email)
	require.Len(t, got.OpenOrders, 1, "a paid order is not open")
	require.Equal(t, open, got.OpenOrders[0].Code)
	requireDec(t, "250", got.OpenOrders[0].Amount)
	require.Empty(t, got.Identity.State, "no verification wired here")

	for range backoffice.PayerCandidateLimit {
		register()
	}
	res, err = b.svc.FindPayerCandidates(b.ctx, name, finance)
	require.NoError(t, err)
	require.True(t, res.More)
	require.Len(t, res.Candidates, backoffice.PayerCandidateLimit)

	res, err = b.svc.FindPayerCandidates(b.ctx, "  ", finance)
	require.NoError(t, err)
	require.Empty(t, res.Candidates)
}

// A statement line's money never lands on a frozen account, nor on a
// sub-account of a frozen enterprise, not even as a request for approval.
func TestResolveToFrozenAccountIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	finance := b.staff(t, auth.RoleFinance)
	support := b.staff(t, auth.RoleSupport)
	small, big := uniq("F"), uniq("F")
	_, err := b.svc.ImportStatement(b.ctx, strings.NewReader(statementCSV(
		[]string{small, "2025/03/03 09:00:00", "冻结公司", "50.00", "贷", "no code"},
		[]string{big, "2025/03/03 09:10:00", "冻结公司", "5000.00", "贷", "no code"},
	)), "frozen.csv", uniq("110-"), finance)
	require.NoError(t, err)
	lineID := func(serial string) int64 {
		q, err := b.svc.UnmatchedLines(b.ctx, serial, 10, finance)
		require.NoError(t, err)
		require.Len(t, q, 1)
		return q[0].ID
	}

	c := b.customer(t)
	require.NoError(t, b.svc.Freeze(b.ctx, c.account.ID, "chargeback", support))
	for _, serial := range []string{small, big} {
		_, err = b.svc.ResolveToAccount(b.ctx, lineID(serial), c.account.ID, "payer phoned", finance)
		require.ErrorIs(t, err, backoffice.ErrAccountFrozen, serial)
	}
	approvals, err := b.svc.Approvals(b.ctx, backoffice.ApprovalFilter{State: backoffice.ApprovalPending, AccountID: c.account.ID})
	require.NoError(t, err)
	require.Empty(t, approvals)

	ent, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "Frozen Ent"})
	require.NoError(t, err)
	sub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: "team"})
	require.NoError(t, err)
	require.NoError(t, b.svc.Freeze(b.ctx, ent.ID, "chargeback", support))
	_, err = b.svc.ResolveToAccount(b.ctx, lineID(small), sub.ID, "payer phoned", finance)
	require.ErrorIs(t, err, backoffice.ErrAccountFrozen, "the enterprise's freeze covers its sub-accounts")

	_, err = b.svc.ResolveToAccount(b.ctx, lineID(small), 1<<40, "payer phoned", finance)
	require.ErrorIs(t, err, backoffice.ErrAccountNotFound)

	require.NoError(t, b.svc.Unfreeze(b.ctx, c.account.ID, "cleared", support))
	r, err := b.svc.ResolveToAccount(b.ctx, lineID(small), c.account.ID, "payer phoned", finance)
	require.NoError(t, err)
	require.True(t, r.Applied)
	requireDec(t, "50000", r.Credits, "¥50 at ¥0.001 per credit")
}

// A large recharge requested before the account was frozen is not applied
// by its approval while the freeze lasts: the request stays pending, and
// applies once the account is unfrozen.
func TestApprovingARechargeToAnAccountFrozenMeanwhileIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	finance, approver := b.staff(t, auth.RoleFinance), b.staff(t, auth.RoleFinance)
	support := b.staff(t, auth.RoleSupport)
	serial := uniq("F")
	_, err := b.svc.ImportStatement(b.ctx, strings.NewReader(statementCSV(
		[]string{serial, "2025/03/03 09:10:00", "冻结公司", "5000.00", "贷", "no code"},
	)), "frozen-later.csv", uniq("110-"), finance)
	require.NoError(t, err)
	q, err := b.svc.UnmatchedLines(b.ctx, serial, 10, finance)
	require.NoError(t, err)
	require.Len(t, q, 1)

	c := b.customer(t)
	res, err := b.svc.ResolveToAccount(b.ctx, q[0].ID, c.account.ID, "payer phoned", finance)
	require.NoError(t, err)
	require.False(t, res.Applied, "above the limit: waits for a second finance user")
	require.NoError(t, b.svc.Freeze(b.ctx, c.account.ID, "chargeback", support))

	_, err = b.svc.Approve(b.ctx, res.Approval.ID, approver)
	require.ErrorIs(t, err, backoffice.ErrAccountFrozen)
	pending, err := b.svc.Approvals(b.ctx, backoffice.ApprovalFilter{State: backoffice.ApprovalPending, AccountID: c.account.ID})
	require.NoError(t, err)
	require.Len(t, pending, 1, "the request is still there to approve or reject")
	bal, err := b.l.Balance(b.ctx, c.account.ID)
	require.NoError(t, err)
	require.True(t, bal.Available.IsZero(), "nothing credited: %s", bal.Available)

	require.NoError(t, b.svc.Unfreeze(b.ctx, c.account.ID, "cleared", support))
	a, err := b.svc.Approve(b.ctx, res.Approval.ID, approver)
	require.NoError(t, err)
	require.Equal(t, backoffice.ApprovalApplied, a.State)
	bal, err = b.l.Balance(b.ctx, c.account.ID)
	require.NoError(t, err)
	requireDec(t, "5000000", bal.Available, "¥5,000 at ¥0.001 per credit")
}
