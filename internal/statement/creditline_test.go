package statement_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/statement"
)

// TestStatementOfACreditLine: an enterprise tops up, then spends past its
// paid credit into its credit line in October; the bill closes on 1
// November, is paid on the 8th, and the line is spent and held again. Each
// month's statement reconciles with the ledger to the micro-credit and its
// credit line section holds the line, what was used of it, what the account
// owned (negative: owed), and the month's bills with their state at the
// month's end and the totals issued and paid — the same in the PDF's text
// (pdftotext) and the XLSX's cells.
func TestStatementOfACreditLine(t *testing.T) {
	b := setup(t)
	pool := dbtest.Pool(t)
	lines := creditline.New(pool, b.l, creditline.Options{Now: b.clock.Now})
	svc := &statement.Service{Pool: dbtest.AppPool(t), Ledger: b.l, CreditLines: lines}
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "月结"})
	require.NoError(t, err)
	b.at("2026-10-02 02:00:00")
	require.NoError(t, pgx.BeginFunc(b.ctx, pool, func(tx pgx.Tx) error {
		_, err := lines.SetLineTx(b.ctx, tx, creditline.Spec{AccountID: acc.ID, LineFen: 100000, BillingDay: 1, TermsDays: 10, GraceDays: 5}, "staff:1", "t", nil)
		return err
	}))
	b.at("2026-10-03 02:00:00")
	b.credit(t, acc.ID, ledger.LotPaid, ledger.EventPurchase, "5000", 500, nil)
	other, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "欠款"})
	require.NoError(t, err)
	require.NoError(t, pgx.BeginFunc(b.ctx, pool, func(tx pgx.Tx) error {
		_, err := lines.SetLineTx(b.ctx, tx, creditline.Spec{AccountID: other.ID, LineFen: 100000, BillingDay: 1, TermsDays: 10, GraceDays: 5}, "staff:1", "t", nil)
		return err
	}))
	b.charge(t, other.ID, "100", "m", "")
	b.at("2026-10-05 02:00:00")
	b.charge(t, acc.ID, "17345.678901", "m", "") // 5000 paid, then 12345.678901 of the line
	b.at("2026-11-01 02:00:00")                  // 10:00 Beijing time on the billing day
	bill, closed, err := lines.CloseLine(b.ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, closed)
	require.EqualValues(t, 1235, bill.AmountFen, "12345.678901 credits at ¥0.001: ¥12.35")
	_, closed, err = lines.CloseLine(b.ctx, other.ID)
	require.NoError(t, err)
	require.True(t, closed)
	b.at("2026-11-03 02:00:00")
	b.charge(t, acc.ID, "1000", "m", "")
	b.at("2026-11-08 02:00:00")
	_, err = lines.Pay(b.ctx, creditline.Payment{BillID: bill.ID, Via: creditline.PaidByTransfer, Ref: "stmt-1", Actor: "staff:1"})
	require.NoError(t, err)
	b.at("2026-11-20 02:00:00")
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("500"), IdempotencyKey: key(), TTL: 90 * 24 * time.Hour})
	require.NoError(t, err)
	b.at("2026-12-02 02:00:00")

	october, err := svc.Compute(b.ctx, acc.ID, statement.Month{Year: 2026, Month: time.October})
	require.NoError(t, err, "reconciles")
	c := october.Credit
	require.NotNil(t, c)
	requireDec(t, "0", c.LineOpening)
	requireDec(t, "1000000", c.LineClosing, "¥1,000 at ¥0.001")
	requireDec(t, "1000000", october.Movement(statement.CatCreditLine).Total)
	requireDec(t, "12345.678901", c.UsedClosing)
	requireDec(t, "12345.678901", c.Consumed)
	requireDec(t, "0", c.OwnedOpening)
	requireDec(t, "-12345.678901", c.OwnedClosing, "owed: the balance less the line")
	requireDec(t, "987654.321099", october.Closing.Total, "the pool's balance holds the unused line")
	require.Empty(t, c.Bills, "the bill was issued in November")

	st, err := svc.Compute(b.ctx, acc.ID, november)
	require.NoError(t, err, "reconciles")
	c = st.Credit
	require.NotNil(t, c)
	requireDec(t, "12345.678901", c.UsedOpening)
	requireDec(t, "1500", c.UsedClosing, "1000 spent and 500 held, the bill paid")
	requireDec(t, "1000", c.Consumed)
	requireDec(t, "12345.678901", c.Restored)
	requireDec(t, "12345.678901", st.Movement(statement.CatCreditRestore).Total)
	requireDec(t, "-12345.678901", c.OwnedOpening)
	requireDec(t, "-1500", c.OwnedClosing)
	require.Len(t, c.Bills, 1)
	require.Equal(t, creditline.StatusPaid, c.Bills[0].StateAtEnd)
	require.True(t, c.Bills[0].IssuedIn && c.Bills[0].PaidIn)
	require.EqualValues(t, 1235, c.IssuedFen)
	require.EqualValues(t, 1235, c.PaidFen)
	// The ledger and the line agree today (nothing happened since).
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "-1500", bal.Own())
	u, err := lines.Usage(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "1500", u.Used())

	t.Run("StateAtTheMonthsEnd", func(t *testing.T) {
		// Another enterprise's bill of 1 November, never paid: due on the
		// 11th, frozen after its grace on the 16th. November's statement
		// says so, and owes it.
		st2, err := svc.Compute(b.ctx, other.ID, november)
		require.NoError(t, err)
		c := st2.Credit
		require.Len(t, c.Bills, 1)
		require.Equal(t, creditline.StatusFrozen, c.Bills[0].StateAtEnd)
		require.False(t, c.Bills[0].PaidIn)
		require.EqualValues(t, 0, c.PaidFen)
		require.EqualValues(t, 10, c.IssuedFen, "100 credits: ¥0.10")
		requireDec(t, "-100", c.OwnedClosing)
	})
	t.Run("PDF", func(t *testing.T) {
		if _, err := exec.LookPath("pdftotext"); err != nil {
			t.Skip("pdftotext (poppler-utils) not installed")
		}
		raw, err := st.PDF()
		require.NoError(t, err)
		in := filepath.Join(t.TempDir(), "s.pdf")
		require.NoError(t, os.WriteFile(in, raw, 0o600))
		out, err := exec.Command("pdftotext", "-layout", in, "-").CombinedOutput()
		require.NoError(t, err, string(out))
		text := string(out)
		for _, want := range []string{"授信额度", "1,000,000", "授信已用", "12,345.678901", "1,500", "自有余额", "-1,500",
			"授信账单", bill.ReferenceCode, "已付 Paid", "账单付款恢复额度"} {
			require.Contains(t, text, want)
		}
		require.Contains(t, lineWith(text, "本月出账"), "¥12.35", "bills issued")
		require.Contains(t, lineWith(text, "本月还款"), "¥12.35", "bills paid")
		require.Contains(t, lineWith(text, "账单合计 Bills total"), "¥12.35")
	})
	t.Run("XLSX", func(t *testing.T) {
		raw, err := st.XLSX()
		require.NoError(t, err)
		f, err := excelize.OpenReader(bytes.NewReader(raw))
		require.NoError(t, err)
		defer func() { _ = f.Close() }()
		rows, err := f.GetRows(statement.SheetSummary, excelize.Options{RawCellValue: true})
		require.NoError(t, err)
		byLabel := map[string][]string{}
		for _, r := range rows {
			if len(r) > 0 {
				byLabel[r[0]] = r
			}
		}
		require.Equal(t, "12.35", byLabel["本月出账（元）Bills issued (RMB)"][1])
		require.Equal(t, "12.35", byLabel["本月还款（元）Bills paid (RMB)"][1])
		require.Equal(t, "-1500", byLabel["期末自有余额（点，负数为欠款）Owned balance at closing (negative: owed)"][1])
		require.Equal(t, "1000000", byLabel["授信额度（点）Credit line (credits)"][1])
		r := byLabel[bill.ReferenceCode]
		require.Len(t, r, 8)
		require.Equal(t, "12345.678901", r[2])
		require.Equal(t, "12.35", r[3])
	})
}
