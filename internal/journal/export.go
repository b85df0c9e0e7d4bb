package journal

import (
	"io"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/csvexport"
)

// bom makes Excel open a CSV file as UTF-8.
const bom = "\uFEFF"

// yuan is fen as a yuan amount with two decimals ("" for none).
func yuan(fen int64) string {
	if fen == 0 {
		return ""
	}
	return decimal.New(fen, -2).StringFixed(2)
}

// GenericColumns are the generic layout's columns.
var GenericColumns = []string{"date", "voucher", "entry", "kind", "item", "account", "account_code", "summary",
	"debit_rmb", "credit_rmb", "memo_credits"}

// WriteGeneric writes the journal in the generic layout (UTF-8 CSV with a
// BOM, one line per journal line, memo lines included with their credits
// and no money).
func WriteGeneric(w io.Writer, j Journal) error {
	if _, err := io.WriteString(w, bom); err != nil {
		return err
	}
	cw := csvexport.NewWriter(w)
	_ = cw.Write(GenericColumns)
	for _, d := range j.Days {
		for _, l := range d.Lines {
			memo := ""
			if l.Memo {
				memo = l.MemoCredits.StringFixed(ledger.Scale)
			}
			_ = cw.Write([]string{l.Date, strconv.Itoa(l.Voucher), strconv.Itoa(l.Entry), string(l.Kind), l.Item, string(l.Account),
				l.Code, Summary(l), yuan(l.Debit), yuan(l.Credit), memo})
		}
	}
	cw.Flush()
	return cw.Error()
}

// summaries are each kind's voucher summary (摘要), as the books show it.
var summaries = map[Kind]string{
	KindTopup:          "充值收款",
	KindUsage:          "预收充值消耗确认收入",
	KindBreakage:       "预收充值过期确认收入",
	KindRefund:         "充值退款",
	KindPlanFee:        "套餐收款",
	KindPlanRecognised: "套餐费按期确认收入",
	KindPlanRefund:     "套餐退款",
	KindPostpaid:       "授信消耗确认收入（应收）",
	KindBillPaid:       "月结账单收款",
	KindPromo:          "赠送余额备查（不入账）",
}

// promoItems name the memo lines.
var promoItems = map[string]string{"granted": "发放", "spent": "消耗", "expired": "过期"}

// Summary is a line's summary (摘要) in Chinese: the voucher's, and for a
// memo line which promotional figure it is.
func Summary(l Line) string {
	s := summaries[l.Kind]
	if l.Memo {
		s += " " + promoItems[l.Item]
	}
	return s
}

// KingdeeColumns are the columns of the Kingdee K/3 standard voucher import
// format (金蝶 K/3 凭证引入 “标准格式” 凭证信息表), in order; README
// "Journal export" gives the source and what each holds.
var KingdeeColumns = []string{"FDATE", "FTRANSDATE", "FPERIOD", "FGROUP", "FNUM", "FENTRYID", "FEXP", "FACCTID",
	"FCLSNAME1", "FOBJID1", "FOBJNAME1", "FCLSNAME2", "FOBJID2", "FOBJNAME2", "FCLSNAME3", "FOBJID3", "FOBJNAME3",
	"FCLSNAME4", "FOBJID4", "FOBJNAME4", "FCLSNAME5", "FOBJID5", "FOBJNAME5", "FCLSNAME6", "FOBJID6", "FOBJNAME6",
	"FCLSNAME7", "FOBJID7", "FOBJNAME7", "FCLSNAME8", "FOBJID8", "FOBJNAME8",
	"FTRANSID", "FCYID", "FEXCHRATE", "FDC", "FFCYAMT", "FQTY", "FPRICE", "FDEBIT", "FCREDIT",
	"FSETTLCODE", "FSETTLENO", "FPREPARE", "FPAY", "FCASH", "FPOSTER", "FCHECKER"}

// KingdeeGroup is the voucher group (凭证字) of exported vouchers.
const KingdeeGroup = "记"

// WriteKingdee writes the journal's booked lines in the Kingdee K/3
// standard voucher layout (UTF-8 CSV with a BOM; save as Excel or map the
// columns in 凭证引入 if the edition wants .xls). Voucher numbers (FNUM)
// run from 1 within each calendar month of the export (FPERIOD is the
// month); entries (FENTRYID) from 0 within a voucher. Memo lines are left
// out: a voucher line must carry money. preparer is FPREPARE (制单人).
func WriteKingdee(w io.Writer, j Journal, preparer string) error {
	if _, err := io.WriteString(w, bom); err != nil {
		return err
	}
	cw := csvexport.NewWriter(w)
	_ = cw.Write(KingdeeColumns)
	month, num := "", 0
	for _, d := range j.Days {
		if m := d.Date[:7]; m != month {
			month, num = m, 0
		}
		voucher := 0
		for _, l := range d.Lines {
			if l.Memo {
				continue
			}
			if l.Voucher != voucher {
				voucher = l.Voucher
				num++
			}
			period := strings.TrimLeft(d.Date[5:7], "0")
			dc, amount := "1", l.Debit
			if l.Credit != 0 {
				dc, amount = "0", l.Credit
			}
			rec := []string{d.Date, d.Date, period, KingdeeGroup, strconv.Itoa(num), strconv.Itoa(l.Entry - 1), Summary(l), l.Code}
			rec = append(rec, make([]string, 24)...) // FCLSNAME1…FOBJNAME8: no 核算项目
			rec = append(rec, "credits-"+d.Date+"-"+string(l.Kind), "RMB", "1", dc, yuan(amount), "0", "0",
				zeroYuan(l.Debit), zeroYuan(l.Credit), "", "", preparer, "", "", "", "")
			_ = cw.Write(rec)
		}
	}
	cw.Flush()
	return cw.Error()
}

// zeroYuan is fen as yuan, "0.00" for none (the amount columns are numbers).
func zeroYuan(fen int64) string { return decimal.New(fen, -2).StringFixed(2) }
