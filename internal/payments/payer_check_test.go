package payments_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/reconcile"
	"github.com/seed75218f88/credits/internal/refcode"
	"github.com/seed75218f88/credits/internal/verification"
)

// TestStatementPayerMustBeTheVerifiedCompany: with the adapter's payer
// check wired to real-name verification (as `credits serve` wires it), a
// transfer from the verified company pays its order; the same code and
// amount from another payer waits in the unmatched queue as payer_differs
// and credits nothing; an account verified as a person matches on code and
// amount alone.
func TestStatementPayerMustBeTheVerifiedCompany(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	users := auth.New(b.pool, auth.Options{Argon2: auth.Argon2Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	verify := verification.New(b.pool, identity.Sandbox{}, piicrypto.Dev(), piicrypto.DevBlindIndex(), b.l, verification.Options{})
	adapter := b.svc.BackOffice()
	adapter.VerifiedPayer = func(ctx context.Context, accountID int64) (string, error) {
		name, _, err := verify.VerifiedCompanyName(ctx, accountID)
		return name, err
	}
	bo := backoffice.New(b.pool, b.l, users, backoffice.Options{Now: b.clock.Now,
		TransferOrders: adapter, Orders: adapter, ChannelOrders: adapter, Refunder: adapter})
	u, err := users.CreateStaff(b.ctx, auth.StaffRequest{Email: "payer-finance@example.com", Password: "staff password 1", Name: "F", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	finance := backoffice.Actor{User: u, IP: "127.0.0.1"}

	code, err := identity.BuildCreditCode("91110108MA0012345")
	require.NoError(t, err)
	company := b.account(t)
	st, err := verify.SubmitCompany(b.ctx, company, "北京甲科技（集团）有限公司", code, "张三",
		append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...), "licence.png")
	require.NoError(t, err)
	require.Equal(t, verification.StateVerified, st.State)
	person := b.account(t)
	id, err := identity.BuildResidentID("110101", time.Date(1985, 5, 5, 0, 0, 0, 0, time.UTC), 17)
	require.NoError(t, err)
	_, err = verify.SubmitPerson(b.ctx, person, "李四", id)
	require.NoError(t, err)

	fromCompany, err := b.svc.CreateTransferOrder(b.ctx, company, 500000)
	require.NoError(t, err)
	fromOther, err := b.svc.CreateTransferOrder(b.ctx, company, 300000)
	require.NoError(t, err)
	personal, err := b.svc.CreateTransferOrder(b.ctx, person, 200000)
	require.NoError(t, err)
	line := func(serial, payer, amount string, o payments.Order) string {
		return fmt.Sprintf("%s,2025/03/02 09:00:00,%s,6222000011113333,%s,贷,充值 %s\n", serial, payer, amount, o.ReferenceDisplay())
	}
	csv := "交易流水号,交易时间,对方账户名称,对方账号,交易金额,借贷标志,用途\n" +
		// The bank writes the parentheses half-width and adds a space: the same company.
		line("PAYER-1", "北京甲科技 (集团) 有限公司", "5000.00", fromCompany) +
		line("PAYER-2", "某某贸易有限公司", "3000.00", fromOther) +
		line("PAYER-3", "王五", "2000.00", personal)
	res, err := bo.ImportStatement(b.ctx, strings.NewReader(csv), "payer.csv", "110", finance)
	require.NoError(t, err)
	require.Equal(t, backoffice.ImportResult{Inserted: 3, Matched: 2, Unmatched: 1}, res)

	require.Equal(t, payments.StatePaid, b.order(t, fromCompany).State, "the verified company's transfer pays its order")
	require.Equal(t, payments.StatePaid, b.order(t, personal).State, "a person's order matches on code and amount")
	require.NotEqual(t, payments.StatePaid, b.order(t, fromOther).State, "another payer's transfer pays nothing")
	requireDec(t, "5000000", b.byKind(t, company, ledger.LotPaid), "only the company's own transfer is credited")

	queue, err := bo.UnmatchedLines(b.ctx, "PAYER-2", 10, finance)
	require.NoError(t, err)
	require.Len(t, queue, 1)
	require.Equal(t, reconcile.ReasonPayerDiffers, queue[0].MatchReason)
	require.Equal(t, "某某贸易有限公司", queue[0].PayerName)
	require.Equal(t, fromOther.ReferenceCode, queue[0].ReferenceCode, "finance sees which order's code it carried")
}

// TestStatementPayerOfABillMustBeTheVerifiedCompany: a transfer naming a
// credit line bill's reference code, for its amount, is held to the same
// payer rule as one for a transfer order: from another payer it pays
// nothing and waits in the unmatched queue as payer_differs (the bill stays
// open, the line used); from the verified company (written as the bank
// writes it) it pays the bill.
func TestStatementPayerOfABillMustBeTheVerifiedCompany(t *testing.T) {
	t.Parallel()
	bb := setupBills(t)
	users := auth.New(bb.pool, auth.Options{Argon2: auth.Argon2Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	verify := verification.New(bb.pool, identity.Sandbox{}, piicrypto.Dev(), piicrypto.DevBlindIndex(), bb.l, verification.Options{})
	adapter := bb.svc.BackOffice()
	adapter.VerifiedPayer = func(ctx context.Context, accountID int64) (string, error) {
		name, _, err := verify.VerifiedCompanyName(ctx, accountID)
		return name, err
	}
	bo := backoffice.New(bb.pool, bb.l, users, backoffice.Options{Now: bb.clock.Now, CreditLines: bb.lines,
		TransferOrders: adapter, Orders: adapter, ChannelOrders: adapter, Refunder: adapter})
	u, err := users.CreateStaff(bb.ctx, auth.StaffRequest{Email: "bill-payer-finance@example.com", Password: "staff password 1", Name: "F",
		Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	finance := backoffice.Actor{User: u, IP: "127.0.0.1"}

	acc, bill := bb.billed(t)
	code, err := identity.BuildCreditCode("91110108MA0054321")
	require.NoError(t, err)
	st, err := verify.SubmitCompany(bb.ctx, acc, "上海丙信息技术（集团）有限公司", code, "赵六",
		append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...), "licence.png")
	require.NoError(t, err)
	require.Equal(t, verification.StateVerified, st.State)

	line := func(serial, payer string) string {
		return fmt.Sprintf("%s,2025/03/02 09:00:00,%s,6222000011114444,123.45,贷,账单 %s\n", serial, payer, refcode.Format(bill.ReferenceCode))
	}
	head := "交易流水号,交易时间,对方账户名称,对方账号,交易金额,借贷标志,用途\n"
	res, err := bo.ImportStatement(bb.ctx, strings.NewReader(head+line("BILL-PAYER-1", "某某贸易有限公司")), "bill-other.csv", "110", finance)
	require.NoError(t, err)
	require.Equal(t, backoffice.ImportResult{Inserted: 1, Unmatched: 1}, res)
	require.True(t, bb.bill(t, acc, bill.ID).Unpaid(), "another payer's transfer pays no bill")
	bal, err := bb.l.Balance(bb.ctx, acc)
	require.NoError(t, err)
	requireDec(t, "123450", bal.LineUsed(), "the line stays used")
	queue, err := bo.UnmatchedLines(bb.ctx, "BILL-PAYER-1", 10, finance)
	require.NoError(t, err)
	require.Len(t, queue, 1)
	require.Equal(t, reconcile.ReasonPayerDiffers, queue[0].MatchReason, "finance sees why")
	require.Equal(t, bill.ReferenceCode, queue[0].ReferenceCode, "and which bill it named")

	res, err = bo.ImportStatement(bb.ctx, strings.NewReader(head+line("BILL-PAYER-2", "上海丙信息技术 (集团) 有限公司")), "bill-own.csv", "110", finance)
	require.NoError(t, err)
	require.Equal(t, backoffice.ImportResult{Inserted: 1, Matched: 1}, res)
	paid := bb.bill(t, acc, bill.ID)
	require.Equal(t, creditline.StatusPaid, paid.Status, "the company's own transfer pays the bill")
	require.Equal(t, creditline.PaidByTransfer, paid.PaidVia)
}
