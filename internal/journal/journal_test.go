package journal_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var n int

func key(p string) string { n++; return fmt.Sprintf("%s-%d", p, n) }

// order records a paid payment order of the channel for a lot (the row
// payments writes when it credits the lot).
func order(t *testing.T, pool *pgxpool.Pool, acc int64, no, channel string, fenPaid int64, lot *int64, at time.Time) {
	t.Helper()
	var ref *string
	if channel == "bank_transfer" {
		r := "REF" + no
		ref = &r
	}
	_, err := pool.Exec(context.Background(), `INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state,
		reference_code, expires_at, paid_at, paid_fen, paid_lot_id, created_at, updated_at)
		VALUES ($1, $2, $3, 1, $4, 'paid', $5, $6, $6, $3, $7, $6, $6)`, no, acc, fenPaid, channel, ref, at, lot)
	require.NoError(t, err)
}

// TestJournal seeds a week: top-ups through each channel and a manual
// recharge, a bonus and a promotional grant, consumption of promotional and
// paid credit, the expiry of a paid and a promotional lot, a refund that
// keeps back spent bonus, and a plan fee paid, earned and partly refunded.
// The journal's lines balance every day and every voucher, its totals
// reconcile with the revenue report to the fen, each channel's clearing
// account holds what went through it, and promotional credit appears only
// as memo lines.
func TestJournal(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	sh := backoffice.Shanghai
	c := &clock{t: time.Date(2031, 3, 1, 10, 0, 0, 0, sh)}
	l := ledger.New(pool, ledger.Options{Now: c.Now})
	t.Cleanup(l.Close)
	users := auth.New(pool, auth.Options{Now: c.Now, Argon2: auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	day := 24 * time.Hour
	start := c.Now()
	var planNo = "PLAN-ORDER-1"
	fees := func(ctx context.Context, before time.Time) ([]backoffice.PlanFee, error) {
		f := backoffice.PlanFee{OrderNo: planNo, Purpose: "plan", Cycle: "monthly", Fen: 30000, PaidAt: start,
			Start: start, End: start.Add(10 * day), Refunds: []backoffice.PlanFeeRefund{{At: start.Add(4 * day), Fen: 10000}}}
		if !f.PaidAt.Before(before) {
			return nil, nil
		}
		return []backoffice.PlanFee{f}, nil
	}
	lines := creditline.New(pool, l, creditline.Options{Now: c.Now})
	bo := backoffice.New(pool, l, users, backoffice.Options{Now: c.Now, PlanFees: fees, CreditLines: lines})
	staff, err := users.CreateStaff(ctx, auth.StaffRequest{Email: "finance@example.com", Password: "correct horse battery", Name: "Fin",
		Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	finance := backoffice.Actor{User: staff, IP: "192.0.2.1"}
	accounts := journal.DefaultAccounts()
	svc := journal.New(pool, bo, journal.Options{PlanFees: fees, CreditLines: lines, Accounts: func() journal.Accounts { return accounts }})

	acc, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "journal"})
	require.NoError(t, err)
	credit := func(kind ledger.LotKind, amount string, paidFen int64, exp *time.Time) ledger.Lot {
		t.Helper()
		typ := ledger.EventGrant
		if kind == ledger.LotPaid {
			typ = ledger.EventPurchase
		}
		r, err := l.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: kind, Amount: d(amount), ExpiresAt: exp, EventType: typ,
			IdempotencyKey: key("credit"), Actor: "test", PaidFen: paidFen})
		require.NoError(t, err)
		return r.Lot
	}

	// Day 1: WeChat ¥100.00 (100 credits, a 10-credit bonus), Alipay ¥200.00,
	// bank transfer ¥333.33, a manual recharge of ¥50.00 (no order) and a
	// 20-credit promotional grant both expiring on day 3; the plan order
	// (Alipay).
	wx := credit(ledger.LotPaid, "100", 10000, nil)
	order(t, pool, acc.ID, "WX1", "wechat", 10000, &wx.ID, c.Now())
	bonus := credit(ledger.LotPromo, "10", 0, nil)
	ali := credit(ledger.LotPaid, "200", 20000, nil)
	order(t, pool, acc.ID, "ALI1", "alipay", 20000, &ali.ID, c.Now())
	bank := credit(ledger.LotPaid, "333.33", 33333, nil)
	order(t, pool, acc.ID, "BANK1", "bank_transfer", 33333, &bank.ID, c.Now())
	promoExp := c.Now().Add(2 * day)
	credit(ledger.LotPaid, "50", 5000, &promoExp)
	credit(ledger.LotPromo, "20", 0, &promoExp)
	order(t, pool, acc.ID, planNo, "alipay", 30000, nil, c.Now())

	// An enterprise on a credit line (billing day the 3rd): it spends
	// 123456.789 credits of it on day 1 (¥123.46 at ¥0.001), its bill
	// closes on day 3, is paid by bank transfer on day 4 and 1000 more
	// credits (¥1.00) are spent on day 4, not billed yet.
	ent, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "月结"})
	require.NoError(t, err)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := lines.SetLineTx(ctx, tx, creditline.Spec{AccountID: ent.ID, LineFen: 1_000_000, BillingDay: 3, TermsDays: 10}, "staff:1", "t", nil)
		return err
	}))
	_, err = l.Charge(ctx, ledger.ChargeRequest{AccountID: ent.ID, Amount: d("123456.789"), IdempotencyKey: key("line")})
	require.NoError(t, err)

	// Day 2: usage of 35.678901 credits: the grant, then the manual lot
	// (soonest expiry first, promotional before paid).
	c.Add(day)
	_, err = l.Charge(ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("35.678901"), IdempotencyKey: key("charge")})
	require.NoError(t, err)
	lateExp := c.Now().Add(time.Hour)
	credit(ledger.LotPromo, "7", 0, &lateExp)
	// Day 3 (after the expiries): the manual lot's rest and the late grant
	// expire; then usage of 15 credits spends the bonus and 5 of WeChat's.
	c.Add(day + time.Hour)
	for {
		n, err := l.ExpireDue(ctx, 100)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	_, err = l.Charge(ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("15"), IdempotencyKey: key("charge")})
	require.NoError(t, err)
	bill, closed, err := lines.CloseLine(ctx, ent.ID)
	require.NoError(t, err)
	require.True(t, closed)
	require.EqualValues(t, 12346, bill.AmountFen)
	// Day 4: refund 40 credits of the WeChat lot (¥40.00 at its price),
	// keeping back ¥10.00 for the 10 bonus credits already spent.
	c.Add(day)
	_, err = l.Refund(ctx, ledger.RefundRequest{LotID: wx.ID, Amount: d("40"), Fen: 4000, IdempotencyKey: key("refund"), Actor: "test",
		Bonus: &ledger.BonusRevocation{LotID: bonus.ID, Charged: d("10"), ChargedFen: 1000}})
	require.NoError(t, err)
	_, err = lines.Pay(ctx, creditline.Payment{BillID: bill.ID, Via: creditline.PaidByTransfer, Ref: "stmt-9", Actor: "staff:1"})
	require.NoError(t, err)
	_, err = l.Charge(ctx, ledger.ChargeRequest{AccountID: ent.ID, Amount: d("1000"), IdempotencyKey: key("line")})
	require.NoError(t, err)

	from := time.Date(2031, 3, 1, 0, 0, 0, 0, sh)
	to := from.AddDate(0, 0, 7)
	j, err := svc.Journal(ctx, from, to, finance)
	require.NoError(t, err)
	rep, err := bo.Revenue(ctx, from, to, backoffice.Daily, finance)
	require.NoError(t, err)
	require.Len(t, j.Days, 7)
	fen := func(x decimal.Decimal) int64 { return x.Shift(2).IntPart() }

	t.Run("EveryDayAndVoucherBalances", func(t *testing.T) {
		for _, dd := range j.Days {
			require.Equal(t, dd.Debit, dd.Credit, "day %s", dd.Date)
			byVoucher := map[int][2]int64{}
			for _, ln := range dd.Lines {
				require.False(t, ln.Debit != 0 && ln.Credit != 0, "a line is a debit or a credit")
				require.GreaterOrEqual(t, ln.Debit, int64(0))
				require.GreaterOrEqual(t, ln.Credit, int64(0))
				v := byVoucher[ln.Voucher]
				v[0] += ln.Debit
				v[1] += ln.Credit
				byVoucher[ln.Voucher] = v
			}
			for n, v := range byVoucher {
				require.Equal(t, v[0], v[1], "day %s voucher %d", dd.Date, n)
			}
		}
		require.Positive(t, j.Days[0].Debit)
	})

	t.Run("ReconcilesWithTheRevenueReport", func(t *testing.T) {
		tot := j.Totals()
		r := rep.Total.RMB
		net := func(a journal.Account) int64 { return tot[a][1] - tot[a][0] } // credit balance
		revenue := net(journal.UsageRevenue) + net(journal.BreakageRevenue) + net(journal.PlanRevenue) + net(journal.OutputVAT)
		require.Equal(t, fen(r.Recognised)+fen(r.Breakage)+fen(r.PlanFeesRecognised)+fen(r.PostpaidRecognised), revenue, "revenue with its VAT")
		require.Equal(t, fen(r.ReceivableClosing)-fen(r.ReceivableOpening), -net(journal.Receivable), "receivable")
		require.Equal(t, fen(r.DeferredClosing)-fen(r.DeferredOpening), net(journal.TopupLiability), "contract liability: top-ups")
		require.Equal(t, fen(r.PlanDeferredClosing)-fen(r.PlanDeferredOpening), net(journal.PlanLiability), "contract liability: plans")
		var cash int64
		for _, a := range []journal.Account{journal.ClearingWechat, journal.ClearingAlipay, journal.ClearingBank, journal.ClearingOther} {
			cash -= net(a)
		}
		require.Equal(t, fen(r.PaidPurchased)-fen(r.PaidRefunded)+fen(r.PlanFeesReceived)-fen(r.PlanFeesRefunded)+fen(r.BillsPaid), cash, "cash")
		// The seeded figures themselves.
		require.Equal(t, int64(10000+20000+33333+5000), fen(r.PaidPurchased))
		require.Equal(t, int64(3000), fen(r.PaidRefunded), "¥40 refunded less ¥10 kept back for spent bonus")
		require.Equal(t, int64(30000), fen(r.PlanFeesReceived))
		require.Equal(t, int64(10000), fen(r.PlanFeesRefunded))
		require.Equal(t, int64(12346+100), fen(r.PostpaidRecognised), "the line's consumption")
		require.Equal(t, int64(12346), fen(r.BillsPaid), "the bill")
		require.Equal(t, [2]int64{12446, 12346}, tot[journal.Receivable], "receivable: consumption in, the bill paid out")
		// Day by day too.
		for i, dd := range j.Days {
			row := rep.Rows[i].RMB
			var rev int64
			for _, ln := range dd.Lines {
				switch ln.Account {
				case journal.UsageRevenue, journal.BreakageRevenue, journal.PlanRevenue, journal.OutputVAT:
					rev += ln.Credit - ln.Debit
				}
			}
			require.Equal(t, fen(row.Recognised)+fen(row.Breakage)+fen(row.PlanFeesRecognised)+fen(row.PostpaidRecognised), rev, "day %s", dd.Date)
		}
	})

	t.Run("CashByChannel", func(t *testing.T) {
		tot := j.Totals()
		require.Equal(t, [2]int64{10000, 3000}, tot[journal.ClearingWechat], "WeChat: top-up in, refund out")
		require.Equal(t, [2]int64{20000 + 30000, 10000}, tot[journal.ClearingAlipay], "Alipay: top-up and plan in, plan refund out")
		require.Equal(t, [2]int64{33333 + 12346, 0}, tot[journal.ClearingBank], "the top-up and the bill paid by transfer")
		require.Equal(t, [2]int64{5000, 0}, tot[journal.ClearingOther], "the manual recharge")
		for _, ln := range j.Days[0].Lines {
			if ln.Account == journal.ClearingBank {
				require.Equal(t, "1002", ln.Code)
				require.Equal(t, journal.KindTopup, ln.Kind)
			}
		}
		var billPaid []journal.Line
		for _, ln := range j.Days[3].Lines {
			if ln.Kind == journal.KindBillPaid {
				billPaid = append(billPaid, ln)
			}
		}
		require.Len(t, billPaid, 2, "Dr bank, Cr receivable")
		require.Equal(t, journal.ClearingBank, billPaid[0].Account)
		require.EqualValues(t, 12346, billPaid[0].Debit)
		require.Equal(t, journal.Receivable, billPaid[1].Account)
		require.Equal(t, "1122", billPaid[1].Code)
		require.EqualValues(t, 12346, billPaid[1].Credit)
	})

	t.Run("VATSplitAtTheRate", func(t *testing.T) {
		net, vat := journal.SplitVAT(10600, d("6"))
		require.Equal(t, int64(10000), net)
		require.Equal(t, int64(600), vat)
		net, vat = journal.SplitVAT(1, d("6"))
		require.Equal(t, int64(1), net+vat)
		for _, dd := range j.Days {
			var gross, tax int64
			for _, ln := range dd.Lines {
				switch ln.Account {
				case journal.UsageRevenue, journal.BreakageRevenue, journal.PlanRevenue:
					gross += ln.Credit
				case journal.OutputVAT:
					tax += ln.Credit
				}
			}
			// Each line is split separately: within a fen per revenue line.
			_, want := journal.SplitVAT(gross+tax, accounts.VATRate)
			require.InDelta(t, want, tax, 3, "day %s", dd.Date)
		}
		require.Positive(t, j.Totals()[journal.OutputVAT][1])
	})

	t.Run("PromotionalCreditOnlyAsMemo", func(t *testing.T) {
		var granted, spent, expired decimal.Decimal
		for _, dd := range j.Days {
			for _, ln := range dd.Lines {
				if ln.Kind != journal.KindPromo {
					require.False(t, ln.Memo)
					continue
				}
				require.True(t, ln.Memo)
				require.Zero(t, ln.Debit)
				require.Zero(t, ln.Credit)
				require.Equal(t, journal.PromoMemo, ln.Account)
				switch ln.Item {
				case "granted":
					granted = granted.Add(ln.MemoCredits)
				case "spent":
					spent = spent.Add(ln.MemoCredits)
				case "expired":
					expired = expired.Add(ln.MemoCredits)
				}
			}
		}
		require.True(t, rep.Total.Credits.PromoGranted.Equal(granted), "granted %s", granted)
		require.True(t, rep.Total.Credits.PromoSpent.Equal(spent))
		require.True(t, rep.Total.Credits.PromoExpired.Equal(expired))
		require.True(t, granted.Equal(d("37")), "the bonus and the grants: %s", granted)
		require.True(t, expired.IsPositive())
	})

	t.Run("GenericCSV", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, journal.WriteGeneric(&buf, j))
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\uFEFF"))).ReadAll()
		require.NoError(t, err)
		require.Equal(t, journal.GenericColumns, recs[0])
		lines := 0
		for _, dd := range j.Days {
			lines += len(dd.Lines)
		}
		require.Len(t, recs, lines+1)
		require.Contains(t, buf.String(), "promo_memo")
		require.Contains(t, buf.String(), "bill_paid")
		require.Contains(t, buf.String(), "授信消耗确认收入（应收）")
		if testing.Verbose() {
			t.Log(buf.String())
		}
	})

	t.Run("KingdeeVoucherCSV", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, journal.WriteKingdee(&buf, j, "Fin"))
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\uFEFF"))).ReadAll()
		require.NoError(t, err)
		require.Equal(t, journal.KingdeeColumns, recs[0])
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		sums := map[string][2]decimal.Decimal{}
		for _, r := range recs[1:] {
			require.Equal(t, "记", r[col["FGROUP"]])
			require.Equal(t, "3", r[col["FPERIOD"]])
			require.NotContains(t, r[col["FEXP"]], "赠送", "no memo line in the voucher file")
			k := r[col["FDATE"]] + "/" + r[col["FNUM"]]
			s := sums[k]
			s[0] = s[0].Add(d(r[col["FDEBIT"]]))
			s[1] = s[1].Add(d(r[col["FCREDIT"]]))
			sums[k] = s
			amount := d(r[col["FFCYAMT"]])
			if r[col["FDC"]] == "1" {
				require.True(t, amount.Equal(d(r[col["FDEBIT"]])))
			} else {
				require.True(t, amount.Equal(d(r[col["FCREDIT"]])))
			}
		}
		require.NotEmpty(t, sums)
		var receivable [2]decimal.Decimal
		for _, r := range recs[1:] {
			if r[col["FACCTID"]] == "1122" {
				receivable[0] = receivable[0].Add(d(r[col["FDEBIT"]]))
				receivable[1] = receivable[1].Add(d(r[col["FCREDIT"]]))
			}
		}
		require.True(t, receivable[0].Equal(d("124.46")) && receivable[1].Equal(d("123.46")), "receivable in the voucher file: %v", receivable)
		for k, s := range sums {
			require.True(t, s[0].Equal(s[1]), "voucher %s: %s ≠ %s", k, s[0], s[1])
		}
	})

	t.Run("FinanceOnly", func(t *testing.T) {
		support, err := users.CreateStaff(ctx, auth.StaffRequest{Email: "support@example.com", Password: "correct horse battery", Name: "Sup",
			Roles: []auth.Role{auth.RoleSupport}})
		require.NoError(t, err)
		_, err = svc.Journal(ctx, from, to, backoffice.Actor{User: support})
		require.ErrorIs(t, err, backoffice.ErrForbidden)
	})
}
