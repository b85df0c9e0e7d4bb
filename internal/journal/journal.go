// Package journal derives the company's daily book-keeping journal from the
// revenue report: double-entry lines in fen, one voucher per day and kind of
// business (cash received for top-ups, consumption of paid credit, breakage,
// refunds, plan fees received, recognised and refunded), with output VAT
// split off every revenue line at the configured rate, and promotional
// credit as memo lines that carry credits but no money.
//
// The revenue rules have one home, backoffice.Service.Revenue: every money
// figure of a day's lines is a figure of that day's report row (so the
// journal reconciles with the report to the fen by construction, and a test
// holds it there). What the report does not know is which clearing account
// the money went through: this package reads that from the ledger's read
// views joined with the payment orders (a paid lot's order and its channel;
// a plan fee's order). Money the channels do not explain (manual recharges,
// refunds recorded before refunds carried their amount) goes to the "other"
// clearing account, so every day balances whatever the channels say.
//
// Account codes and the VAT rate are business settings (settings group
// "journal", Accounts).
package journal

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// Account names one account of the mapping; Accounts gives its code.
type Account string

// The accounts a journal line may post to.
const (
	ClearingWechat  Account = "clearing_wechat"  // 其他货币资金—微信支付
	ClearingAlipay  Account = "clearing_alipay"  // 其他货币资金—支付宝
	ClearingBank    Account = "clearing_bank"    // 银行存款 (bank transfers)
	ClearingOther   Account = "clearing_other"   // money no channel explains (manual recharges)
	TopupLiability  Account = "topup_liability"  // 合同负债—预收充值 (unspent paid credit)
	PlanLiability   Account = "plan_liability"   // 合同负债—套餐 (plan fees not yet earned)
	UsageRevenue    Account = "usage_revenue"    // 主营业务收入—用量
	BreakageRevenue Account = "breakage_revenue" // 其他业务收入—过期余额
	PlanRevenue     Account = "plan_revenue"     // 主营业务收入—套餐
	OutputVAT       Account = "output_vat"       // 应交税费—应交增值税（销项税额）
	Receivable      Account = "receivable"       // 应收账款 (postpaid consumption not yet paid for)
	PromoMemo       Account = "promo_memo"       // memo only: promotional credit, never booked
)

// AllAccounts are the booked accounts in the settings form's order.
var AllAccounts = []Account{ClearingWechat, ClearingAlipay, ClearingBank, ClearingOther, TopupLiability, PlanLiability,
	UsageRevenue, BreakageRevenue, PlanRevenue, OutputVAT, Receivable}

// Accounts are the account codes of the company's chart of accounts and
// the output VAT rate (percent of the price before tax).
type Accounts struct {
	Codes   map[Account]string `json:"codes"`
	VATRate decimal.Decimal    `json:"vat_rate"`
}

// DefaultAccounts follow the 企业会计准则 chart (2017 revenue standard:
// 合同负债 2204) and the 6% rate of 现代服务 (information technology services).
func DefaultAccounts() Accounts {
	return Accounts{VATRate: decimal.NewFromInt(6), Codes: map[Account]string{
		ClearingWechat: "1012.01", ClearingAlipay: "1012.02", ClearingBank: "1002", ClearingOther: "1002",
		TopupLiability: "2204.01", PlanLiability: "2204.02", UsageRevenue: "6001.01", BreakageRevenue: "6051",
		PlanRevenue: "6001.02", OutputVAT: "2221.01.02", Receivable: "1122",
	}}
}

// Code is a's code (the default's when unset).
func (a Accounts) Code(acc Account) string {
	if c := a.Codes[acc]; c != "" {
		return c
	}
	return DefaultAccounts().Codes[acc]
}

// Kind is the business a voucher records.
type Kind string

// The kinds, in the order a day's vouchers are numbered.
const (
	KindTopup          Kind = "topup"           // cash received for paid credit
	KindUsage          Kind = "usage"           // paid credit consumed: revenue at the price paid
	KindBreakage       Kind = "breakage"        // paid credit expired unspent
	KindRefund         Kind = "refund"          // paid credit refunded (and bonus spent that the refund kept back)
	KindPlanFee        Kind = "plan_fee"        // cash received for a plan (or term product)
	KindPlanRecognised Kind = "plan_recognised" // a plan fee earned over its period
	KindPlanRefund     Kind = "plan_refund"     // a plan fee paid back
	KindPostpaid       Kind = "postpaid"        // credit line consumed: revenue, receivable until billed and paid
	KindBillPaid       Kind = "bill_paid"       // cash received for a credit line's bill
	KindPromo          Kind = "promo"           // memo: promotional credit granted, spent, expired
)

// Kinds are the kinds in voucher order.
var Kinds = []Kind{KindTopup, KindUsage, KindBreakage, KindRefund, KindPlanFee, KindPlanRecognised, KindPlanRefund,
	KindPostpaid, KindBillPaid, KindPromo}

// Line is one journal line: a debit or a credit in fen (never both, never
// negative), or, for a memo line, an amount of promotional credit.
type Line struct {
	Date    string // Asia/Shanghai day, 2006-01-02
	Voucher int    // 1… within the day
	Entry   int    // 1… within the voucher
	Kind    Kind
	Account Account
	Code    string
	// Item says which figure the line is (e.g. "wechat", "net", "vat",
	// "granted"); Kind and Item together name the rule that made it.
	Item   string
	Debit  int64
	Credit int64
	// Memo lines carry MemoCredits and no money; they are not booked.
	Memo        bool
	MemoCredits decimal.Decimal
}

// Day is one Asia/Shanghai day's lines and the report row they come from.
type Day struct {
	Date          string
	Start         time.Time
	Lines         []Line
	Debit, Credit int64 // sums over the booked lines: always equal
	Row           backoffice.ReportRow
}

// Journal is the journal of the days holding [From, To).
type Journal struct {
	From, To time.Time
	Accounts Accounts
	Days     []Day
	// Report is the revenue report the journal was made from.
	Report backoffice.Report
}

// Revenue is the revenue report (backoffice.Service.Revenue).
type Revenue interface {
	Revenue(ctx context.Context, from, to time.Time, g backoffice.Granularity, actor backoffice.Actor) (backoffice.Report, error)
}

// Options configure a Service.
type Options struct {
	// Accounts returns the account codes in force (DefaultAccounts when nil).
	Accounts func() Accounts
	// PlanFees lists the plan orders, as the revenue report has them
	// (to find each fee's channel); nil: plan cash goes to "other".
	PlanFees backoffice.PlanFees
	// CreditLines lists credit lines' bills, as the revenue report has
	// them (to find each payment's channel); nil: bill cash goes to
	// "other".
	CreditLines *creditline.Service
}

// Service makes journals.
type Service struct {
	pool db.Querier
	rev  Revenue
	opt  Options
}

// New returns a Service reading pool, with rev the revenue report.
func New(pool db.Querier, rev Revenue, opt Options) *Service {
	if opt.Accounts == nil {
		opt.Accounts = DefaultAccounts
	}
	return &Service{pool: pool, rev: rev, opt: opt}
}

// Journal makes the journal of the Asia/Shanghai days holding [from, to).
// Finance and admin users may read it. Errors: backoffice.ErrForbidden
// (through the revenue report).
func (s *Service) Journal(ctx context.Context, from, to time.Time, actor backoffice.Actor) (Journal, error) {
	r, err := s.rev.Revenue(ctx, from, to, backoffice.Daily, actor)
	if err != nil {
		return Journal{}, err
	}
	cash, err := s.channelCash(ctx, r.From, r.To)
	if err != nil {
		return Journal{}, fmt.Errorf("journal: %w", err)
	}
	if err := s.planCash(ctx, r.From, r.To, cash); err != nil {
		return Journal{}, fmt.Errorf("journal: %w", err)
	}
	if err := s.billCash(ctx, r.From, r.To, cash); err != nil {
		return Journal{}, fmt.Errorf("journal: %w", err)
	}
	return Build(r, cash, s.opt.Accounts()), nil
}

// Channel is a payment channel (payment_orders.channel).
type Channel string

// The channels with clearing accounts.
const (
	Wechat Channel = "wechat"
	Alipay Channel = "alipay"
	Bank   Channel = "bank_transfer"
)

var channels = []Channel{Wechat, Alipay, Bank}

func (c Channel) account() Account {
	switch c {
	case Wechat:
		return ClearingWechat
	case Alipay:
		return ClearingAlipay
	case Bank:
		return ClearingBank
	}
	return ClearingOther
}

// ChannelCash is the money of one day that went through each channel, in
// fen: TopupIn paid for paid lots, TopupOut paid back from them, PlanIn
// paid for plan fees, PlanOut paid back from them, BillIn paid for credit
// lines' bills.
type ChannelCash struct {
	TopupIn, TopupOut, PlanIn, PlanOut, BillIn map[Channel]int64
}

func (c *ChannelCash) init() {
	if c.TopupIn == nil {
		c.TopupIn, c.TopupOut, c.PlanIn, c.PlanOut = map[Channel]int64{}, map[Channel]int64{}, map[Channel]int64{}, map[Channel]int64{}
	}
	if c.BillIn == nil {
		c.BillIn = map[Channel]int64{}
	}
}

// channelCashSQL sums, per Asia/Shanghai day and channel, the price of the
// paid lots payment orders credited (the report's paid_purchased for those
// lots) and what refunds of them paid back (the report's paid_refunded:
// the refund's fen less the bonus it kept back), for live accounts.
const channelCashSQL = `
SELECT date_trunc('day', e.at AT TIME ZONE 'Asia/Shanghai') AS day, o.channel,
       coalesce(sum(l.paid_fen) FILTER (WHERE e.type IN ('purchase', 'grant', 'adjustment')), 0)::bigint AS in_fen,
       coalesce(sum((e.detail->>'fen')::bigint - coalesce((e.detail->>'bonus_fen')::bigint, 0))
                FILTER (WHERE e.type = 'refund' AND e.detail ? 'fen'), 0)::bigint AS out_fen
FROM payment_orders o
JOIN ledger_account_view a ON a.id = o.account_id
JOIN ledger_lot_view l ON l.pool_id = a.pool_id AND l.id = o.paid_lot_id AND l.kind = 'paid' AND l.paid_fen IS NOT NULL
JOIN ledger_account_view p ON p.id = l.pool_id AND p.mode = 'live'
JOIN ledger_event_view e ON e.pool_id = l.pool_id AND e.lot_id = l.id
WHERE o.paid_lot_id IS NOT NULL AND e.at >= $1 AND e.at < $2
  AND e.type IN ('purchase', 'grant', 'adjustment', 'refund')
GROUP BY 1, 2`

func dayKey(t time.Time) string { return t.Format("2006-01-02") }

func (s *Service) channelCash(ctx context.Context, from, to time.Time) (map[string]ChannelCash, error) {
	rows, err := s.pool.Query(ctx, channelCashSQL, from, to)
	if err != nil {
		return nil, err
	}
	out := map[string]ChannelCash{}
	var day time.Time
	var ch string
	var in, outFen int64
	_, err = pgx.ForEachRow(rows, []any{&day, &ch, &in, &outFen}, func() error {
		k := dayKey(day)
		c := out[k]
		c.init()
		c.TopupIn[Channel(ch)] += in
		c.TopupOut[Channel(ch)] += outFen
		out[k] = c
		return nil
	})
	return out, err
}

const orderChannelsSQL = `SELECT order_no, channel FROM payment_orders WHERE order_no = ANY($1)`

// planCash adds each plan fee's payment and refunds of [from, to) to its
// channel's day.
func (s *Service) planCash(ctx context.Context, from, to time.Time, out map[string]ChannelCash) error {
	if s.opt.PlanFees == nil {
		return nil
	}
	fees, err := s.opt.PlanFees(ctx, to)
	if err != nil {
		return err
	}
	nos := make([]string, len(fees))
	for i, f := range fees {
		nos[i] = f.OrderNo
	}
	rows, err := s.pool.Query(ctx, orderChannelsSQL, nos)
	if err != nil {
		return err
	}
	chOf := map[string]Channel{}
	var no, ch string
	if _, err := pgx.ForEachRow(rows, []any{&no, &ch}, func() error { chOf[no] = Channel(ch); return nil }); err != nil {
		return err
	}
	add := func(at time.Time, f func(c *ChannelCash)) {
		if at.Before(from) || !at.Before(to) {
			return
		}
		k := dayKey(at.In(format.Shanghai))
		c := out[k]
		c.init()
		f(&c)
		out[k] = c
	}
	for _, f := range fees {
		ch, ok := chOf[f.OrderNo]
		if !ok {
			continue // the "other" clearing account takes it
		}
		add(f.PaidAt, func(c *ChannelCash) { c.PlanIn[ch] += f.Fen })
		for _, r := range f.Refunds {
			add(r.At, func(c *ChannelCash) { c.PlanOut[ch] += r.Fen })
		}
	}
	return nil
}

// billCash adds each bill paid in [from, to) to its channel's day: a bank
// transfer (matched by its reference code) to the bank; a QR payment to
// its payment order's channel (the order named by the payment's ref); a
// payment recorded otherwise to "other".
func (s *Service) billCash(ctx context.Context, from, to time.Time, out map[string]ChannelCash) error {
	if s.opt.CreditLines == nil {
		return nil
	}
	bills, err := s.opt.CreditLines.ReportBills(ctx, to, 0)
	if err != nil {
		return err
	}
	var nos []string
	for _, b := range bills {
		if b.PaidAt != nil && b.PaidVia == creditline.PaidByQR {
			nos = append(nos, b.PaidRef)
		}
	}
	chOf := map[string]Channel{}
	if len(nos) > 0 {
		rows, err := s.pool.Query(ctx, orderChannelsSQL, nos)
		if err != nil {
			return err
		}
		var no, ch string
		if _, err := pgx.ForEachRow(rows, []any{&no, &ch}, func() error { chOf[no] = Channel(ch); return nil }); err != nil {
			return err
		}
	}
	for _, b := range bills {
		if b.PaidAt == nil || b.PaidAt.Before(from) || !b.PaidAt.Before(to) {
			continue
		}
		ch, ok := Bank, true
		switch b.PaidVia {
		case creditline.PaidByTransfer:
		case creditline.PaidByQR:
			ch, ok = chOf[b.PaidRef]
		default:
			ok = false
		}
		if !ok {
			continue // the "other" clearing account takes it
		}
		k := dayKey(b.PaidAt.In(format.Shanghai))
		c := out[k]
		c.init()
		c.BillIn[ch] += b.AmountFen
		out[k] = c
	}
	return nil
}

// fen is a yuan amount of the report in fen.
func fen(d decimal.Decimal) int64 { return d.Shift(2).Round(0).IntPart() }

// SplitVAT splits a price including VAT into the price before tax and the
// tax at rate percent, to the fen: net = gross ÷ (1 + rate/100) rounded
// half to even, vat = gross − net (so they always add up to gross).
func SplitVAT(gross int64, rate decimal.Decimal) (net, vat int64) {
	if !rate.IsPositive() {
		return gross, 0
	}
	n := decimal.NewFromInt(gross).Mul(decimal.NewFromInt(100)).Div(decimal.NewFromInt(100).Add(rate)).RoundBank(0).IntPart()
	return n, gross - n
}

// voucher collects one voucher's lines.
type voucher struct {
	kind  Kind
	lines []Line
	acc   Accounts
}

// post adds a line of amount fen to the debit (debit true) or the credit
// side; a negative amount goes to the other side, a zero one is left out.
func (v *voucher) post(debit bool, acc Account, item string, amount int64) {
	if amount == 0 {
		return
	}
	if amount < 0 {
		debit, amount = !debit, -amount
	}
	l := Line{Kind: v.kind, Account: acc, Code: v.acc.Code(acc), Item: item}
	if debit {
		l.Debit = amount
	} else {
		l.Credit = amount
	}
	v.lines = append(v.lines, l)
}

// revenue credits gross (VAT included) to acc, split into net and VAT.
func (v *voucher) revenue(acc Account, item string, gross int64) {
	net, vat := SplitVAT(gross, v.acc.VATRate)
	v.post(false, acc, item, net)
	v.post(false, OutputVAT, item+"_vat", vat)
}

// cash posts one line per channel of byChannel and the rest of total to
// the "other" clearing account.
func (v *voucher) cash(debit bool, item string, total int64, byChannel map[Channel]int64) {
	rest := total
	for _, c := range channels {
		v.post(debit, c.account(), item+"_"+string(c), byChannel[c])
		rest -= byChannel[c]
	}
	v.post(debit, ClearingOther, item+"_other", rest)
}

// Build makes the journal of a daily revenue report: for each day, in
// this order (fen; RMB figures of the report row):
//
//	topup            Dr clearing (by channel)   Cr topup_liability   paid_purchased
//	usage            Dr topup_liability          Cr usage_revenue + output_vat   recognised − bonus_deducted
//	breakage         Dr topup_liability          Cr breakage_revenue + output_vat   breakage
//	refund           Dr topup_liability          Cr clearing (by channel)   paid_refunded
//	                                             Cr usage_revenue + output_vat   bonus_deducted
//	plan_fee         Dr clearing (by channel)   Cr plan_liability    plan_fees_received
//	plan_recognised  Dr plan_liability           Cr plan_revenue + output_vat   plan_fees_recognised
//	plan_refund      Dr plan_liability           Cr clearing (by channel)   plan_fees_refunded
//	postpaid         Dr receivable               Cr usage_revenue + output_vat   postpaid_recognised
//	bill_paid        Dr clearing (by channel)   Cr receivable        bills_paid
//	promo            memo (credits): granted, spent, expired
//
// cash holds each day's money by channel (keyed 2006-01-02); what it does
// not explain goes to clearing_other.
func Build(r backoffice.Report, cash map[string]ChannelCash, acc Accounts) Journal {
	j := Journal{From: r.From, To: r.To, Accounts: acc, Report: r}
	for _, row := range r.Rows {
		c := cash[row.Period]
		c.init()
		y := row.RMB
		day := Day{Date: row.Period, Start: row.Start, Row: row}
		vs := map[Kind]*voucher{}
		for _, k := range Kinds {
			vs[k] = &voucher{kind: k, acc: acc}
		}
		v := vs[KindTopup]
		v.cash(true, "cash", fen(y.PaidPurchased), c.TopupIn)
		v.post(false, TopupLiability, "liability", fen(y.PaidPurchased))

		usage := fen(y.Recognised) - fen(y.BonusDeducted)
		v = vs[KindUsage]
		v.post(true, TopupLiability, "liability", usage)
		v.revenue(UsageRevenue, "revenue", usage)

		v = vs[KindBreakage]
		v.post(true, TopupLiability, "liability", fen(y.Breakage))
		v.revenue(BreakageRevenue, "revenue", fen(y.Breakage))

		v = vs[KindRefund]
		v.post(true, TopupLiability, "liability", fen(y.PaidRefunded)+fen(y.BonusDeducted))
		v.cash(false, "cash", fen(y.PaidRefunded), c.TopupOut)
		v.revenue(UsageRevenue, "bonus_kept", fen(y.BonusDeducted))

		v = vs[KindPlanFee]
		v.cash(true, "cash", fen(y.PlanFeesReceived), c.PlanIn)
		v.post(false, PlanLiability, "liability", fen(y.PlanFeesReceived))

		v = vs[KindPlanRecognised]
		v.post(true, PlanLiability, "liability", fen(y.PlanFeesRecognised))
		v.revenue(PlanRevenue, "revenue", fen(y.PlanFeesRecognised))

		v = vs[KindPlanRefund]
		v.post(true, PlanLiability, "liability", fen(y.PlanFeesRefunded))
		v.cash(false, "cash", fen(y.PlanFeesRefunded), c.PlanOut)

		v = vs[KindPostpaid]
		v.post(true, Receivable, "receivable", fen(y.PostpaidRecognised))
		v.revenue(UsageRevenue, "revenue", fen(y.PostpaidRecognised))

		v = vs[KindBillPaid]
		v.cash(true, "cash", fen(y.BillsPaid), c.BillIn)
		v.post(false, Receivable, "receivable", fen(y.BillsPaid))

		v = vs[KindPromo]
		for _, m := range []struct {
			item string
			n    decimal.Decimal
		}{{"granted", row.Credits.PromoGranted}, {"spent", row.Credits.PromoSpent}, {"expired", row.Credits.PromoExpired}} {
			if !m.n.IsZero() {
				v.lines = append(v.lines, Line{Kind: KindPromo, Account: PromoMemo, Item: m.item, Memo: true, MemoCredits: m.n})
			}
		}

		n := 0
		for _, k := range Kinds {
			if len(vs[k].lines) == 0 {
				continue
			}
			n++
			for i, l := range vs[k].lines {
				l.Date, l.Voucher, l.Entry = row.Period, n, i+1
				day.Debit += l.Debit
				day.Credit += l.Credit
				day.Lines = append(day.Lines, l)
			}
		}
		j.Days = append(j.Days, day)
	}
	return j
}

// Totals sums the journal's booked lines by account: debit and credit in fen.
func (j Journal) Totals() map[Account][2]int64 {
	out := map[Account][2]int64{}
	for _, d := range j.Days {
		for _, l := range d.Lines {
			if l.Memo {
				continue
			}
			t := out[l.Account]
			t[0] += l.Debit
			t[1] += l.Credit
			out[l.Account] = t
		}
	}
	return out
}
