package reconcile

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/refcode"
)

func transferOrders() map[string]OpenOrder {
	return map[string]OpenOrder{
		codeT1: {OrderNo: "T1", Code: codeT1, Amount: dec("1000.00"), VerifiedPayer: "北京甲公司"},
		codeT2: {OrderNo: "T2", Code: codeT2, Amount: dec("300.00"), VerifiedPayer: "杭州乙有限公司"},
		codeT3: {OrderNo: "T3", Code: codeT3, Amount: dec("5000.00")},
	}
}

func lookupIn(orders map[string]OpenOrder) func(string) (OpenOrder, bool) {
	return func(code string) (OpenOrder, bool) {
		o, ok := orders[code]
		return o, ok
	}
}

// TestMatchStatementFile runs the matcher over a real-looking statement:
// one line completes its order, every other one lands in the unmatched queue
// with the reason finance will see.
func TestMatchStatementFile(t *testing.T) {
	lines, err := parseFile(t, "icbc_gbk.csv")
	require.NoError(t, err)
	lookup := lookupIn(transferOrders())

	want := []struct {
		reason Reason
		order  string
		code   string
	}{
		{ReasonMatched, "T1", codeT1},
		{ReasonPayerDiffers, "T2", codeT2}, // paid by the branch office, not the verified company
		{ReasonAmountDiffers, "T3", codeT3},
		{ReasonBadCheck, "", codeBad},
		{ReasonDebit, "", ""},
		{ReasonNoCode, "", ""},
	}
	require.Len(t, lines, len(want))
	for i, w := range want {
		got := MatchTransfer(lines[i], lookup)
		require.Equal(t, w.reason, got.Reason, "line %d (%s)", i, lines[i].Memo)
		require.Equal(t, w.order, got.Order.OrderNo, "line %d", i)
		require.Equal(t, w.code, got.Code, "line %d", i)
		require.Equal(t, w.reason == ReasonMatched, got.Matched())
	}
}

func TestMatchTransferRules(t *testing.T) {
	orders := transferOrders()
	paid := orders[codeT1]
	paid.Paid = true
	other := refcode.Generate()
	credit := func(memo, amount, payer string) StatementLine {
		return StatementLine{Direction: Credit, Memo: memo, Amount: dec(amount), PayerName: payer}
	}
	tests := []struct {
		name   string
		line   StatementLine
		orders map[string]OpenOrder
		want   Reason
	}{
		{"matched, code in lower case with spaces", credit("货款 7kq3 mzt85", "1000", "北京甲公司"), orders, ReasonMatched},
		{"matched, payer name in full width", credit(codeT1, "1000.00", "北京甲公司　"), orders, ReasonMatched},
		{"no verified company: any payer", credit(codeT3, "5000", "某人"), orders, ReasonMatched},
		{"second payment for a paid order", credit(codeT1, "1000", "北京甲公司"), map[string]OpenOrder{codeT1: paid}, ReasonAlreadyPaid},
		{"amount one fen short", credit(codeT1, "999.99", "北京甲公司"), orders, ReasonAmountDiffers},
		{"valid code of no order", credit("充值 "+other, "1000", "北京甲公司"), orders, ReasonUnknownCode},
		{"typo", credit(codeBad, "1000", "北京甲公司"), orders, ReasonBadCheck},
		{"typo next to a known code still matches", credit(codeBad+" "+codeT1, "1000", "北京甲公司"), orders, ReasonMatched},
		{"two orders in one memo", credit(codeT1+" "+codeT3, "1000", "北京甲公司"), orders, ReasonMultipleCodes},
		{"no code", credit("3月服务费", "1000", "北京甲公司"), orders, ReasonNoCode},
		{"debit", StatementLine{Direction: Debit, Memo: codeT1, Amount: dec("1000")}, orders, ReasonDebit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MatchTransfer(tt.line, lookupIn(tt.orders))
			require.Equal(t, tt.want, got.Reason)
		})
	}
}

func TestSamePayer(t *testing.T) {
	require.True(t, SamePayer("上海某某科技有限公司", " 上海某某科技有限公司 "))
	require.True(t, SamePayer("ACME(上海)有限公司", "acme（上海）有限公司"))
	require.False(t, SamePayer("上海某某科技有限公司", "上海某某科技有限公司北京分公司"))
	require.False(t, SamePayer("", ""))
}
