package creditline_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// notices records what a Notifier was given.
type notices struct {
	mu  sync.Mutex
	got []creditline.Notice
}

func (n *notices) NotifyTx(_ context.Context, _ pgx.Tx, x creditline.Notice) error {
	n.mu.Lock()
	n.got = append(n.got, x)
	n.mu.Unlock()
	return nil
}

func (n *notices) kinds(billID int64) []creditline.NoticeKind {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []creditline.NoticeKind
	for _, x := range n.got {
		if x.Bill.ID == billID {
			out = append(out, x.Kind)
		}
	}
	return out
}

type testBundle struct {
	ctx     context.Context
	clock   *clock
	l       *ledger.Ledger
	svc     *creditline.Service
	notices *notices
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	// 2026-03-10 10:00 Shanghai
	c := &clock{t: time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)}
	l := ledger.New(pool, ledger.Options{Now: c.Now})
	t.Cleanup(l.Close)
	n := &notices{}
	svc := creditline.New(pool, l, creditline.Options{Now: c.Now, Notify: n})
	return &testBundle{ctx: context.Background(), clock: c, l: l, svc: svc, notices: n}
}

var seq atomic.Int64

func key() string { return fmt.Sprintf("k%d", seq.Add(1)) }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func requireDec(t *testing.T, want string, got decimal.Decimal, msg ...any) {
	t.Helper()
	require.Truef(t, d(want).Equal(got), "want %s, got %s %v", want, got, msg)
}

func (b *testBundle) enterprise(t *testing.T) ledger.Account {
	t.Helper()
	a, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: t.Name()})
	require.NoError(t, err)
	return a
}

func (b *testBundle) grant(t *testing.T, sp creditline.Spec) creditline.Line {
	t.Helper()
	var line creditline.Line
	err := pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		var err error
		line, err = b.svc.SetLineTx(b.ctx, tx, sp, "staff:1", "contract", nil)
		return err
	})
	require.NoError(t, err)
	return line
}

func (b *testBundle) charge(t *testing.T, acc int64, amount string) {
	t.Helper()
	_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d(amount), IdempotencyKey: key(), OccurredAt: b.clock.Now()})
	require.NoError(t, err)
}

func (b *testBundle) verifyClean(t *testing.T) {
	t.Helper()
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
	cm, err := b.svc.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, cm)
}

func TestSpecCheck(t *testing.T) {
	err := creditline.Spec{LineFen: 0, BillingDay: 29, TermsDays: -1, GraceDays: 91}.Check()
	require.Error(t, err)
	for _, f := range []string{"line", "billing_day", "terms_days", "grace_days"} {
		require.Contains(t, err.Error(), f, "every field at once")
	}
	require.NoError(t, creditline.Spec{LineFen: 100, BillingDay: 1, TermsDays: 0, GraceDays: 0}.Check())
}

func TestPeriodEnd(t *testing.T) {
	sh := func(y int, m time.Month, d, h int) time.Time {
		return time.Date(y, m, d, h, 0, 0, 0, time.FixedZone("CST", 8*3600)).UTC()
	}
	require.Equal(t, sh(2026, 3, 5, 0), creditline.PeriodEnd(5, sh(2026, 3, 5, 0)), "the billing day's first instant ends the period")
	require.Equal(t, sh(2026, 2, 5, 0), creditline.PeriodEnd(5, sh(2026, 3, 4, 23)))
	require.Equal(t, sh(2025, 12, 28, 0), creditline.PeriodEnd(28, sh(2026, 1, 27, 12)), "across the year")
}

func TestPeriodName(t *testing.T) {
	sh := func(y int, m time.Month, d, h int) time.Time {
		return time.Date(y, m, d, h, 0, 0, 0, time.FixedZone("CST", 8*3600)).UTC()
	}
	require.Equal(t, "2026-11", creditline.PeriodName(sh(2026, 11, 1, 0), sh(2026, 12, 1, 0)), "a whole month by its month")
	require.Equal(t, "2026-12", creditline.PeriodName(sh(2026, 12, 1, 0), sh(2027, 1, 1, 0)), "across the year")
	require.Equal(t, "2026-11-15 – 2026-12-14", creditline.PeriodName(sh(2026, 11, 15, 0), sh(2026, 12, 15, 0)), "billing day 15: first and last days")
	require.Equal(t, "2026-11-07 – 2026-11-30", creditline.PeriodName(sh(2026, 11, 7, 10), sh(2026, 12, 1, 0)), "a first period from the grant")
}

// TestBillLifecycle: a line is granted; spending goes below zero down to
// minus the line; the billing day's close issues one bill for the
// period's consumption (twice run, once billed), to the fen; the bill goes
// overdue and then frozen (the account cannot spend); paying it gives the
// line back and unfreezes; every notice goes out once; verify agrees.
func TestBillLifecycle(t *testing.T) {
	b := setup(t)
	acc := b.enterprise(t)
	_, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("1000"), IdempotencyKey: key(), PaidFen: 100})
	require.NoError(t, err)
	// ¥500 at ¥0.001 a credit: 500,000 credits; bills on the 5th, due 10 days later, frozen 5 days after.
	line := b.grant(t, creditline.Spec{AccountID: acc.ID, LineFen: 50000, BillingDay: 5, TermsDays: 10, GraceDays: 5})
	requireDec(t, "500000", line.Credits)

	b.charge(t, acc.ID, "1000.5") // 1000 own, 0.5 of the line
	b.charge(t, acc.ID, "1233.123456")
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "-1233.623456", bal.Own(), "in debt, shown")
	u, err := b.svc.Usage(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "1233.623456", u.Unbilled)
	requireDec(t, "1233.623456", u.Used())

	// Before the billing day nothing closes.
	_, closed, err := b.svc.CloseLine(b.ctx, acc.ID)
	require.NoError(t, err)
	require.False(t, closed)

	// 2026-04-05 00:30 Shanghai: the period closes, from two job clients at once.
	b.clock.Set(time.Date(2026, 4, 4, 16, 30, 0, 0, time.UTC))
	var wg sync.WaitGroup
	var issued atomic.Int32
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := b.svc.CloseDue(b.ctx)
			if err != nil {
				t.Errorf("close: %v", err)
			}
			issued.Add(int32(n))
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, issued.Load(), "one bill per line per period")
	b.charge(t, acc.ID, "10") // the next period's
	bills, err := b.svc.Bills(b.ctx, acc.ID)
	require.NoError(t, err)
	require.Len(t, bills, 1)
	bill := bills[0]
	requireDec(t, "1233.623456", bill.Credits)
	require.EqualValues(t, 123, bill.AmountFen, "1233.623456 credits at ¥0.001 = ¥1.233623456, to the fen ¥1.23")
	require.True(t, time.Date(2026, 4, 4, 16, 0, 0, 0, time.UTC).Equal(bill.PeriodEnd), "period end %s", bill.PeriodEnd)
	require.True(t, bill.PeriodEnd.AddDate(0, 0, 10).Equal(bill.DueAt))
	require.Equal(t, creditline.StatusOpen, bill.Status)
	require.Len(t, bill.ReferenceCode, 9)
	u, err = b.svc.Usage(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "1233.623456", u.Unpaid)
	requireDec(t, "10", u.Unbilled)
	requireDec(t, "0", u.Held(), "used = unpaid + unbilled")
	b.verifyClean(t)

	// Two days before the due date: the reminder, once.
	b.clock.Set(bill.DueAt.Add(-48 * time.Hour))
	for range 2 {
		_, err = b.svc.Advance(b.ctx)
		require.NoError(t, err)
	}
	require.Equal(t, []creditline.NoticeKind{creditline.NoticeIssued, creditline.NoticeDueSoon}, b.notices.kinds(bill.ID))

	b.clock.Set(bill.DueAt.Add(time.Minute))
	n, err := b.svc.Advance(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	bill, err = b.svc.Bill(b.ctx, acc.ID, bill.ID)
	require.NoError(t, err)
	require.Equal(t, creditline.StatusOverdue, bill.Status)
	b.charge(t, acc.ID, "1") // overdue: still spends

	b.clock.Set(bill.GraceUntil.Add(time.Minute))
	_, err = b.svc.Advance(b.ctx)
	require.NoError(t, err)
	bill, err = b.svc.Bill(b.ctx, acc.ID, bill.ID)
	require.NoError(t, err)
	require.Equal(t, creditline.StatusFrozen, bill.Status)
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrAccountFrozen, "frozen: holds are refused")

	// 64 concurrent payments of the bill: one restores.
	var ok, paidErr atomic.Int32
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.svc.Pay(b.ctx, creditline.Payment{BillID: bill.ID, Via: creditline.PaidByTransfer, Ref: fmt.Sprintf("line-%d", i), Actor: "staff:2"})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, creditline.ErrBillPaid):
				paidErr.Add(1)
			default:
				t.Errorf("pay: %v", err)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, ok.Load())
	require.EqualValues(t, 63, paidErr.Load())
	bill, err = b.svc.Bill(b.ctx, acc.ID, bill.ID)
	require.NoError(t, err)
	require.Equal(t, creditline.StatusPaid, bill.Status)
	again, err := b.svc.Pay(b.ctx, creditline.Payment{BillID: bill.ID, Via: bill.PaidVia, Ref: bill.PaidRef, Actor: "staff:2"})
	require.NoError(t, err, "the same payment again replays")
	require.Equal(t, bill.RestoreOp, again.RestoreOp)

	a, err := b.l.Account(b.ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.StatusActive, a.Status, "paying unfreezes")
	bal, err = b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "-11", bal.Own(), "what is left owed: the next period's consumption")
	u, err = b.svc.Usage(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "11", u.Used())
	requireDec(t, "0", u.Unpaid)
	require.Equal(t, []creditline.NoticeKind{creditline.NoticeIssued, creditline.NoticeDueSoon, creditline.NoticeOverdue,
		creditline.NoticeFrozen, creditline.NoticePaid}, b.notices.kinds(bill.ID))
	b.verifyClean(t)
}

// TestFreezeKeepsOtherFreeze: an account frozen by staff before its bill
// went frozen stays frozen when the bill is paid.
func TestFreezeKeepsOtherFreeze(t *testing.T) {
	b := setup(t)
	acc := b.enterprise(t)
	b.grant(t, creditline.Spec{AccountID: acc.ID, LineFen: 1000, BillingDay: 1, TermsDays: 0, GraceDays: 0})
	b.charge(t, acc.ID, "100")
	b.clock.Set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	_, _, err := b.svc.CloseLine(b.ctx, acc.ID)
	require.NoError(t, err)
	require.NoError(t, b.l.SetStatus(b.ctx, acc.ID, ledger.StatusFrozen, "staff:1", "fraud"))
	_, err = b.svc.Advance(b.ctx)
	require.NoError(t, err)
	bills, err := b.svc.Bills(b.ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, creditline.StatusFrozen, bills[0].Status)
	_, err = b.svc.Pay(b.ctx, creditline.Payment{BillID: bills[0].ID, Via: creditline.PaidManually, Ref: "r", Actor: "staff:2"})
	require.NoError(t, err)
	a, err := b.l.Account(b.ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.StatusFrozen, a.Status, "staff's freeze is not the line's to lift")
	b.verifyClean(t)
}

func TestOnlyEnterprises(t *testing.T) {
	b := setup(t)
	ind, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "i"})
	require.NoError(t, err)
	err = pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		_, err := b.svc.SetLineTx(b.ctx, tx, creditline.Spec{AccountID: ind.ID, LineFen: 100, BillingDay: 1}, "staff:1", "", nil)
		return err
	})
	require.ErrorIs(t, err, creditline.ErrNotEnterprise)
}
