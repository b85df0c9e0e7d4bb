package reconcile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// Reference codes written into the fixtures by testdata/make_testdata.py.
const (
	codeT1  = "7KQ3MZT85" // order T1, ¥1,000.00, 北京甲公司
	codeT2  = "HX4P9RWES" // order T2, ¥300.00, written full-width lower case
	codeT3  = "N5D2JCU6B" // order T3, but the transfer is for another amount
	codeBad = "7KB3MZT85" // a typo of codeT1
)

func parseFile(t *testing.T, name string) ([]StatementLine, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	return ParseBankStatement(f, name, Limits{})
}

func beijing(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, chinaTime)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestParseBankStatementGBKWithTitleAndSummaryRows(t *testing.T) {
	lines, err := parseFile(t, "icbc_gbk.csv")
	require.NoError(t, err)
	require.Len(t, lines, 6, "summary rows (合计, 笔数) are not transactions")

	first := lines[0]
	require.Equal(t, "1100020109001234567", first.BankAccount, "our account is read from the title rows")
	require.Equal(t, "icbc_gbk.csv", first.SourceFile)
	require.Equal(t, 7, first.Row)
	require.Equal(t, "ICBC2024030500001", first.Serial)
	require.Equal(t, beijing("2024-03-05 09:15:02"), first.Date)
	require.Equal(t, time.UTC, first.Date.Location())
	require.Equal(t, "北京甲公司", first.PayerName)
	require.Equal(t, "6222021000001111", first.PayerAccount)
	require.True(t, dec("1000.00").Equal(first.Amount), first.Amount.String())
	require.Equal(t, Credit, first.Direction)
	require.Equal(t, "汇入汇款 货款 "+codeT1, first.Memo, "摘要 and 附言 are joined")
	require.Equal(t, "ICBC2024030500001", first.RawRow["流水号"])

	require.True(t, dec("300").Equal(lines[1].Amount), "¥ sign: %s", lines[1].Amount)
	require.Equal(t, "杭州乙有限公司（分公司）", lines[1].PayerName)
	require.True(t, dec("500").Equal(lines[2].Amount), "full-width digits: %s", lines[2].Amount)
	require.Equal(t, Debit, lines[4].Direction)
	require.True(t, dec("2000").Equal(lines[4].Amount), "thousands separator: %s", lines[4].Amount)
	require.Equal(t, Credit, lines[5].Direction)
}

func TestParseBankStatementBOMAndDirectionFlag(t *testing.T) {
	lines, err := parseFile(t, "ccb_utf8bom.csv")
	require.NoError(t, err)
	require.Len(t, lines, 3)
	require.Equal(t, "CCB0001", lines[0].Serial, "the BOM must not hide the first header")
	require.Equal(t, "", lines[0].BankAccount, "no title rows: the caller sets the account")
	require.Equal(t, beijing("2024-03-05 09:15:00"), lines[0].Date)
	require.Equal(t, Credit, lines[0].Direction)
	require.Equal(t, strings.ToLower(codeT1), lines[0].Memo)

	require.Equal(t, Debit, lines[1].Direction)
	require.True(t, dec("230.50").Equal(lines[1].Amount))

	require.Equal(t, beijing("2024-03-06 07:05:09"), lines[2].Date)
	require.True(t, dec("12345.67").Equal(lines[2].Amount), lines[2].Amount.String())
	require.Equal(t, "参考码 "+codeT2, lines[2].Memo)
}

func TestParseBankStatementMissingColumn(t *testing.T) {
	_, err := parseFile(t, "missing_serial.csv")
	require.ErrorIs(t, err, ErrMissingColumn)
	var mce *MissingColumnError
	require.True(t, errors.As(err, &mce))
	require.Equal(t, []Field{FieldSerial}, mce.Columns)
	require.Equal(t, 2, mce.Row)
	require.Contains(t, err.Error(), "流水号")
}

func TestParseBankStatementMalformedRow(t *testing.T) {
	_, err := parseFile(t, "bad_amount.csv")
	require.ErrorIs(t, err, ErrMalformedRow)
	var re *RowError
	require.True(t, errors.As(err, &re))
	require.Equal(t, 3, re.Row)
	require.Equal(t, FieldCredit, re.Column)
	require.Contains(t, err.Error(), "row 3")
	require.Contains(t, err.Error(), "12.345")
}

func TestParseBankStatementErrors(t *testing.T) {
	tests := []struct {
		name, file, body string
		want             error
		contains         string
	}{
		{"legacy xls", "s.xls", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest", ErrUnsupportedFormat, ".xls"},
		{"html disguised as xls", "s.xls", "<html><table><tr><td>流水号</td></tr></table></html>", ErrUnsupportedFormat, "HTML"},
		{"broken xlsx", "s.xlsx", "not a zip", ErrUnsupportedFormat, "XLSX"},
		{"no header", "s.csv", "a,b,c\n1,2,3\n", ErrNoHeader, ""},
		{"no amount column", "s.csv", "交易日期,流水号,对方户名,摘要\n20240301,S1,甲,x\n", ErrMissingColumn, "金额"},
		{"serial missing in a row", "s.csv", "交易日期,流水号,金额\n20240301,S1,1.00\n20240302,,2.00\n", ErrMalformedRow, "row 3"},
		{"bad date", "s.csv", "交易日期,流水号,金额\n2024-13-45,S1,1.00\n", ErrMalformedRow, "交易日期"},
		{"bad time", "s.csv", "交易日期,交易时间,流水号,金额\n2024-03-01,25:61,S1,1.00\n", ErrMalformedRow, "交易时间"},
		{"zero amount", "s.csv", "交易日期,流水号,金额\n2024-03-01,S1,0.00\n", ErrMalformedRow, "zero"},
		{"unknown direction", "s.csv", "交易日期,流水号,金额,借贷标志\n2024-03-01,S1,1.00,?\n", ErrMalformedRow, "借贷标志"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBankStatement(strings.NewReader(tt.body), tt.file, Limits{})
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.contains)
		})
	}
}

func TestParseBankStatementXLSX(t *testing.T) {
	f := excelize.NewFile()
	defer f.Close()
	sh := f.GetSheetName(0)
	set := func(cell string, v any) { require.NoError(t, f.SetCellValue(sh, cell, v)) }
	set("A1", "招商银行 账务明细")
	require.NoError(t, f.MergeCell(sh, "A1", "G1"))
	set("A2", "账号")
	set("B2", "755912345610801")
	for i, h := range []string{"交易日", "交易时间", "交易流水号", "对方名称", "对方账号", "贷方金额", "借方金额", "摘要"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, 4)
		set(cell, h)
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	require.NoError(t, err)
	rows := [][]any{
		{time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), "10:20:30", "CMB0001", "北京甲公司", "6214830000001111", 1000.0, nil, "转账 " + codeT1},
		{time.Date(2024, 3, 6, 0, 0, 0, 0, time.UTC), "08:00:00", "CMB0002", "电费", "", nil, 66.6, "代扣电费"},
		{time.Date(2024, 3, 7, 0, 0, 0, 0, time.UTC), "23:59:59", "CMB0003", "杭州乙有限公司", "6214830000002222", 300.1, nil, strings.ToLower(codeT2)},
	}
	for r, vals := range rows {
		for c, v := range vals {
			if v == nil {
				continue
			}
			cell, _ := excelize.CoordinatesToCellName(c+1, r+5)
			set(cell, v)
			if c == 0 {
				require.NoError(t, f.SetCellStyle(sh, cell, cell, dateStyle))
			}
		}
	}
	set("A8", "合计")
	set("F8", 1300.1)
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf))

	lines, err := ParseBankStatement(&buf, "招商银行明细.xlsx", Limits{})
	require.NoError(t, err)
	require.Len(t, lines, 3)
	require.Equal(t, "755912345610801", lines[0].BankAccount)
	require.Equal(t, beijing("2024-03-05 10:20:30"), lines[0].Date, "Excel date cell plus time column, in Beijing time")
	require.Equal(t, "CMB0001", lines[0].Serial)
	require.True(t, dec("1000").Equal(lines[0].Amount))
	require.Equal(t, Credit, lines[0].Direction)
	require.Equal(t, Debit, lines[1].Direction)
	require.True(t, dec("66.60").Equal(lines[1].Amount), lines[1].Amount.String())
	require.True(t, dec("300.10").Equal(lines[2].Amount), "float cell read fen-exact: %s", lines[2].Amount)
	require.Equal(t, 7, lines[2].Row)
}

func TestParseAmount(t *testing.T) {
	tests := map[string]string{
		"1,000.00": "1000", "¥1000": "1000", "￥1，000．00": "1000", "RMB 12,345.67": "12345.67",
		"+5.5": "5.5", "-500.00": "-500", "(20.00)": "-20", "１２３．４５": "123.45", "1000元": "1000",
		"100.30000000000001": "100.3",
	}
	for in, want := range tests {
		got, err := parseAmount(in)
		require.NoError(t, err, in)
		require.True(t, dec(want).Equal(got), "%s → %s", in, got)
	}
	for _, in := range []string{"12.345", "abc", "1.2.3", "1e5", "0x10", "99999999999999.99", "-1000000000000"} {
		_, err := parseAmount(in)
		require.Error(t, err, in)
	}
}

func TestParseDateTime(t *testing.T) {
	want := beijing("2024-03-05 09:15:02")
	tests := [][2]string{
		{"20240305", "091502"}, {"2024-03-05", "09:15:02"}, {"2024/3/5", "9:15:02"},
		{"2024年03月05日", "09:15:02"}, {"2024-03-05 09:15:02", ""}, {"", "2024-03-05 09:15:02"},
		{"20240305091502", ""}, {"2024-03-05", "2024-03-05 09:15:02"}, {"2024-03-05T09:15:02", ""},
		{"４５３５６", "09:15:02"}, // Excel serial 45356 = 2024-03-05, full-width
	}
	for _, tt := range tests {
		got, err := parseDateTime(tt[0], tt[1])
		require.NoError(t, err, "%q %q", tt[0], tt[1])
		require.Equal(t, want, got, "%q %q", tt[0], tt[1])
	}
	got, err := parseDateTime("2024-03-05", "")
	require.NoError(t, err)
	require.Equal(t, beijing("2024-03-05 00:00:00"), got)
}

// TestParseBankStatementBilingualUTF16TSV reads a "Unicode text" export: UTF-16
// with BOM, tab-separated, headers with English glosses and units.
func TestParseBankStatementBilingualUTF16TSV(t *testing.T) {
	text := "交易日期[ Transaction Date ]\t交易时间[ Transaction Time ]\t交易流水号[ Serial No ]\t付款人名称[ Payer's Name ]\t付款人账号[ Payer's Account ]\t贷方发生额（收入）\t借方发生额（支取）\t附言[ Remark ]\n" +
		"20240305\t09:15:02\tBOC778899\t北京甲公司\t4563 5100 0000 1111\t1,000.00\t\t" + codeT1 + "\n"
	u := []uint16{0xFEFF}
	for _, r := range text {
		u = append(u, uint16(r)) // every rune here is in the BMP
	}
	var buf bytes.Buffer
	for _, c := range u {
		buf.WriteByte(byte(c))
		buf.WriteByte(byte(c >> 8))
	}
	lines, err := ParseBankStatement(&buf, "boc.txt", Limits{})
	require.NoError(t, err)
	require.Len(t, lines, 1)
	require.Equal(t, "BOC778899", lines[0].Serial)
	require.Equal(t, "北京甲公司", lines[0].PayerName)
	require.Equal(t, "4563510000001111", lines[0].PayerAccount)
	require.True(t, dec("1000").Equal(lines[0].Amount))
	require.Equal(t, Credit, lines[0].Direction)
	require.Equal(t, codeT1, lines[0].Memo)
	require.Equal(t, beijing("2024-03-05 09:15:02"), lines[0].Date)
}

func TestParseBankStatementOwnAccountColumn(t *testing.T) {
	body := "本方账号,交易日期,流水号,对方户名,收入金额,支出金额,摘要\n" +
		"3100 1234 5678,2024-03-05,S1,甲公司,100.00,,货款\n" +
		"3100 8765 4321,2024-03-05,S1,乙公司,,20.00,手续费\n"
	lines, err := ParseBankStatement(strings.NewReader(body), "multi.csv", Limits{})
	require.NoError(t, err)
	require.Len(t, lines, 2)
	require.Equal(t, "310012345678", lines[0].BankAccount)
	require.Equal(t, "310087654321", lines[1].BankAccount)
	require.Equal(t, Debit, lines[1].Direction)
}
