package reconcile

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Channel is a payment channel whose daily bill we reconcile.
type Channel string

// Payment channels.
const (
	WeChatPay Channel = "wechat"
	Alipay    Channel = "alipay"
)

// BillStatus says whether a bill line is a payment or a refund.
type BillStatus string

// Bill line statuses.
const (
	BillPaid   BillStatus = "paid"
	BillRefund BillStatus = "refund"
)

// BillLine is one trade of a payment channel's daily bill.
type BillLine struct {
	Channel Channel
	// Row is the 1-based row number in the bill file.
	Row int
	// OutTradeNo is our merchant order number (商户订单号).
	OutTradeNo string
	// ChannelTradeNo is the channel's transaction id (微信订单号 / 支付宝交易号).
	ChannelTradeNo string
	// RefundNo is our refund number (商户退款单号 / 退款批次号/请求号), for
	// refunds; ChannelRefundNo is the channel's (微信退款单号).
	RefundNo        string
	ChannelRefundNo string
	// Amount is positive, in yuan, exact to the fen: the order amount for a
	// payment, the refunded amount for a refund.
	Amount decimal.Decimal
	// Fee is the channel's service fee (手续费 / 服务费), as printed.
	Fee    decimal.Decimal
	Status BillStatus
	// Time is the payment or refund time, read as Beijing time, in UTC.
	Time time.Time
}

// ParseChannelBill reads a WeChat Pay trade bill or an Alipay 业务明细 bill,
// telling them apart by their header row, within lim (zero fields take
// DefaultLimits). Errors as for the parsers it calls, and *TooLargeError.
func ParseChannelBill(r io.Reader, filename string, lim Limits) ([]BillLine, error) {
	sheets, err := readTable(r, filename, lim)
	if err != nil {
		return nil, err
	}
	for _, rows := range sheets {
		for _, rw := range rows {
			c := headerIndex(rw)
			if _, ok := c["微信订单号"]; ok {
				return parseWeChatRows(rows)
			}
			if _, ok := c["支付宝交易号"]; ok {
				return parseAlipayRows(rows)
			}
		}
	}
	return nil, fmt.Errorf("%w: neither a WeChat Pay trade bill (微信订单号) nor an Alipay 业务明细 bill (支付宝交易号)", ErrNoHeader)
}

// ParseWeChatBill reads a WeChat Pay daily trade bill (交易账单, bill_type
// ALL, SUCCESS or REFUND), as downloaded through the download-bill API.
//
// Layout, per WeChat Pay's documentation of the trade bill file
// (https://pay.weixin.qq.com/doc/v3/merchant/4012084430 "交易账单文件格式" and
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_6): a header row
// (交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,
// 交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,
// 商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,
// 手续费,费率,订单金额,申请退款金额,费率备注), detail rows whose every field
// starts with a backtick (`) so Excel keeps long numbers intact, then a
// summary header (总交易单数,…) and one summary row. Amounts are in yuan;
// 交易时间 is Beijing time, "yyyy-MM-dd HH:mm:ss". 交易状态 SUCCESS is a
// payment, REFUND a refund (amount: 申请退款金额, else 退款金额), REVOKED a
// payment reversed in full (a refund of the order amount).
//
// Columns are found by header text, so the older layout without 特约商户号
// or the 订单金额 columns reads as well. Errors: ErrNoHeader,
// *MissingColumnError, *RowError.
func ParseWeChatBill(r io.Reader) ([]BillLine, error) {
	sheets, err := readTable(r, "wechat.csv", DefaultLimits())
	if err != nil {
		return nil, err
	}
	return parseWeChatRows(sheets[0])
}

// ParseAlipayBill reads the 业务明细 CSV of an Alipay trade bill (the
// "…_业务明细.csv" file in the zip that alipay.data.dataservice.bill.downloadurl.query
// points to, bill_type trade).
//
// Layout, per Alipay's reconciliation documentation
// (https://opendocs.alipay.com/open/204/106262 and the bill download API,
// https://opendocs.alipay.com/apis/api_15/alipay.data.dataservice.bill.downloadurl.query):
// GBK text; comment lines starting with # (title, 账号, 起始日期, a
// "业务明细列表" rule) above the header row 支付宝交易号,商户订单号,业务类型,商品名称,
// 创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,
// 商家实收（元）,…,退款批次号/请求号,服务费（元）,分润（元）,备注, then the detail
// rows, then # lines again ("业务明细列表结束", 交易合计, 退款合计, 导出时间).
// 业务类型 交易 is a payment, 退款 a refund (its amounts may be printed
// negative; Amount is always positive).
//
// Errors: ErrNoHeader, *MissingColumnError, *RowError.
func ParseAlipayBill(r io.Reader) ([]BillLine, error) {
	sheets, err := readTable(r, "alipay.csv", DefaultLimits())
	if err != nil {
		return nil, err
	}
	return parseAlipayRows(sheets[0])
}

// headerIndex maps normalized header texts to their column.
func headerIndex(r row) map[string]int {
	m := map[string]int{}
	for i, c := range r.cells {
		h := normalizeHeader(c)
		if _, dup := m[h]; !dup && h != "" {
			m[h] = i
		}
	}
	return m
}

// billTable is a bill's header mapping and its data rows.
type billTable struct {
	headerRow int
	index     map[string]int
	rows      []row
}

func (t billTable) get(r row, names ...string) string {
	for _, n := range names {
		if i, ok := t.index[n]; ok {
			if v := r.cell(i); v != "" {
				return v
			}
		}
	}
	return ""
}

// findBillTable locates the header row holding every required column and
// collects the data rows below it up to the first row for which stop is true.
func findBillTable(rows []row, required []string, stop func(row) bool) (billTable, error) {
	for i, rw := range rows {
		idx := headerIndex(rw)
		if _, ok := idx[required[0]]; !ok {
			continue
		}
		var missing []string
		for _, f := range required[1:] {
			if _, ok := idx[f]; !ok {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			fields := make([]Field, len(missing))
			for j, m := range missing {
				fields[j] = Field(m)
			}
			return billTable{}, &MissingColumnError{Row: rw.num, Columns: fields}
		}
		t := billTable{headerRow: rw.num, index: idx}
		for _, d := range rows[i+1:] {
			if d.empty() {
				continue
			}
			if stop(d) {
				break
			}
			t.rows = append(t.rows, d)
		}
		return t, nil
	}
	return billTable{}, fmt.Errorf("%w: no row holds the column %s", ErrNoHeader, required[0])
}

func parseWeChatRows(rows []row) ([]BillLine, error) {
	t, err := findBillTable(rows, []string{"微信订单号", "交易时间", "商户订单号", "交易状态", "应结订单金额"}, func(r row) bool {
		return strings.HasPrefix(r.cell(0), "总交易单数") || strings.HasPrefix(r.cell(0), "总")
	})
	if err != nil {
		return nil, err
	}
	var out []BillLine
	for _, r := range t.rows {
		line := BillLine{
			Channel:         WeChatPay,
			Row:             r.num,
			OutTradeNo:      t.get(r, "商户订单号"),
			ChannelTradeNo:  t.get(r, "微信订单号"),
			RefundNo:        t.get(r, "商户退款单号"),
			ChannelRefundNo: t.get(r, "微信退款单号"),
		}
		if line.OutTradeNo == "" {
			return nil, &RowError{Row: r.num, Column: "商户订单号", Reason: "missing merchant order number"}
		}
		var amountCols []string
		switch st := strings.ToUpper(t.get(r, "交易状态")); st {
		case "SUCCESS":
			line.Status, amountCols = BillPaid, []string{"订单金额", "应结订单金额"}
		case "REFUND":
			line.Status, amountCols = BillRefund, []string{"申请退款金额", "退款金额"}
		case "REVOKED":
			line.Status, amountCols = BillRefund, []string{"订单金额", "应结订单金额"}
		default:
			return nil, &RowError{Row: r.num, Column: "交易状态", Value: st, Reason: "unknown trade status"}
		}
		if line.Amount, err = billAmount(t, r, amountCols...); err != nil {
			return nil, err
		}
		if fee := t.get(r, "手续费"); fee != "" {
			if line.Fee, err = billAmount(t, r, "手续费"); err != nil {
				return nil, err
			}
		}
		if line.Time, err = billTime(t, r, "交易时间"); err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, nil
}

func parseAlipayRows(rows []row) ([]BillLine, error) {
	t, err := findBillTable(rows, []string{"支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额"}, func(r row) bool {
		return strings.HasPrefix(r.cell(0), "#")
	})
	if err != nil {
		return nil, err
	}
	var out []BillLine
	for _, r := range t.rows {
		line := BillLine{
			Channel:        Alipay,
			Row:            r.num,
			OutTradeNo:     t.get(r, "商户订单号"),
			ChannelTradeNo: t.get(r, "支付宝交易号"),
			RefundNo:       t.get(r, "退款批次号/请求号"),
		}
		if line.OutTradeNo == "" {
			return nil, &RowError{Row: r.num, Column: "商户订单号", Reason: "missing merchant order number"}
		}
		switch typ := t.get(r, "业务类型"); typ {
		case "交易":
			line.Status = BillPaid
		case "退款":
			line.Status = BillRefund
		default:
			return nil, &RowError{Row: r.num, Column: "业务类型", Value: typ, Reason: "neither 交易 nor 退款"}
		}
		if line.Amount, err = billAmount(t, r, "订单金额"); err != nil {
			return nil, err
		}
		if fee := t.get(r, "服务费"); fee != "" {
			if line.Fee, err = billAmount(t, r, "服务费"); err != nil {
				return nil, err
			}
		}
		if line.Time, err = billTime(t, r, "完成时间", "创建时间"); err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, nil
}

// billAmount reads the first non-empty of the columns as a positive amount.
func billAmount(t billTable, r row, cols ...string) (decimal.Decimal, error) {
	raw := t.get(r, cols...)
	d, err := parseAmount(raw)
	if err != nil {
		if errors.Is(err, errEmpty) {
			err = errors.New("empty")
		}
		return decimal.Decimal{}, &RowError{Row: r.num, Column: Field(cols[0]), Value: raw, Reason: "not an amount (" + err.Error() + ")", Cause: err}
	}
	return d.Abs(), nil
}

func billTime(t billTable, r row, cols ...string) (time.Time, error) {
	raw := t.get(r, cols...)
	ts, err := parseDateTime(raw, "")
	if err != nil {
		return time.Time{}, &RowError{Row: r.num, Column: Field(cols[0]), Value: raw, Reason: "not a date and time"}
	}
	return ts, nil
}
