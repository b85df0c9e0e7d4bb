package backoffice_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/reconcile"
	"github.com/seed75218f88/credits/internal/refcode"
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

	// 0 closes the line while nothing of it is used; negative is refused
	// with the field's error; an account without a line has none to close.
	t.Run("CloseAtZero", func(t *testing.T) {
		closing := spec
		closing.LineFen = -1
		_, err := b.svc.SetCreditLine(b.ctx, closing, "x", finance)
		fe, ok := fielderr.As(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, "line_range", fe.Code("line"))
		other, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "No line"})
		require.NoError(t, err)
		none := spec
		none.AccountID, none.LineFen = other.ID, 0
		_, err = b.svc.SetCreditLine(b.ctx, none, "x", finance)
		fe, ok = fielderr.As(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, "line_none", fe.Code("line"))

		_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("5"), IdempotencyKey: uniq("close-charge")})
		require.NoError(t, err)
		closing.LineFen = 0
		_, err = b.svc.SetCreditLine(b.ctx, closing, "contract ended", finance)
		require.ErrorIs(t, err, ledger.ErrCreditLineInUse, "5 credits of it are used")
		_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("5"), IdempotencyKey: uniq("close-credit")})
		require.NoError(t, err)
		requireDec(t, "5", b.balance(t, acc.ID).LineUsed(), "own credit does not pay the line back: a bill does")
	})
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestCloseUnusedCreditLine: finance sets an unused line to 0: it closes
// at once (below every approval limit), audited, and the account owns
// what it owns with no line left.
func TestCloseUnusedCreditLine(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{creditLines: true, settings: backoffice.Settings{CreditLineLimitFen: 1_000_000}})
	finance := b.staff(t, auth.RoleFinance)
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "Closing"})
	require.NoError(t, err)
	spec := creditline.Spec{AccountID: acc.ID, LineFen: 500_000, BillingDay: 1, TermsDays: 15, GraceDays: 7}
	_, err = b.svc.SetCreditLine(b.ctx, spec, "contract", finance)
	require.NoError(t, err)
	b.credit(t, acc.ID, ledger.LotPaid, "12", nil)
	spec.LineFen = 0
	res, err := b.svc.SetCreditLine(b.ctx, spec, "contract ended", finance)
	require.NoError(t, err)
	require.False(t, res.Pending)
	bal := b.balance(t, acc.ID)
	requireDec(t, "0", bal.Line)
	requireDec(t, "12", bal.Own())
	requireDec(t, "12", bal.Available)
	rows := b.auditFor(t, backoffice.AuditFilter{AccountID: acc.ID, Action: backoffice.ActionCreditLineSet})
	require.Len(t, rows, 2)
	closed := false
	for _, r := range rows {
		closed = closed || (r.BalanceAfter.Valid && r.BalanceAfter.Decimal.Equal(d("12")))
	}
	require.True(t, closed, "the close is audited with the balance after it")
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestStatementLinePaysBillByReferenceCode: a bank statement line whose
// memo holds a bill's reference code pays the bill when its amount is the
// bill's (creditline's PayTx in the import's transaction: the line
// restored, audited bill_paid with the balance before and after); a line
// with another amount stays unmatched as bill_amount_differs, and a second
// line for the paid bill as bill_paid, both for finance to resolve.
func TestStatementLinePaysBillByReferenceCode(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{creditLines: true, settings: backoffice.Settings{CreditLineLimitFen: 10_000_000}})
	finance := b.staff(t, auth.RoleFinance)
	lines := creditline.New(b.pool, b.l, creditline.Options{Now: b.clock.Now})
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "Bill Payer"})
	require.NoError(t, err)
	_, err = b.svc.SetCreditLine(b.ctx, creditline.Spec{AccountID: acc.ID, LineFen: 100000, BillingDay: 1, TermsDays: 10, GraceDays: 5},
		"contract", finance)
	require.NoError(t, err)
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("123450"), IdempotencyKey: uniq("bill-charge")})
	require.NoError(t, err)
	b.clock.Add(40 * 24 * time.Hour)
	bill, closed, err := lines.CloseLine(b.ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, closed)
	require.EqualValues(t, 12345, bill.AmountFen)

	wrong, right, again := uniq("B"), uniq("B"), uniq("B")
	file := statementCSV(
		[]string{wrong, "2025/04/20 09:00:00", "Bill Payer", "123.00", "贷", "账单 " + refcode.Format(bill.ReferenceCode)},
		[]string{right, "2025/04/20 10:00:00", "Bill Payer", "123.45", "贷", "账单 " + strings.ToLower(refcode.Format(bill.ReferenceCode))},
		[]string{again, "2025/04/20 11:00:00", "Bill Payer", "123.45", "贷", bill.ReferenceCode},
	)
	res, err := b.svc.ImportStatement(b.ctx, strings.NewReader(file), "april.csv", uniq("110-"), finance)
	require.NoError(t, err)
	require.Equal(t, backoffice.ImportResult{Inserted: 3, Matched: 1, Unmatched: 2}, res)

	paid, err := lines.Bill(b.ctx, acc.ID, bill.ID)
	require.NoError(t, err)
	require.Equal(t, creditline.StatusPaid, paid.Status)
	require.Equal(t, creditline.PaidByTransfer, paid.PaidVia)
	require.True(t, strings.HasPrefix(paid.PaidRef, "bank_line:"), paid.PaidRef)
	bal := b.balance(t, acc.ID)
	requireDec(t, "0", bal.LineUsed(), "the line is restored")
	requireDec(t, "0", bal.Own(), "no credit was added")

	rows := b.auditFor(t, backoffice.AuditFilter{AccountID: acc.ID, Action: backoffice.ActionBillPaid})
	require.Len(t, rows, 1)
	requireNullDec(t, "876550", rows[0].BalanceBefore, "spendable: the line less what the bill used")
	requireNullDec(t, "1000000", rows[0].BalanceAfter, "the whole line again")
	require.Equal(t, paid.PaidRef, rows[0].Reason)

	queue, err := b.svc.UnmatchedLines(b.ctx, "Bill Payer", 50, finance)
	require.NoError(t, err)
	reasons := map[string]reconcile.Reason{}
	for _, l := range queue {
		reasons[l.Serial] = l.MatchReason
		require.Equal(t, bill.ReferenceCode, l.ReferenceCode, "finance sees which bill the line names")
	}
	require.Equal(t, map[string]reconcile.Reason{wrong: reconcile.ReasonBillAmountDiffers, again: reconcile.ReasonBillPaid}, reasons)
	var matched int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT bill_id FROM bank_statement_lines WHERE serial = $1 AND status = 'matched'`,
		right).Scan(&matched))
	require.Equal(t, bill.ID, matched)
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
	cm, err := lines.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, cm)
}
