package statement

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/invoicing/pdf"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// The document's labels: Chinese first, as the statement is a Chinese
// document, with the English beside it for foreign readers.
var (
	bucketLabel = map[ledger.LotKind]string{
		ledger.LotPaid: "充值 Paid", ledger.LotPromo: "赠送 Promo", ledger.LotPlan: "套餐 Plan", ledger.LotGrace: "宽限 Grace",
		ledger.LotCredit: "授信 Credit line",
	}
	categoryLabel = map[Category]string{
		CatTopUp:         "充值 Top-ups",
		CatGrant:         "赠送 Grants",
		CatPlanCredit:    "套餐额度 Plan credits",
		CatGrace:         "宽限额度 Grace credit",
		CatAdjustment:    "调整 Adjustments",
		CatConsumption:   "消费 Consumption",
		CatHolds:         "预扣变动 Holds (open reservations)",
		CatExpiry:        "过期 Expiries",
		CatRefund:        "退款 Refunds",
		CatBonusRevoke:   "退款收回赠送 Bonus revoked with refunds",
		CatCreditLine:    "授信额度调整 Credit line set",
		CatCreditRestore: "账单付款恢复额度 Line restored by bills paid",
		CatOther:         "其他 Other",
	}
)

// Filename is the download's name without extension: statement-<id>-2026-11.
func (s Statement) Filename() string {
	return "statement-" + strconv.FormatInt(s.AccountID, 10) + "-" + s.Month.String()
}

// buckets are the bucket columns shown: the four kinds, plus any other a
// statement carries (credit outside lots; never expected).
func (s Statement) buckets() []ledger.LotKind {
	out := append([]ledger.LotKind(nil), Buckets...)
	seen := map[ledger.LotKind]bool{}
	for _, k := range Buckets {
		seen[k] = true
	}
	for _, a := range append([]Amounts{s.Opening, s.Closing}, amountsOf(s.Movements)...) {
		for k := range a.ByBucket {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

func amountsOf(ms []Movement) []Amounts {
	out := make([]Amounts, len(ms))
	for i, m := range ms {
		out[i] = m.Amounts
	}
	return out
}

func label(k ledger.LotKind) string {
	if l, ok := bucketLabel[k]; ok {
		return l
	}
	if k == "" {
		return "无批次 No lot"
	}
	return string(k)
}

// summaryRows are the balance table: opening, each movement, closing; a
// label then the buckets then the total. Amounts are exact decimal strings.
func (s Statement) summaryRows() (header []string, rows [][]string) {
	ks := s.buckets()
	header = []string{"项目 Item"}
	for _, k := range ks {
		header = append(header, label(k))
	}
	header = append(header, "合计 Total")
	line := func(name string, a Amounts) []string {
		r := []string{name}
		for _, k := range ks {
			r = append(r, a.Of(k).String())
		}
		return append(r, a.Total.String())
	}
	rows = append(rows, line("期初余额 Opening balance", s.Opening))
	for _, m := range s.Movements {
		if (m.Category == CatOther || m.Category == CatCreditLine || m.Category == CatCreditRestore) && m.Total.IsZero() && m.Operations == 0 {
			continue
		}
		rows = append(rows, line(categoryLabel[m.Category], m.Amounts))
	}
	rows = append(rows, line("期末余额 Closing balance", s.Closing))
	return header, rows
}

func (s Statement) period() string {
	return format.Date(s.Month.Start()) + " 00:00 — " + format.Date(s.Month.End()) + " 00:00（北京时间 Beijing time）"
}

func money(fen int64) string { return format.Money(decimal.New(fen, -2)) }

// PDF renders the statement in Chinese with the embedded font (amounts in
// credits, grouped). Errors: those of pdf.RenderReport.
func (s Statement) PDF() ([]byte, error) {
	credits := func(v string) string {
		d, err := decimal.NewFromString(v)
		if err != nil {
			return v
		}
		return format.Credits(d)
	}
	header, rows := s.summaryRows()
	for _, r := range rows {
		for i := 1; i < len(r); i++ {
			r[i] = credits(r[i])
		}
	}
	w := make([]float64, len(header))
	w[0] = 0.3
	for i := 1; i < len(w); i++ {
		w[i] = 0.7 / float64(len(w)-1)
	}
	rep := pdf.Report{
		Title: "月度对账单 Monthly statement",
		Header: [][2]string{
			{"账户 Account", s.AccountName + "（#" + strconv.FormatInt(s.AccountID, 10) + "）"},
			{"账期 Period", s.Month.String() + "：" + s.period()},
			{"充值金额 Paid for top-ups", money(s.TopUpFen)},
			{"退款金额 Refunded", money(s.RefundFen)},
			{"未能扣费 Unpaid usage", format.Credits(s.Unpaid) + " 点"},
			{"额度划拨 Allocation transfers", strconv.FormatInt(s.TransferOps, 10) + " 笔，" + format.Credits(s.TransferMoved) + " 点"},
			{"生成时间 Generated", format.Time(s.GeneratedAt) + "（北京时间）"},
		},
		Tables: []pdf.Table{{Heading: "余额变动（点）Balance by bucket (credits)", Columns: header, Widths: w, Rows: rows}},
		Footer: "期末余额 = 期初余额 + 本月各项变动，与账本逐点核对一致。按账本时间（北京时间）统计；额度划拨只在企业子账户之间调整可用额度，不改变余额。" +
			"Closing = opening + movements, reconciled with the ledger to the credit.",
	}
	for _, u := range []struct {
		title string
		col   string
		rows  []UsageTotal
	}{
		{"消费（按模型）Consumption by model", "模型 Model", s.ByModel},
		{"消费（按账户）Consumption by account", "账户 Account", s.ByAccount},
		{"消费（按项目）Consumption by project", "项目 Project", s.ByProject},
	} {
		t := pdf.Table{Heading: u.title, Columns: []string{u.col, "调用 Calls", "点数 Credits"}, Widths: []float64{0.5, 0.2, 0.3}}
		for _, r := range u.rows {
			key := r.Key
			if key == "" {
				key = "（未标注 none）"
			}
			t.Rows = append(t.Rows, []string{key, strconv.FormatInt(r.Calls, 10), format.Credits(r.Credits)})
		}
		if len(t.Rows) == 0 {
			t.Rows = [][]string{{"本月无消费 No consumption", "0", "0"}}
		}
		rep.Tables = append(rep.Tables, t)
	}
	if c := s.Credit; c != nil {
		rep.Header = append(rep.Header, [2]string{"授信额度 Credit line", format.Credits(c.LineClosing) + " 点"},
			[2]string{"授信已用 Line used", format.Credits(c.UsedOpening) + " → " + format.Credits(c.UsedClosing) + " 点"},
			[2]string{"自有余额 Owned balance", format.Credits(c.OwnedOpening) + " → " + format.Credits(c.OwnedClosing) + " 点（负数为欠款 negative: owed）"},
			[2]string{"本月出账 Bills issued", money(c.IssuedFen)},
			[2]string{"本月还款 Bills paid", money(c.PaidFen)})
		rep.Tables = append(rep.Tables, c.billTable())
	}
	b, err := pdf.RenderReport(rep)
	if err != nil {
		return nil, fmt.Errorf("statement: pdf: %w", err)
	}
	return b, nil
}

// stateLabel names a bill's state.
var stateLabel = map[creditline.Status]string{
	creditline.StatusOpen: "待付 Open", creditline.StatusOverdue: "逾期 Overdue",
	creditline.StatusFrozen: "已冻结 Frozen", creditline.StatusPaid: "已付 Paid",
}

// billColumns are the bill table's columns (PDF and XLSX).
var billColumns = []string{"账单 Bill", "账期 Period", "点数 Credits", "金额 Amount", "出账 Issued", "到期 Due", "付款 Paid", "月末状态 State at month end"}

func billPeriod(b creditline.Bill) string {
	return format.Date(b.PeriodStart) + " — " + format.Date(b.PeriodEnd)
}

func billPaid(b creditline.Bill) string {
	if b.PaidAt == nil {
		return ""
	}
	return format.Date(*b.PaidAt)
}

// billTable is the PDF's table of the month's bills, with the totals.
func (c CreditLine) billTable() pdf.Table {
	t := pdf.Table{Heading: "授信账单（本月出账或付款）Credit line bills issued or paid this month", Columns: billColumns,
		Widths: []float64{0.1, 0.2, 0.12, 0.1, 0.1, 0.1, 0.1, 0.18}}
	for _, b := range c.Bills {
		t.Rows = append(t.Rows, []string{b.ReferenceCode, billPeriod(b.Bill), format.Credits(b.Credits), money(b.AmountFen),
			format.Date(b.IssuedAt), format.Date(b.DueAt), billPaid(b.Bill), stateLabel[b.StateAtEnd]})
	}
	if len(t.Rows) == 0 {
		t.Rows = [][]string{{"本月无账单 No bills", "", "", "", "", "", "", ""}}
	}
	t.Rows = append(t.Rows, []string{"账单合计 Bills total", "出账 issued", "", money(c.IssuedFen), "", "还款 paid", money(c.PaidFen), ""})
	return t
}

// Sheet names of the XLSX.
const (
	SheetSummary = "对账单"
	SheetUsage   = "消费明细"
)

// XLSX writes the statement as a workbook: the summary sheet (header,
// then the balance table with exact decimal numbers) and the consumption
// sheet (model, account, project, calls, credits).
func (s Statement) XLSX() ([]byte, error) {
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	if err := f.SetSheetName("Sheet1", SheetSummary); err != nil {
		return nil, fmt.Errorf("statement: xlsx: %w", err)
	}
	if _, err := f.NewSheet(SheetUsage); err != nil {
		return nil, fmt.Errorf("statement: xlsx: %w", err)
	}
	var werr error
	set := func(sheet string, col, row int, v string, number bool) {
		if werr != nil {
			return
		}
		cell, err := excelize.CoordinatesToCellName(col, row)
		if err != nil {
			werr = err
			return
		}
		if number {
			// The decimal's own text as a numeric cell: exact, no float.
			werr = f.SetCellDefault(sheet, cell, v)
		} else {
			werr = f.SetCellStr(sheet, cell, v)
		}
	}
	row := 1
	for _, kv := range [][2]string{
		{"月度对账单 Monthly statement", ""},
		{"账户 Account", s.AccountName + "（#" + strconv.FormatInt(s.AccountID, 10) + "）"},
		{"账期 Period", s.Month.String()},
		{"起止 From — to", s.period()},
	} {
		set(SheetSummary, 1, row, kv[0], false)
		set(SheetSummary, 2, row, kv[1], false)
		row++
	}
	for _, kv := range [][2]string{
		{"充值金额（元）Paid for top-ups (RMB)", decimal.New(s.TopUpFen, -2).StringFixed(2)},
		{"退款金额（元）Refunded (RMB)", decimal.New(s.RefundFen, -2).StringFixed(2)},
		{"未能扣费（点）Unpaid usage (credits)", s.Unpaid.String()},
		{"额度划拨（点）Allocation moved (credits)", s.TransferMoved.String()},
	} {
		set(SheetSummary, 1, row, kv[0], false)
		set(SheetSummary, 2, row, kv[1], true)
		row++
	}
	if c := s.Credit; c != nil {
		for _, kv := range [][2]string{
			{"授信额度（点）Credit line (credits)", c.LineClosing.String()},
			{"授信期初已用（点）Line used at opening", c.UsedOpening.String()},
			{"授信期末已用（点）Line used at closing", c.UsedClosing.String()},
			{"期初自有余额（点）Owned balance at opening", c.OwnedOpening.String()},
			{"期末自有余额（点，负数为欠款）Owned balance at closing (negative: owed)", c.OwnedClosing.String()},
			{"本月出账（元）Bills issued (RMB)", decimal.New(c.IssuedFen, -2).StringFixed(2)},
			{"本月还款（元）Bills paid (RMB)", decimal.New(c.PaidFen, -2).StringFixed(2)},
		} {
			set(SheetSummary, 1, row, kv[0], false)
			set(SheetSummary, 2, row, kv[1], true)
			row++
		}
	}
	row++
	header, rows := s.summaryRows()
	for i, h := range header {
		set(SheetSummary, i+1, row, h, false)
	}
	row++
	for _, r := range rows {
		for i, v := range r {
			set(SheetSummary, i+1, row, v, i > 0)
		}
		row++
	}
	for i, h := range []string{"模型 Model", "账户 Account", "账户编号 Account ID", "项目 Project", "调用 Calls", "点数 Credits"} {
		set(SheetUsage, i+1, 1, h, false)
	}
	for j, u := range s.Usage {
		r := j + 2
		set(SheetUsage, 1, r, u.Model, false)
		set(SheetUsage, 2, r, u.AccountName, false)
		set(SheetUsage, 3, r, strconv.FormatInt(u.AccountID, 10), true)
		set(SheetUsage, 4, r, u.Project, false)
		set(SheetUsage, 5, r, strconv.FormatInt(u.Calls, 10), true)
		set(SheetUsage, 6, r, u.Credits.String(), true)
	}
	if c := s.Credit; c != nil {
		row++
		set(SheetSummary, 1, row, "授信账单 Credit line bills", false)
		row++
		for i, h := range billColumns {
			set(SheetSummary, i+1, row, h, false)
		}
		row++
		for _, b := range c.Bills {
			set(SheetSummary, 1, row, b.ReferenceCode, false)
			set(SheetSummary, 2, row, billPeriod(b.Bill), false)
			set(SheetSummary, 3, row, b.Credits.String(), true)
			set(SheetSummary, 4, row, decimal.New(b.AmountFen, -2).StringFixed(2), true)
			set(SheetSummary, 5, row, format.Date(b.IssuedAt), false)
			set(SheetSummary, 6, row, format.Date(b.DueAt), false)
			set(SheetSummary, 7, row, billPaid(b.Bill), false)
			set(SheetSummary, 8, row, stateLabel[b.StateAtEnd], false)
			row++
		}
	}
	if werr != nil {
		return nil, fmt.Errorf("statement: xlsx: %w", werr)
	}
	_ = f.SetColWidth(SheetSummary, "A", "A", 36)
	_ = f.SetColWidth(SheetSummary, "B", "G", 18)
	_ = f.SetColWidth(SheetUsage, "A", "F", 18)
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, fmt.Errorf("statement: xlsx: %w", err)
	}
	return buf.Bytes(), nil
}
