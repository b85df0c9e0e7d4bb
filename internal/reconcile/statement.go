package reconcile

import (
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Direction says whether a statement line brought money in or took it out of
// our bank account.
type Direction string

// Directions of a statement line. Only credits can pay a transfer order;
// debits are kept, flagged, so the statement stays complete.
const (
	Credit Direction = "credit"
	Debit  Direction = "debit"
)

// StatementLine is one transaction of a bank statement of our corporate
// account.
type StatementLine struct {
	// BankAccount is our account the statement belongs to, read from a
	// 本方账号 column or the title rows ("账号：…") when the bank prints it;
	// the caller sets it otherwise, before ImportLines.
	BankAccount string
	// SourceFile is the name of the file the line was read from.
	SourceFile string
	// Row is the line's 1-based row number in the file.
	Row int
	// Serial is the bank's serial number (流水号), unique per account.
	Serial string
	// Date is when the transaction happened, read as Beijing time and held
	// in UTC.
	Date         time.Time
	PayerName    string
	PayerAccount string
	// Amount is positive and exact to the fen; Direction gives its sign.
	Amount    decimal.Decimal
	Direction Direction
	// Memo joins the 摘要, 附言, 用途 and 备注 columns, where a customer's
	// reference code may be.
	Memo string
	// RawRow maps every header of the file to this row's cell, as imported.
	RawRow map[string]string
}

// headerSynonyms maps the header texts Chinese banks use (after folding to
// half-width, dropping spaces and a unit suffix such as "(元)") to fields.
var headerSynonyms = map[string]Field{
	"流水号": FieldSerial, "交易流水号": FieldSerial, "银行流水号": FieldSerial, "交易流水": FieldSerial,
	"流水编号": FieldSerial, "业务流水号": FieldSerial, "交易序号": FieldSerial, "交易参考号": FieldSerial,
	"核心流水号": FieldSerial, "账务流水号": FieldSerial, "记账流水号": FieldSerial, "交易编号": FieldSerial,

	"交易日期": FieldDate, "记账日期": FieldDate, "入账日期": FieldDate, "日期": FieldDate, "交易日": FieldDate,
	"交易时间": FieldTime, "时间": FieldTime, "记账时间": FieldTime, "入账时间": FieldTime,

	"对方户名": FieldPayerName, "对方账户名": FieldPayerName, "对方账户名称": FieldPayerName, "对方名称": FieldPayerName,
	"对方户名称": FieldPayerName, "付款人名称": FieldPayerName, "付款人户名": FieldPayerName, "付款方户名": FieldPayerName,
	"付款方名称": FieldPayerName, "对方单位": FieldPayerName, "对方单位名称": FieldPayerName, "收/付方名称": FieldPayerName,
	"对手户名": FieldPayerName, "对方账号名称": FieldPayerName,

	"对方账号": FieldPayerAccount, "对方账户": FieldPayerAccount, "付款人账号": FieldPayerAccount, "付款方账号": FieldPayerAccount,
	"对方卡号": FieldPayerAccount, "收/付方账号": FieldPayerAccount, "对手账号": FieldPayerAccount, "对方账号/卡号": FieldPayerAccount,

	"金额": FieldAmount, "交易金额": FieldAmount, "发生额": FieldAmount, "收支金额": FieldAmount,

	"贷方金额": FieldCredit, "贷方发生额": FieldCredit, "收入金额": FieldCredit, "收入": FieldCredit,
	"来账金额": FieldCredit, "贷方": FieldCredit, "存入金额": FieldCredit, "收款金额": FieldCredit,

	"借方金额": FieldDebit, "借方发生额": FieldDebit, "支出金额": FieldDebit, "支出": FieldDebit,
	"往账金额": FieldDebit, "借方": FieldDebit, "取出金额": FieldDebit, "付款金额": FieldDebit,

	"借贷标志": FieldDirection, "借贷方向": FieldDirection, "借贷": FieldDirection, "收支方向": FieldDirection,
	"收支标志": FieldDirection, "交易方向": FieldDirection, "方向": FieldDirection, "收/支": FieldDirection,
	"借贷标识": FieldDirection, "来往账标志": FieldDirection,

	"本方账号": FieldAccount, "本方账户": FieldAccount, "我方账号": FieldAccount, "账号": FieldAccount, "本方账号/卡号": FieldAccount,

	"摘要": FieldMemo, "附言": FieldMemo, "用途": FieldMemo, "备注": FieldMemo, "交易附言": FieldMemo,
	"交易用途": FieldMemo, "汇款附言": FieldMemo, "摘要/附言": FieldMemo, "附言/用途": FieldMemo, "交易摘要": FieldMemo,
	"备注/附言": FieldMemo, "汇款用途": FieldMemo, "用途/附言": FieldMemo, "交易备注": FieldMemo,
}

// bracketed matches the unit or English gloss banks append to a header:
// "金额(元)", "贷方发生额（收入）", "交易日期[ Transaction Date ]".
var bracketed = regexp.MustCompile(`[(\[【][^()\[\]【】]*[)\]】]`)

func normalizeHeader(s string) string {
	s = fold(s)
	s = strings.NewReplacer(" ", "", "*", "", ":", "", "\u3000", "").Replace(s)
	return bracketed.ReplaceAllString(s, "")
}

// columns is the mapping from fields to column indexes of one file.
type columns struct {
	headerRow int
	header    []string
	index     map[Field]int
	memo      []int // every memo-like column, joined in order
}

func mapHeader(r row) columns {
	c := columns{headerRow: r.num, header: r.cells, index: map[Field]int{}}
	for i, h := range r.cells {
		f, ok := headerSynonyms[normalizeHeader(h)]
		if !ok {
			continue
		}
		if f == FieldMemo {
			c.memo = append(c.memo, i)
			continue
		}
		if _, dup := c.index[f]; !dup {
			c.index[f] = i
		}
	}
	if len(c.memo) > 0 {
		c.index[FieldMemo] = c.memo[0]
	}
	return c
}

// missing lists the required fields the mapping lacks: a serial, a date and
// an amount (one signed column, or credit and/or debit columns).
func (c columns) missing() []Field {
	var m []Field
	if _, ok := c.index[FieldSerial]; !ok {
		m = append(m, FieldSerial)
	}
	_, date := c.index[FieldDate]
	_, clock := c.index[FieldTime]
	if !date && !clock {
		m = append(m, FieldDate)
	}
	_, amount := c.index[FieldAmount]
	_, credit := c.index[FieldCredit]
	_, debit := c.index[FieldDebit]
	if !amount && !credit && !debit {
		m = append(m, FieldAmount)
	}
	return m
}

func (c columns) get(r row, f Field) string {
	i, ok := c.index[f]
	if !ok {
		return ""
	}
	return r.cell(i)
}

// ParseBankStatement reads a bank statement of our corporate account, as
// Chinese online banking exports it, from a CSV/TSV (UTF-8, UTF-8 with BOM,
// GBK/GB18030 or UTF-16) or XLSX file. Columns are found by their header text
// (交易日期, 交易时间, 对方户名, 对方账号, 金额 or 贷方金额/借方金额, 摘要/附言/用途/
// 备注, 流水号 and their usual synonyms) wherever the header row is; title rows
// above it and summary rows (合计, 笔数 …) below the data are skipped.
// Amounts may use thousands separators, a ¥ sign and full-width digits.
//
// It returns every transaction, debits included (flagged by Direction).
// Errors: ErrUnsupportedFormat, ErrNoHeader, *MissingColumnError (naming the
// missing columns), *RowError (with the row number) for a malformed row and
// *TooLargeError for a file past lim (zero fields take DefaultLimits).
func ParseBankStatement(r io.Reader, filename string, lim Limits) ([]StatementLine, error) {
	sheets, err := readTable(r, filename, lim)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, rows := range sheets {
		lines, err := parseStatementRows(rows)
		if err == nil {
			for i := range lines {
				lines[i].SourceFile = filename
			}
			return lines, nil
		}
		if firstErr == nil || (errors.Is(firstErr, ErrNoHeader) && !errors.Is(err, ErrNoHeader)) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = ErrNoHeader
	}
	return nil, firstErr
}

// headerScanRows is how far down the file the header row is looked for.
const headerScanRows = 40

func parseStatementRows(rows []row) ([]StatementLine, error) {
	headerAt := -1
	var best columns
	bestScore := 0
	for i := 0; i < len(rows) && i < headerScanRows; i++ {
		c := mapHeader(rows[i])
		if len(c.missing()) == 0 {
			headerAt, best = i, c
			break
		}
		if score := len(c.index); score > bestScore {
			best, bestScore = c, score
		}
	}
	if headerAt < 0 {
		if bestScore >= 2 {
			return nil, &MissingColumnError{Row: best.headerRow, Columns: best.missing()}
		}
		return nil, ErrNoHeader
	}
	cols := best
	account := accountFromTitle(rows[:headerAt])

	var lines []StatementLine
	for _, r := range rows[headerAt+1:] {
		if r.empty() {
			continue
		}
		serial := cols.get(r, FieldSerial)
		if serial == "" || isSummaryRow(r) {
			if isSummaryRow(r) || !hasAmount(cols, r) {
				break // trailer: totals, counts, notes
			}
			return nil, &RowError{Row: r.num, Column: FieldSerial, Reason: "missing serial number"}
		}
		if normalizeHeader(serial) == normalizeHeader(cols.header[cols.index[FieldSerial]]) {
			continue // header repeated on every page
		}
		line, err := parseStatementRow(cols, r)
		if err != nil {
			return nil, err
		}
		line.BankAccount = account
		if own := strings.NewReplacer(" ", "", "-", "").Replace(fold(cols.get(r, FieldAccount))); own != "" {
			line.BankAccount = own
		}
		lines = append(lines, line)
	}
	return lines, nil
}

func parseStatementRow(cols columns, r row) (StatementLine, error) {
	line := StatementLine{
		Row:          r.num,
		Serial:       fold(cols.get(r, FieldSerial)),
		PayerName:    cols.get(r, FieldPayerName),
		PayerAccount: strings.ReplaceAll(fold(cols.get(r, FieldPayerAccount)), " ", ""),
		RawRow:       map[string]string{},
	}
	for i, h := range cols.header {
		if h != "" {
			line.RawRow[h] = r.cell(i)
		}
	}
	var memo []string
	for _, i := range cols.memo {
		if v := r.cell(i); v != "" && !containsString(memo, v) {
			memo = append(memo, v)
		}
	}
	line.Memo = strings.Join(memo, " ")

	date, clock := cols.get(r, FieldDate), cols.get(r, FieldTime)
	t, err := parseDateTime(date, clock)
	if err != nil {
		col, val := FieldDate, date
		if date == "" || dateOnlyOK(date) {
			col, val = FieldTime, clock
		}
		return line, &RowError{Row: r.num, Column: col, Value: val, Reason: "not a date or time"}
	}
	line.Date = t

	amount, dir, err := lineAmount(cols, r)
	if err != nil {
		return line, err
	}
	line.Amount, line.Direction = amount, dir
	return line, nil
}

// dateOnlyOK reports that the date cell itself reads fine, so the time cell
// is what failed.
func dateOnlyOK(date string) bool {
	_, _, err := parseDate(fold(date))
	return err == nil
}

// lineAmount reads the amount and direction from separate credit/debit
// columns, or from one amount column with a direction flag or a sign.
func lineAmount(cols columns, r row) (decimal.Decimal, Direction, error) {
	_, hasCredit := cols.index[FieldCredit]
	_, hasDebit := cols.index[FieldDebit]
	if hasCredit || hasDebit {
		credit, err := optionalAmount(cols, r, FieldCredit)
		if err != nil {
			return decimal.Decimal{}, "", err
		}
		debit, err := optionalAmount(cols, r, FieldDebit)
		if err != nil {
			return decimal.Decimal{}, "", err
		}
		switch {
		case credit.IsPositive() && debit.IsZero():
			return credit, Credit, nil
		case debit.IsPositive() && credit.IsZero():
			return debit, Debit, nil
		case credit.IsZero() && debit.IsZero():
			if _, ok := cols.index[FieldAmount]; !ok {
				return decimal.Decimal{}, "", &RowError{Row: r.num, Column: FieldCredit, Reason: "no amount in 贷方金额 or 借方金额"}
			}
		default:
			return decimal.Decimal{}, "", &RowError{Row: r.num, Column: FieldCredit, Value: cols.get(r, FieldCredit) + " / " + cols.get(r, FieldDebit), Reason: "amounts in both 贷方金额 and 借方金额, or a negative amount"}
		}
	}
	raw := cols.get(r, FieldAmount)
	amount, err := parseAmount(raw)
	if err != nil {
		return decimal.Decimal{}, "", &RowError{Row: r.num, Column: FieldAmount, Value: raw, Reason: "not an amount (" + err.Error() + ")", Cause: err}
	}
	if amount.IsZero() {
		return decimal.Decimal{}, "", &RowError{Row: r.num, Column: FieldAmount, Value: raw, Reason: "zero amount"}
	}
	dir := Credit
	if amount.IsNegative() {
		dir = Debit
	}
	if flag := cols.get(r, FieldDirection); flag != "" {
		d, ok := parseDirection(flag)
		if !ok {
			return decimal.Decimal{}, "", &RowError{Row: r.num, Column: FieldDirection, Value: flag, Reason: "neither credit (贷/收) nor debit (借/支)"}
		}
		dir = d
	}
	return amount.Abs(), dir, nil
}

func optionalAmount(cols columns, r row, f Field) (decimal.Decimal, error) {
	raw := cols.get(r, f)
	d, err := parseAmount(raw)
	if errors.Is(err, errEmpty) {
		return decimal.Zero, nil
	}
	if err != nil {
		return decimal.Decimal{}, &RowError{Row: r.num, Column: f, Value: raw, Reason: "not an amount (" + err.Error() + ")", Cause: err}
	}
	return d, nil
}

// parseDirection reads a 借贷标志: banks write 贷/借, 收/支, 收入/支出,
// 来账/往账, 入/出, C/D or CR/DR. For our account, 贷 (credit) is money in.
func parseDirection(s string) (Direction, bool) {
	s = strings.ToUpper(fold(strings.TrimSpace(s)))
	switch s {
	case "C", "CR", "CREDIT", "+":
		return Credit, true
	case "D", "DR", "DEBIT", "-":
		return Debit, true
	}
	switch {
	case strings.ContainsAny(s, "贷收入来"):
		return Credit, true
	case strings.ContainsAny(s, "借支出往付"):
		return Debit, true
	}
	return "", false
}

var summaryPrefixes = []string{"合计", "总计", "小计", "本页合计", "本页小计", "汇总", "共计", "笔数", "总笔数",
	"借方笔数", "贷方笔数", "借方合计", "贷方合计", "借方发生", "贷方发生", "交易笔数", "期末余额", "期初余额",
	"打印", "制表", "说明", "注:", "温馨提示", "本期", "累计", "#"}

func isSummaryRow(r row) bool {
	for _, c := range r.cells {
		if c == "" {
			continue
		}
		c = fold(c)
		for _, p := range summaryPrefixes {
			if strings.HasPrefix(c, p) {
				return true
			}
		}
		return false // only the first non-empty cell counts
	}
	return false
}

func hasAmount(cols columns, r row) bool {
	for _, f := range []Field{FieldAmount, FieldCredit, FieldDebit} {
		if _, err := parseAmount(cols.get(r, f)); err == nil {
			return true
		}
	}
	return false
}

var titleAccount = regexp.MustCompile(`(?:^|[^方])(?:账号|帐号|账户|帐户)(?:号码)?\s*[:]?\s*([0-9][0-9 \-*]{5,}[0-9])`)

// accountFromTitle finds our own account number in the title rows above the
// header ("账号：1100 6012 3456 7890", or "账号" in one cell and the number in
// the next).
func accountFromTitle(rows []row) string {
	for _, r := range rows {
		for i, c := range r.cells {
			c = fold(c)
			if m := titleAccount.FindStringSubmatch(c); m != nil {
				return strings.NewReplacer(" ", "", "-", "").Replace(m[1])
			}
			h := strings.TrimRight(normalizeHeader(c), ":")
			if (h == "账号" || h == "账户" || h == "帐号" || h == "本方账号") && i+1 < len(r.cells) {
				v := strings.NewReplacer(" ", "", "-", "").Replace(fold(r.cells[i+1]))
				if isDigits(v) && len(v) >= 6 {
					return v
				}
			}
		}
	}
	return ""
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// HeaderGroup is one logical column of a bank statement and every header
// text read as it, for the upload page's "accepted formats" (derived from
// the same table the reader uses, so the page cannot drift from it).
type HeaderGroup struct {
	Field    Field
	Label    string
	Required bool     // a file without it is refused (see RequiredRule)
	Names    []string // accepted header texts, sorted
}

// StatementHeaders lists the statement columns the reader knows, in the
// order a statement usually prints them.
func StatementHeaders() []HeaderGroup {
	order := []Field{FieldSerial, FieldDate, FieldTime, FieldAmount, FieldCredit, FieldDebit, FieldDirection,
		FieldPayerName, FieldPayerAccount, FieldMemo, FieldAccount}
	required := map[Field]bool{FieldSerial: true, FieldDate: true, FieldAmount: true}
	byField := map[Field][]string{}
	for name, f := range headerSynonyms {
		byField[f] = append(byField[f], name)
	}
	out := make([]HeaderGroup, 0, len(order))
	for _, f := range order {
		names := byField[f]
		slices.Sort(names)
		out = append(out, HeaderGroup{Field: f, Label: f.Label(), Required: required[f], Names: names})
	}
	return out
}
