package paysim_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// eventually waits for the background notifies of a page button.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 10*time.Millisecond)
}

func postForm(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.PostForm(u, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestWeChatPapayRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	res, err := b.wx.PreEntrustSign(ctx, wechatpay.PreSign{PlanID: 12535, OutContractNo: "AWX0001", DisplayAccount: "账户 7", OutUserCode: "7", ClientIP: "203.0.113.7"})
	require.NoError(t, err)
	require.Equal(t, b.simURL+"/sign/wechat/AWX0001", res.RedirectURL)
	page := getPage(t, res.RedirectURL)
	require.Contains(t, page, `data-testid="paysim-sign"`)

	// The customer signs on the page; the contract notify reaches us.
	page = postForm(t, res.RedirectURL+"/confirm")
	require.Contains(t, page, "SIGNED")
	eventually(t, func() bool { return len(b.recv.snapshot().wxContracts) == 1 })
	ct := b.recv.snapshot().wxContracts[0]
	require.Equal(t, wechatpay.ContractSigned, ct.ContractState)
	require.Equal(t, "AWX0001", ct.OutContractCode)

	// A debit pays and sends the usual payment notify (trade_type PAP).
	require.NoError(t, b.wx.ApplyDeduction(ctx, wechatpay.Deduction{ContractID: ct.ContractID, OutTradeNo: "TWX0001", Description: "自动充值", AmountFen: 10000}))
	eventually(t, func() bool { return len(b.recv.snapshot().wxPaid) == 1 })
	paid := b.recv.snapshot().wxPaid[0]
	require.Equal(t, wechatpay.TradeTypePAP, paid.TradeType)
	require.Equal(t, wechatpay.StateSuccess, paid.TradeState)
	require.EqualValues(t, 10000, paid.Amount.Total)

	t.Run("SameOrderIsNeverDebitedTwice", func(t *testing.T) {
		err := b.wx.ApplyDeduction(ctx, wechatpay.Deduction{ContractID: ct.ContractID, OutTradeNo: "TWX0001", Description: "自动充值", AmountFen: 10000})
		var ae *wechatpay.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "ORDERPAID", ae.Code)
		require.Contains(t, getPage(t, res.RedirectURL), `data-testid="paysim-debits">1<`)
	})
	t.Run("FailuresOnDemand", func(t *testing.T) {
		for reason, want := range map[string]error{paysim.FailInsufficientFunds: wechatpay.ErrInsufficientFunds, paysim.FailLimit: wechatpay.ErrLimitExceeded, paysim.FailRevoked: wechatpay.ErrContractRevoked} {
			require.NoError(t, b.sim.SetAgreementFailure(paysim.ChannelWeChat, "AWX0001", reason))
			err := b.wx.ApplyDeduction(ctx, wechatpay.Deduction{ContractID: ct.ContractID, OutTradeNo: "TWXF" + reason[:4], Description: "x", AmountFen: 100})
			require.ErrorIs(t, err, want, reason)
		}
		require.NoError(t, b.sim.SetAgreementFailure(paysim.ChannelWeChat, "AWX0001", paysim.FailNone))
		require.NoError(t, b.wx.PreDebitNotice(ctx, ct.ContractID, 100))
	})
	t.Run("UnsignAtTheChannel", func(t *testing.T) {
		postForm(t, res.RedirectURL+"/unsign")
		eventually(t, func() bool { return len(b.recv.snapshot().wxContracts) == 2 })
		term := b.recv.snapshot().wxContracts[1]
		require.Equal(t, wechatpay.ContractTerminated, term.ContractState)
		require.Equal(t, wechatpay.TerminatedByUser, term.Terminated.Mode)
		q, err := b.wx.QueryContract(ctx, "AWX0001")
		require.NoError(t, err)
		require.Equal(t, wechatpay.ContractTerminated, q.ContractState)
		err = b.wx.ApplyDeduction(ctx, wechatpay.Deduction{ContractID: ct.ContractID, OutTradeNo: "TWX0009", Description: "x", AmountFen: 100})
		require.ErrorIs(t, err, wechatpay.ErrContractRevoked)
	})
	require.Empty(t, b.recv.snapshot().rejected)
}

func TestWeChatPapayTerminateByMerchantAndLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.wx.PreEntrustSign(ctx, wechatpay.PreSign{PlanID: 12535, OutContractNo: "AWX0002", DisplayAccount: "x", OutUserCode: "8"})
	require.NoError(t, err)
	d, err := b.sim.SignAgreement(ctx, paysim.ChannelWeChat, "AWX0002")
	require.NoError(t, err)
	require.True(t, d.Acked)
	id := b.recv.snapshot().wxContracts[0].ContractID
	require.NotEmpty(t, id)
	require.NoError(t, b.wx.TerminateContract(ctx, "AWX0002", "用户在门户解约"))
	eventually(t, func() bool { return len(b.recv.snapshot().wxContracts) == 2 })
	require.Equal(t, wechatpay.TerminatedByAPI, b.recv.snapshot().wxContracts[1].Terminated.Mode)
	require.ErrorIs(t, b.wx.TerminateContract(ctx, "AWX0002", "again"), wechatpay.ErrContractRevoked)
}

func TestAlipayAgreementRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	signURL, err := b.ali.AgreementSignURL(alipay.AgreementSign{ExternalAgreementNo: "AAL0001", ExternalLogonID: "9", ReturnURL: "https://shop.example/portal/auto-topup"})
	require.NoError(t, err)
	page := getPage(t, signURL) // the gateway checks the sign and shows the signing page
	require.Contains(t, page, `data-testid="paysim-sign"`)
	require.Contains(t, page, "AAL0001")

	d, err := b.sim.SignAgreement(ctx, paysim.ChannelAlipay, "AAL0001")
	require.NoError(t, err)
	require.True(t, d.Acked)
	n := b.recv.snapshot().aliAgreements[0]
	require.Equal(t, alipay.NotifyTypeSign, n.NotifyType)
	require.Equal(t, alipay.AgreementNormal, n.Status)

	tr, err := b.ali.PayWithAgreement(ctx, alipay.AgreementDebit{AgreementNo: n.AgreementNo, OutTradeNo: "TAL0001", TotalAmount: decimal.NewFromInt(100), Subject: "自动充值"})
	require.NoError(t, err)
	require.NotEmpty(t, tr.TradeNo)
	eventually(t, func() bool { return len(b.recv.snapshot().aliNotifies) == 1 })
	require.Equal(t, alipay.TradeSuccess, b.recv.snapshot().aliNotifies[0].TradeStatus)

	t.Run("RepeatIsTheSameTrade", func(t *testing.T) {
		again, err := b.ali.PayWithAgreement(ctx, alipay.AgreementDebit{AgreementNo: n.AgreementNo, OutTradeNo: "TAL0001", TotalAmount: decimal.NewFromInt(100), Subject: "自动充值"})
		require.NoError(t, err)
		require.Equal(t, tr.TradeNo, again.TradeNo)
	})
	t.Run("FailuresOnDemand", func(t *testing.T) {
		for reason, want := range map[string]error{paysim.FailInsufficientFunds: alipay.ErrInsufficientFunds, paysim.FailLimit: alipay.ErrLimitExceeded, paysim.FailRevoked: alipay.ErrAgreementRevoked} {
			require.NoError(t, b.sim.SetAgreementFailure(paysim.ChannelAlipay, "AAL0001", reason))
			_, err := b.ali.PayWithAgreement(ctx, alipay.AgreementDebit{AgreementNo: n.AgreementNo, OutTradeNo: "TALF" + reason[:4], TotalAmount: decimal.NewFromInt(1), Subject: "x"})
			require.ErrorIs(t, err, want, reason)
		}
		require.NoError(t, b.sim.SetAgreementFailure(paysim.ChannelAlipay, "AAL0001", paysim.FailNone))
	})
	t.Run("QueryAndUnsign", func(t *testing.T) {
		a, err := b.ali.QueryAgreement(ctx, n.AgreementNo)
		require.NoError(t, err)
		require.Equal(t, alipay.AgreementNormal, a.Status)
		require.NoError(t, b.ali.Unsign(ctx, n.AgreementNo))
		eventually(t, func() bool { return len(b.recv.snapshot().aliAgreements) == 2 })
		require.Equal(t, alipay.AgreementUnsign, b.recv.snapshot().aliAgreements[1].Status)
		a, err = b.ali.QueryAgreement(ctx, n.AgreementNo)
		require.NoError(t, err)
		require.Equal(t, alipay.AgreementUnsign, a.Status)
	})
	t.Run("UnknownAgreementPageIs404", func(t *testing.T) {
		resp, err := http.Get(b.simURL + "/sign/alipay/NOPE")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
	require.Empty(t, b.recv.snapshot().rejected)
	require.True(t, strings.Contains(getPage(t, b.simURL+"/"), "AAL0001"), "the index lists agreements")
}
