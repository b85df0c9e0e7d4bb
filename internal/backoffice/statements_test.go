package backoffice_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/reconcile"
	"github.com/seed75218f88/credits/internal/refcode"
)

// badCheck returns code with its check character changed.
func badCheck(code string) string {
	last := code[len(code)-1]
	for i := 0; i < len(refcode.Alphabet); i++ {
		if refcode.Alphabet[i] != last {
			return code[:len(code)-1] + string(refcode.Alphabet[i])
		}
	}
	return code
}

func TestStatementImport(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	finance := b.staff(t, auth.RoleFinance)
	finance2 := b.staff(t, auth.RoleFinance)
	bankAccount := uniq("110-")

	paying := b.customer(t)
	codeOK, codeAmount, codeUnknown, codeBad := refcode.Generate(), refcode.Generate(), refcode.Generate(), refcode.Generate()
	orderOK := b.orders.add(t, b.pool, paying.account.ID, codeOK, "1000.00", "")
	other := b.customer(t)
	b.orders.add(t, b.pool, other.account.ID, codeAmount, "500.00", "")
	b.orders.add(t, b.pool, other.account.ID, codeBad, "300.00", "")

	s1, s2, s3, s4, s5, s6, s7 := uniq("S"), uniq("S"), uniq("S"), uniq("S"), uniq("S"), uniq("S"), uniq("S")
	file := statementCSV(
		[]string{s1, "2025/03/01 09:00:00", "北京甲公司", "1000.00", "贷", "货款 " + strings.ToLower(refcode.Format(codeOK))},
		[]string{s2, "2025/03/01 10:00:00", "乙公司", "499.00", "贷", "充值 " + codeAmount},
		[]string{s3, "2025/03/01 11:00:00", "丙公司", "200.00", "贷", "ref " + codeUnknown},
		[]string{s4, "2025/03/01 12:00:00", "丁公司", "300.00", "贷", "ref " + badCheck(codeBad)},
		[]string{s5, "2025/03/01 13:00:00", "戊公司", "88.00", "贷", "无附言"},
		[]string{s6, "2025/03/01 14:00:00", "某供应商", "230.50", "借", "采购"},
		[]string{s7, "2025/03/01 15:00:00", "北京甲公司", "1000.00", "贷", "again " + codeOK},
	)

	res, err := b.svc.ImportStatement(b.ctx, strings.NewReader(file), "march.csv", bankAccount, finance)
	require.NoError(t, err)
	require.Equal(t, backoffice.ImportResult{Inserted: 7, Duplicates: 0, Matched: 1, Unmatched: 5}, res)

	t.Run("MatchedOrderCreditedOnce", func(t *testing.T) {
		bal := b.balance(t, paying.account.ID)
		requireDec(t, "1000000", bal.ByKind[ledger.LotPaid], "¥1000 at ¥0.001 per credit")
		var ref string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT statement_ref FROM test_transfer_orders WHERE order_no = $1`, orderOK).Scan(&ref))
		require.True(t, strings.HasPrefix(ref, "bank_line:"))
		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: paying.account.ID, Action: backoffice.ActionLineMatched})
		require.Len(t, rows, 1)
		requireNullDec(t, "0", rows[0].BalanceBefore)
		requireNullDec(t, "1000000", rows[0].BalanceAfter)
	})

	queue, err := b.svc.UnmatchedLines(b.ctx, "", 500, finance)
	require.NoError(t, err)
	reasons := map[string]reconcile.Reason{}
	lineBySerial := map[string]backoffice.QueueLine{}
	for _, l := range queue {
		reasons[l.Serial] = l.MatchReason
		lineBySerial[l.Serial] = l
	}

	t.Run("EverythingElseQueuedWithItsReason", func(t *testing.T) {
		require.Equal(t, reconcile.ReasonAmountDiffers, reasons[s2])
		require.Equal(t, reconcile.ReasonUnknownCode, reasons[s3])
		require.Equal(t, reconcile.ReasonBadCheck, reasons[s4])
		require.Equal(t, reconcile.ReasonNoCode, reasons[s5])
		require.Equal(t, reconcile.ReasonAlreadyPaid, reasons[s7], "a second payment for one order")
		require.NotContains(t, reasons, s1)
		require.NotContains(t, reasons, s6, "debits are not queued")
		requireDec(t, "0", b.balance(t, other.account.ID).Available)
	})

	t.Run("ReimportChangesNothing", func(t *testing.T) {
		again, err := b.svc.ImportStatement(b.ctx, strings.NewReader(file), "march.csv", bankAccount, finance)
		require.NoError(t, err)
		require.Equal(t, backoffice.ImportResult{Inserted: 0, Duplicates: 7}, again)
		requireDec(t, "1000000", b.balance(t, paying.account.ID).Available)
		// Count this statement's lines only: the package's other tests add
		// lines to the same queue while this one runs.
		ours := func(q []backoffice.QueueLine) (n int) {
			for _, l := range q {
				if l.BankAccount == bankAccount {
					n++
				}
			}
			return n
		}
		q2, err := b.svc.UnmatchedLines(b.ctx, "", 500, finance)
		require.NoError(t, err)
		require.Equal(t, 5, ours(queue))
		require.Equal(t, ours(queue), ours(q2))
	})

	t.Run("ResolveSmallLineToAccount", func(t *testing.T) {
		line := lineBySerial[s5]
		target := b.customer(t)
		b.credit(t, target.account.ID, ledger.LotPromo, "7", nil)
		_, err := b.svc.ResolveToAccount(b.ctx, line.ID, target.account.ID, "", finance)
		require.ErrorIs(t, err, backoffice.ErrReasonRequired)
		_, err = b.svc.ResolveToAccount(b.ctx, line.ID, target.account.ID, "payer phoned", b.staff(t, auth.RoleSupport))
		require.ErrorIs(t, err, backoffice.ErrForbidden)

		r, err := b.svc.ResolveToAccount(b.ctx, line.ID, target.account.ID, "payer phoned, account confirmed", finance)
		require.NoError(t, err)
		require.True(t, r.Applied)
		require.Equal(t, ledger.LotPaid, r.Lot.Kind)
		requireDec(t, "88000", r.Credits)
		requireDec(t, "7", r.BalanceBefore)
		requireDec(t, "88007", r.BalanceAfter)
		stored, err := b.svc.Line(b.ctx, line.ID)
		require.NoError(t, err)
		require.Equal(t, reconcile.StatusResolved, stored.Status)
		// The customer's order for it is recorded with the credited lot,
		// and the line names it.
		acc, lot, amount, ok := b.lineOrder(t, line.ID)
		require.True(t, ok, "the credited line is recorded as the customer's order")
		require.Equal(t, []int64{target.account.ID, r.Lot.ID}, []int64{acc, lot})
		requireDec(t, "88.00", amount)
		require.NotNil(t, stored.OrderNo)
		require.Equal(t, fmt.Sprintf("LO%d", line.ID), *stored.OrderNo)

		_, err = b.svc.ResolveToAccount(b.ctx, line.ID, target.account.ID, "again", finance)
		require.ErrorIs(t, err, backoffice.ErrLineNotOpen)
		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: target.account.ID})
		require.Len(t, rows, 1)
		require.Equal(t, backoffice.ActionManualRecharge, rows[0].Action)
		requireNullDec(t, "7", rows[0].BalanceBefore)
		requireNullDec(t, "88007", rows[0].BalanceAfter)
		require.Equal(t, "payer phoned, account confirmed", rows[0].Reason)
	})

	t.Run("LargeRechargeNeedsSecondFinanceUser", func(t *testing.T) {
		// ¥1,000.01 is above the default ¥1,000.00 limit; ¥1,000.00 is not.
		big, atLimit := uniq("S"), uniq("S")
		_, err := b.svc.ImportStatement(b.ctx, strings.NewReader(statementCSV(
			[]string{big, "2025/03/02 09:00:00", "己公司", "1000.01", "贷", "no code"},
			[]string{atLimit, "2025/03/02 09:30:00", "庚公司", "1000.00", "贷", "no code"},
		)), "march2.csv", bankAccount, finance)
		require.NoError(t, err)
		q, err := b.svc.UnmatchedLines(b.ctx, big, 10, finance)
		require.NoError(t, err)
		require.Len(t, q, 1)
		target := b.customer(t)

		r, err := b.svc.ResolveToAccount(b.ctx, q[0].ID, target.account.ID, "wire from 己公司", finance)
		require.NoError(t, err)
		require.False(t, r.Applied)
		requireDec(t, "0", b.balance(t, target.account.ID).Available)
		_, _, _, ok := b.lineOrder(t, q[0].ID)
		require.False(t, ok, "no order while the recharge waits")
		q, err = b.svc.UnmatchedLines(b.ctx, big, 10, finance)
		require.NoError(t, err)
		require.Equal(t, r.Approval.ID, q[0].PendingApprovalID, "the queue shows the line waits for approval")
		_, err = b.svc.ResolveToAccount(b.ctx, q[0].ID, target.account.ID, "twice", finance2)
		require.ErrorIs(t, err, backoffice.ErrApprovalPending)
		require.ErrorIs(t, b.svc.RejectLine(b.ctx, q[0].ID, "oops", finance2), backoffice.ErrApprovalPending)

		_, err = b.svc.Approve(b.ctx, r.Approval.ID, finance)
		require.ErrorIs(t, err, backoffice.ErrSelfApproval)
		_, err = b.svc.Approve(b.ctx, r.Approval.ID, b.staff(t, auth.RoleSupport, auth.RoleAdmin))
		require.ErrorIs(t, err, backoffice.ErrForbidden)
		a, err := b.svc.Approve(b.ctx, r.Approval.ID, finance2)
		require.NoError(t, err)
		require.Equal(t, backoffice.ApprovalApplied, a.State)
		requireDec(t, "1000010", b.balance(t, target.account.ID).ByKind[ledger.LotPaid])
		stored, err := b.svc.Line(b.ctx, q[0].ID)
		require.NoError(t, err)
		require.Equal(t, reconcile.StatusResolved, stored.Status)
		_, _, amount, ok := b.lineOrder(t, q[0].ID)
		require.True(t, ok, "the approval records the customer's order")
		requireDec(t, "1000.01", amount)

		// Exactly the per-action limit applies at once, for a finance user
		// and an account that have not used today's allowance (finance and
		// target count the ¥1,088.01 above toward their day).
		q, err = b.svc.UnmatchedLines(b.ctx, atLimit, 10, finance)
		require.NoError(t, err)
		r, err = b.svc.ResolveToAccount(b.ctx, q[0].ID, b.customer(t).account.ID, "wire from 庚公司", b.staff(t, auth.RoleFinance))
		require.NoError(t, err)
		require.True(t, r.Applied, "exactly the limit applies at once")
	})

	t.Run("RefundToPayerAndReject", func(t *testing.T) {
		require.ErrorIs(t, b.svc.MarkRefundToPayer(b.ctx, lineBySerial[s3].ID, "", "", finance), backoffice.ErrReasonRequired)
		require.NoError(t, b.svc.MarkRefundToPayer(b.ctx, lineBySerial[s3].ID, "unknown payer, send back", "BR-1", finance))
		require.NoError(t, b.svc.RejectLine(b.ctx, lineBySerial[s4].ID, "test transfer by our own staff", finance))
		require.ErrorIs(t, b.svc.RejectLine(b.ctx, lineBySerial[s4].ID, "again", finance), backoffice.ErrLineNotOpen)
		l3, err := b.svc.Line(b.ctx, lineBySerial[s3].ID)
		require.NoError(t, err)
		require.Equal(t, reconcile.StatusRefundToPayer, l3.Status)
		l4, err := b.svc.Line(b.ctx, lineBySerial[s4].ID)
		require.NoError(t, err)
		require.Equal(t, reconcile.StatusRejected, l4.Status)
		require.Equal(t, "test transfer by our own staff", l4.ResolutionNote)
		rows := b.auditFor(t, backoffice.AuditFilter{ActorID: finance.User.ID, Action: backoffice.ActionLineRejected})
		require.Len(t, rows, 1)
	})

	t.Run("ImportIsAudited", func(t *testing.T) {
		rows := b.auditFor(t, backoffice.AuditFilter{ActorID: finance.User.ID, Action: backoffice.ActionStatementImported})
		require.Len(t, rows, 3)
		require.Contains(t, string(rows[len(rows)-1].Detail), `"matched": 1`)
	})
}

func TestStatementImportRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	_, err := b.svc.ImportStatement(b.ctx, strings.NewReader(statementCSV()), "x.csv", "1", b.staff(t, auth.RoleSupport))
	require.ErrorIs(t, err, backoffice.ErrForbidden)
	_, err = b.svc.ImportStatement(b.ctx, strings.NewReader("a,b\n1,2\n"), "x.csv", "1", b.staff(t, auth.RoleFinance))
	require.Error(t, err)
	require.Empty(t, backoffice.Code(err), "a parse error is reconcile's, not ours")
}
