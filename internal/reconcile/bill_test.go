package reconcile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func openBill(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseWeChatBill(t *testing.T) {
	lines, err := ParseWeChatBill(openBill(t, "wechat_all.csv"))
	require.NoError(t, err)
	require.Len(t, lines, 4, "the summary header and row are not trades")

	a := lines[0]
	require.Equal(t, WeChatPay, a.Channel)
	require.Equal(t, "TOPUP20240305A", a.OutTradeNo, "the backtick prefix is removed")
	require.Equal(t, "4200000001202403050000000001", a.ChannelTradeNo)
	require.Equal(t, BillPaid, a.Status)
	require.True(t, dec("100").Equal(a.Amount))
	require.True(t, dec("0.60").Equal(a.Fee))
	require.Equal(t, beijing("2024-03-05 10:00:01"), a.Time)
	require.Equal(t, 2, a.Row)

	r := lines[3]
	require.Equal(t, BillRefund, r.Status)
	require.Equal(t, "TOPUP20240301Z", r.OutTradeNo)
	require.Equal(t, "RF20240305Z1", r.RefundNo)
	require.Equal(t, "50000000012024030500000001", r.ChannelRefundNo)
	require.True(t, dec("40").Equal(r.Amount), r.Amount.String())
}

func TestParseAlipayBill(t *testing.T) {
	lines, err := ParseAlipayBill(openBill(t, "alipay_ywmx.csv"))
	require.NoError(t, err)
	require.Len(t, lines, 3, "# comment lines are skipped")

	d := lines[0]
	require.Equal(t, Alipay, d.Channel)
	require.Equal(t, "TOPUP20240305D", d.OutTradeNo, "the trailing tab is removed")
	require.Equal(t, "2024030522001400001234567890", d.ChannelTradeNo)
	require.Equal(t, BillPaid, d.Status)
	require.True(t, dec("1000").Equal(d.Amount))
	require.Equal(t, beijing("2024-03-05 09:00:20"), d.Time, "完成时间 is the payment time")

	r := lines[2]
	require.Equal(t, BillRefund, r.Status)
	require.Equal(t, "RF20240305Y1", r.RefundNo)
	require.True(t, dec("120").Equal(r.Amount), "refund amounts are positive: %s", r.Amount)
}

func TestParseChannelBillDetectsChannel(t *testing.T) {
	wx, err := ParseChannelBill(openBill(t, "wechat_all.csv"), "wechat_all.csv", Limits{})
	require.NoError(t, err)
	require.Equal(t, WeChatPay, wx[0].Channel)
	ali, err := ParseChannelBill(openBill(t, "alipay_ywmx.csv"), "2088_20240305_业务明细.csv", Limits{})
	require.NoError(t, err)
	require.Equal(t, Alipay, ali[0].Channel)

	_, err = ParseChannelBill(openBill(t, "icbc_gbk.csv"), "icbc.csv", Limits{})
	require.ErrorIs(t, err, ErrNoHeader)
}

func TestParseWeChatBillErrors(t *testing.T) {
	head := "交易时间,公众账号ID,商户号,微信订单号,商户订单号,交易状态,应结订单金额,退款金额\n"
	_, err := ParseWeChatBill(strings.NewReader(head + "`2024-03-05 10:00:00,`wx1,`190,`4200,`A1,`PAYING,`1.00,`0.00\n"))
	require.ErrorIs(t, err, ErrMalformedRow)
	require.Contains(t, err.Error(), "row 2")

	_, err = ParseWeChatBill(strings.NewReader("交易时间,微信订单号,商户订单号\n`2024-03-05 10:00:00,`4200,`A1\n"))
	require.ErrorIs(t, err, ErrMissingColumn)
	require.Contains(t, err.Error(), "交易状态")
}

func TestCompareBills(t *testing.T) {
	theirs, err := ParseWeChatBill(openBill(t, "wechat_all.csv"))
	require.NoError(t, err)
	ours := []OrderRecord{
		{Channel: WeChatPay, OutTradeNo: "TOPUP20240305A", Amount: dec("100.00"), Status: BillPaid},
		{Channel: WeChatPay, OutTradeNo: "TOPUP20240305B", Amount: dec("299.00"), Status: BillPaid},
		{Channel: WeChatPay, OutTradeNo: "TOPUP20240301Z", RefundNo: "RF20240305Z1", Amount: dec("40"), Status: BillRefund},
		{Channel: WeChatPay, OutTradeNo: "TOPUP20240305X", Amount: dec("30"), Status: BillPaid},
	}
	d := CompareBills(ours, theirs)
	require.False(t, d.Empty())

	require.Len(t, d.OnlyChannel, 1, "paid at WeChat, never recorded by us")
	require.Equal(t, "TOPUP20240305C", d.OnlyChannel[0].OutTradeNo)

	require.Len(t, d.OnlyOurs, 1)
	require.Equal(t, "TOPUP20240305X", d.OnlyOurs[0].OutTradeNo)

	require.Len(t, d.AmountMismatch, 1)
	require.Equal(t, "TOPUP20240305B", d.AmountMismatch[0].Ours.OutTradeNo)
	require.True(t, dec("300").Equal(d.AmountMismatch[0].Theirs.Amount))

	// A payment and a refund of the same order are different trades.
	d = CompareBills([]OrderRecord{{Channel: WeChatPay, OutTradeNo: "TOPUP20240301Z", Amount: dec("40"), Status: BillPaid}},
		[]BillLine{theirs[3]})
	require.Len(t, d.OnlyOurs, 1)
	require.Len(t, d.OnlyChannel, 1)

	// Agreement.
	require.True(t, CompareBills(nil, nil).Empty())
	require.True(t, CompareBills([]OrderRecord{{Channel: WeChatPay, OutTradeNo: "TOPUP20240305A", Amount: dec("100"), Status: BillPaid}}, theirs[:1]).Empty())
}
