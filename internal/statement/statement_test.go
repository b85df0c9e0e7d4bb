package statement_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/statement"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func key() string { return uuid.NewString() }

// clock is the ledger's and the service's time, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

type testBundle struct {
	ctx   context.Context
	clock *clock
	l     *ledger.Ledger
	svc   *statement.Service
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	c := &clock{t: utc("2026-10-20 02:00:00")}
	l := ledger.New(dbtest.Pool(t), ledger.Options{Now: c.Now})
	t.Cleanup(l.Close)
	return &testBundle{ctx: context.Background(), clock: c, l: l,
		svc: &statement.Service{Pool: dbtest.AppPool(t), Ledger: l}}
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t
}

func (b *testBundle) at(s string) { b.clock.Set(utc(s)) }

func (b *testBundle) credit(t *testing.T, acc int64, kind ledger.LotKind, typ ledger.EventType, amount string, fen int64, exp *time.Time) ledger.Lot {
	t.Helper()
	r, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc, Kind: kind, EventType: typ, Amount: d(amount),
		PaidFen: fen, ExpiresAt: exp, IdempotencyKey: key(), Actor: "test"})
	require.NoError(t, err)
	return r.Lot
}

func (b *testBundle) charge(t *testing.T, acc int64, amount, model, project string) {
	t.Helper()
	r, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d(amount), Model: model, Project: project, IdempotencyKey: key()})
	require.NoError(t, err)
	require.True(t, r.Unpaid.IsZero())
}

func requireDec(t *testing.T, want string, got decimal.Decimal, msg ...any) {
	t.Helper()
	require.True(t, d(want).Equal(got), "want %s, got %s %v", want, got, fmt.Sprint(msg...))
}

var november = statement.Month{Year: 2026, Month: time.November}

// seedIndividual writes every movement kind around and inside November
// 2026 in Beijing time, which runs from 2026-10-31 16:00 to 2026-11-30
// 16:00 UTC, with events one second either side of both boundaries.
func seedIndividual(t *testing.T, b *testBundle) ledger.Account {
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "张三的账户"})
	require.NoError(t, err)
	id := acc.ID
	b.credit(t, id, ledger.LotPaid, "", "1000", 100, nil)
	b.credit(t, id, ledger.LotPromo, "", "200", 0, nil)
	b.at("2026-10-31 15:59:59") // October, Beijing 23:59:59
	b.charge(t, id, "50", "m-a", "p1")
	b.at("2026-10-31 16:00:00") // November 1st, 00:00 Beijing
	paid := b.credit(t, id, ledger.LotPaid, "", "500", 50, nil)
	bonus := b.credit(t, id, ledger.LotPromo, "", "50", 0, nil)
	b.at("2026-11-04 01:00:00")
	planExp := utc("2026-12-05 00:00:00")
	b.credit(t, id, ledger.LotPlan, "", "300", 0, &planExp)
	b.at("2026-11-05 01:00:00")
	b.credit(t, id, ledger.LotGrace, "", "10", 0, nil)
	b.at("2026-11-06 01:00:00")
	b.credit(t, id, ledger.LotPromo, ledger.EventAdjustment, "7", 0, nil)
	b.at("2026-11-10 01:00:00")
	b.charge(t, id, "120", "m-a", "p1")
	b.charge(t, id, "80", "m-b", "")
	b.at("2026-11-12 01:00:00")
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: id, Amount: d("40"), TTL: 90 * 24 * time.Hour, Model: "m-b", IdempotencyKey: key()})
	require.NoError(t, err)
	b.at("2026-11-15 01:00:00")
	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: id, Amount: d("30"), TTL: time.Hour, Model: "m-b", IdempotencyKey: key()})
	require.NoError(t, err)
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("25")})
	require.NoError(t, err)
	b.at("2026-11-16 01:00:00")
	promoExp := utc("2026-11-20 00:00:00")
	b.credit(t, id, ledger.LotPromo, "", "100", 0, &promoExp)
	b.at("2026-11-21 01:00:00")
	_, err = b.l.ExpireDue(b.ctx, 1000)
	require.NoError(t, err)
	b.at("2026-11-22 01:00:00")
	_, err = b.l.Refund(b.ctx, ledger.RefundRequest{LotID: paid.ID, Amount: d("100"), Fen: 10, IdempotencyKey: key(), Actor: "test", Reason: "test",
		Bonus: &ledger.BonusRevocation{LotID: bonus.ID, Revoked: d("5")}})
	require.NoError(t, err)
	b.at("2026-11-30 15:59:59") // November 30th, 23:59:59 Beijing
	b.charge(t, id, "33", "m-c", "p2")
	b.at("2026-11-30 16:00:00") // December 1st, 00:00 Beijing
	b.charge(t, id, "44", "m-c", "p2")
	b.at("2026-12-15 04:00:00")
	return acc
}

func TestStatementReconcilesEveryMovementAcrossTheShanghaiMonth(t *testing.T) {
	b := setup(t)
	acc := seedIndividual(t, b)

	st, err := b.svc.Compute(b.ctx, acc.ID, november)
	require.NoError(t, err)

	// Opening: 1000 paid + 200 promo, less October's 50 (granted before paid).
	requireDec(t, "1150", st.Opening.Total)
	requireDec(t, "1000", st.Opening.Of(ledger.LotPaid))
	requireDec(t, "150", st.Opening.Of(ledger.LotPromo))
	for _, c := range []struct {
		cat    statement.Category
		amount string
		bucket ledger.LotKind // "" when spread over buckets
	}{
		{statement.CatTopUp, "500", ledger.LotPaid},
		{statement.CatGrant, "150", ledger.LotPromo},
		{statement.CatPlanCredit, "300", ledger.LotPlan},
		{statement.CatGrace, "10", ledger.LotGrace},
		{statement.CatAdjustment, "7", ledger.LotPromo},
		{statement.CatConsumption, "-258", ""}, // 120 + 80 + 25 + 33: not October's 50, not December's 44
		{statement.CatHolds, "-40", ""},        // the hold still open; the committed one released
		{statement.CatExpiry, "-100", ledger.LotPromo},
		{statement.CatRefund, "-100", ledger.LotPaid},
		{statement.CatBonusRevoke, "-5", ledger.LotPromo},
		{statement.CatOther, "0", ""},
	} {
		mv := st.Movement(c.cat)
		requireDec(t, c.amount, mv.Total, c.cat)
		if c.bucket != "" {
			requireDec(t, c.amount, mv.Of(c.bucket), c.cat)
		}
	}
	require.EqualValues(t, 50, st.TopUpFen)
	require.EqualValues(t, 10, st.RefundFen)

	// Closing = opening + movements, bucket by bucket, and equals the ledger.
	requireDec(t, "1614", st.Closing.Total)
	for _, k := range statement.Buckets {
		sum := st.Opening.Of(k)
		for _, mv := range st.Movements {
			sum = sum.Add(mv.Of(k))
		}
		requireDec(t, sum.String(), st.Closing.Of(k), k)
	}
	endNov, err := b.l.BalanceAt(b.ctx, acc.ID, utc("2026-11-30 15:59:59"))
	require.NoError(t, err)
	requireDec(t, endNov.String(), st.Closing.Total)
	startNov, err := b.l.BalanceAt(b.ctx, acc.ID, utc("2026-10-31 15:59:59"))
	require.NoError(t, err)
	requireDec(t, startNov.String(), st.Opening.Total)

	// Consumption by model and project: the boundary charges in their months.
	byModel := map[string]string{}
	for _, u := range st.ByModel {
		byModel[u.Key] = u.Credits.String()
	}
	require.Equal(t, map[string]string{"m-a": "120", "m-b": "105", "m-c": "33"}, byModel)
	byProject := map[string]string{}
	for _, u := range st.ByProject {
		byProject[u.Key] = u.Credits.String()
	}
	require.Equal(t, map[string]string{"p1": "120", "": "105", "p2": "33"}, byProject)

	// December opens where November closed; its closing buckets are today's lots.
	b.at("2027-01-02 00:00:00")
	dec, err := b.svc.Compute(b.ctx, acc.ID, statement.Month{Year: 2026, Month: time.December})
	require.NoError(t, err)
	requireDec(t, st.Closing.Total.String(), dec.Opening.Total)
	for _, k := range statement.Buckets {
		requireDec(t, st.Closing.Of(k).String(), dec.Opening.Of(k), k)
	}
	requireDec(t, "-44", dec.Movement(statement.CatConsumption).Total)
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	for _, k := range statement.Buckets {
		requireDec(t, bal.ByKind[k].String(), dec.Closing.Of(k), "closing vs lots now", k)
	}
}

func TestStatementOfAnEnterpriseByAccountAndTransfers(t *testing.T) {
	b := setup(t)
	ent, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "某某科技有限公司"})
	require.NoError(t, err)
	a300, a100 := d("300"), d("100")
	s1, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: "研发部", Allocation: &a300})
	require.NoError(t, err)
	s2, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: "市场部", Allocation: &a100})
	require.NoError(t, err)
	b.credit(t, ent.ID, ledger.LotPaid, "", "1000", 100, nil)
	b.at("2026-11-02 01:00:00")
	_, err = b.l.Transfer(b.ctx, ledger.TransferRequest{From: s1.ID, To: s2.ID, Amount: d("50"), IdempotencyKey: key(), Actor: "test"})
	require.NoError(t, err)
	b.at("2026-11-03 01:00:00")
	b.charge(t, s1.ID, "60", "m-a", "alpha")
	b.charge(t, s2.ID, "40", "m-a", "beta")
	b.at("2026-11-30 15:59:59")
	b.charge(t, s2.ID, "10", "m-a", "beta")
	b.at("2026-11-30 16:00:00")
	b.charge(t, s1.ID, "20", "m-a", "alpha")
	b.at("2026-12-02 00:00:00")

	st, err := b.svc.Compute(b.ctx, ent.ID, november)
	require.NoError(t, err)
	requireDec(t, "1000", st.Opening.Total)
	requireDec(t, "-110", st.Movement(statement.CatConsumption).Total)
	requireDec(t, "890", st.Closing.Total)
	require.EqualValues(t, 1, st.TransferOps)
	requireDec(t, "50", st.TransferMoved)
	byAccount := map[string]string{}
	for _, u := range st.ByAccount {
		byAccount[u.Key] = u.Credits.String()
	}
	require.Equal(t, map[string]string{"研发部": "60", "市场部": "50"}, byAccount)

	t.Run("SubAccountHasNoStatement", func(t *testing.T) {
		_, err := b.svc.Compute(b.ctx, s1.ID, november)
		require.ErrorIs(t, err, statement.ErrNotFound)
	})
	t.Run("OpenOrFutureMonthIsNotFound", func(t *testing.T) {
		_, err := b.svc.Compute(b.ctx, ent.ID, statement.Month{Year: 2026, Month: time.December})
		require.ErrorIs(t, err, statement.ErrNotFound)
		_, err = b.svc.Compute(b.ctx, ent.ID, statement.Month{Year: 2025, Month: time.January})
		require.ErrorIs(t, err, statement.ErrNotFound)
	})
	t.Run("MonthsListsClosedMonthsNewestFirst", func(t *testing.T) {
		ms, err := b.svc.Months(b.ctx, ent.ID)
		require.NoError(t, err)
		require.Equal(t, []statement.Month{{Year: 2026, Month: time.November}, {Year: 2026, Month: time.October}}, ms)
	})
}

// TestStatementDocumentsHoldTheTotals renders November's PDF and XLSX and
// reads them back: pdftotext finds the totals, the cells hold them exactly.
func TestStatementDocumentsHoldTheTotals(t *testing.T) {
	b := setup(t)
	acc := seedIndividual(t, b)
	st, err := b.svc.Compute(b.ctx, acc.ID, november)
	require.NoError(t, err)

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
		for _, want := range []string{"月度对账单", "张三的账户", "2026-11", "2026-11-01 00:00", "2026-12-01 00:00",
			"期初余额", "1,150", "期末余额", "1,614", "-258", "充值 Top-ups", "500", "-100", "¥0.50", "¥0.10",
			"m-a", "120", "m-b", "105", "m-c", "33"} {
			require.Contains(t, text, want)
		}
		closing := lineWith(text, "期末余额")
		require.Contains(t, closing, "1,614")
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
		total := func(label string) string { r := byLabel[label]; return r[len(r)-1] }
		require.Equal(t, "1150", total("期初余额 Opening balance"))
		require.Equal(t, "1614", total("期末余额 Closing balance"))
		require.Equal(t, "-258", total("消费 Consumption"))
		require.Equal(t, "500", total("充值 Top-ups"))
		require.Equal(t, "0.50", byLabel["充值金额（元）Paid for top-ups (RMB)"][1])
		typ, err := f.GetCellType(statement.SheetSummary, "B5")
		require.NoError(t, err)
		require.NotEqual(t, excelize.CellTypeInlineString, typ)
		usage, err := f.GetRows(statement.SheetUsage, excelize.Options{RawCellValue: true})
		require.NoError(t, err)
		sum := decimal.Zero
		for _, r := range usage[1:] {
			sum = sum.Add(d(r[5]))
		}
		requireDec(t, "258", sum)
	})
}

func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

var _ = format.Shanghai
