package paysim_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paykey"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// devKeys are generated once for the package (RSA generation is slow).
var devKeys = sync.OnceValues(func() (paysim.DevKeys, error) {
	dir, err := os.MkdirTemp("", "paysim-test-*")
	if err != nil {
		return paysim.DevKeys{}, err
	}
	return paysim.LoadOrCreateDevKeys(dir)
})

// receiver is our side's notify endpoint, using the real clients to verify.
type receiver struct {
	wx  *wechatpay.Client
	ali *alipay.Client

	mu          sync.Mutex
	failFirst   int // answer 500 to this many attempts first
	attempts    int
	rejected    []error
	wxPaid      []wechatpay.Transaction
	wxRefunds   []wechatpay.Refund
	aliNotifies []alipay.Notification
	rawBodies   [][]byte
	// agreement notifies (agreement_test.go)
	wxContracts   []wechatpay.Contract
	aliAgreements []alipay.AgreementNotification
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if rc.attempts <= rc.failFirst {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	rc.rawBodies = append(rc.rawBodies, body)
	switch r.URL.Path {
	case "/pay/notify/wechat":
		tx, err := rc.wx.ParseNotify(r.Header, body)
		if err != nil {
			rc.rejected = append(rc.rejected, err)
			wechatpay.AnswerFailure(w, http.StatusUnauthorized, "bad notify")
			return
		}
		rc.wxPaid = append(rc.wxPaid, tx)
		wechatpay.AnswerSuccess(w)
	case "/pay/notify/wechat-refund":
		rf, err := rc.wx.ParseRefundNotify(r.Header, body)
		if err != nil {
			rc.rejected = append(rc.rejected, err)
			wechatpay.AnswerFailure(w, http.StatusUnauthorized, "bad notify")
			return
		}
		rc.wxRefunds = append(rc.wxRefunds, rf)
		wechatpay.AnswerSuccess(w)
	case "/pay/notify/wechat/contract":
		ct, err := rc.wx.ParseContractNotify(r.Header, body)
		if err != nil {
			rc.rejected = append(rc.rejected, err)
			wechatpay.AnswerFailure(w, http.StatusUnauthorized, "bad notify")
			return
		}
		rc.wxContracts = append(rc.wxContracts, ct)
		wechatpay.AnswerSuccess(w)
	case "/pay/notify/alipay/agreement":
		form, _ := url.ParseQuery(string(body))
		n, err := rc.ali.ParseAgreementNotify(form)
		if err != nil {
			rc.rejected = append(rc.rejected, err)
			alipay.AnswerFailure(w, http.StatusUnauthorized)
			return
		}
		rc.aliAgreements = append(rc.aliAgreements, n)
		alipay.AnswerSuccess(w)
	case "/pay/notify/alipay":
		form, err := url.ParseQuery(string(body))
		if err == nil {
			var n alipay.Notification
			if n, err = rc.ali.ParseNotify(form); err == nil {
				rc.aliNotifies = append(rc.aliNotifies, n)
				alipay.AnswerSuccess(w)
				return
			}
		}
		rc.rejected = append(rc.rejected, err)
		alipay.AnswerFailure(w, http.StatusUnauthorized)
	default:
		http.NotFound(w, r)
	}
}

func (rc *receiver) snapshot() receiver {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return receiver{attempts: rc.attempts, rejected: append([]error(nil), rc.rejected...), wxPaid: append([]wechatpay.Transaction(nil), rc.wxPaid...),
		wxRefunds: append([]wechatpay.Refund(nil), rc.wxRefunds...), aliNotifies: append([]alipay.Notification(nil), rc.aliNotifies...),
		rawBodies: append([][]byte(nil), rc.rawBodies...), wxContracts: append([]wechatpay.Contract(nil), rc.wxContracts...),
		aliAgreements: append([]alipay.AgreementNotification(nil), rc.aliAgreements...)}
}

type testBundle struct {
	keys    paysim.DevKeys
	sim     *paysim.Server
	simURL  string
	clock   *atomic.Int64 // sandbox clock offset in seconds
	recv    *receiver
	recvURL string
	wx      *wechatpay.Client
	ali     *alipay.Client
}

// setup starts a sandbox and our notify receiver, and builds both clients
// from the settings the sandbox prints (the same path the server takes).
func setup(t *testing.T) *testBundle {
	t.Helper()
	keys, err := devKeys()
	require.NoError(t, err)
	b := &testBundle{keys: keys, clock: &atomic.Int64{}}
	cfg := keys.Config()
	cfg.RetryDelays = []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond}
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(b.clock.Load()) * time.Second) }
	b.sim = paysim.New(cfg)
	simSrv := httptest.NewServer(b.sim)
	t.Cleanup(simSrv.Close)
	t.Cleanup(b.sim.Wait)
	b.simURL = simSrv.URL

	b.recv = &receiver{}
	recvSrv := httptest.NewServer(b.recv)
	t.Cleanup(recvSrv.Close)
	b.recvURL = recvSrv.URL

	ws, as := keys.WeChatSettings(b.simURL), keys.AlipaySettings(b.simURL)
	ws.NotifyURL, as.NotifyURL = b.recvURL+"/pay/notify/wechat", b.recvURL+"/pay/notify/alipay"
	ws.ContractNotifyURL, as.AgreementNotifyURL = b.recvURL+"/pay/notify/wechat/contract", b.recvURL+"/pay/notify/alipay/agreement"
	ws.PapayPlanID = "12535"
	b.wx, err = ws.Client()
	require.NoError(t, err)
	b.ali, err = as.Client()
	require.NoError(t, err)
	b.recv.wx, b.recv.ali = b.wx, b.ali
	return b
}

// simPost calls a /sim endpoint and decodes its answer.
func (b *testBundle) simPost(t *testing.T, path string) (int, paysim.Delivery) {
	t.Helper()
	resp, err := http.Post(b.simURL+path, "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var d paysim.Delivery
	_ = json.NewDecoder(resp.Body).Decode(&d)
	return resp.StatusCode, d
}

func getPage(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestWeChatRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	codeURL, err := b.wx.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WX20260101000001", Description: "充值 ¥100", AmountFen: 10000, TimeExpire: time.Now().Add(15 * time.Minute)})
	require.NoError(t, err)
	require.Equal(t, b.simURL+"/pay/wechat/WX20260101000001", codeURL)

	again, err := b.wx.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WX20260101000001", Description: "充值 ¥100", AmountFen: 10000})
	require.NoError(t, err, "repeating an identical order returns the same code")
	require.Equal(t, codeURL, again)
	_, err = b.wx.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WX20260101000001", Description: "充值 ¥100", AmountFen: 20000})
	var ae *wechatpay.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "OUT_TRADE_NO_USED", ae.Code)

	tx, err := b.wx.QueryByOutTradeNo(ctx, "WX20260101000001")
	require.NoError(t, err)
	require.Equal(t, wechatpay.StateNotPay, tx.TradeState)
	require.EqualValues(t, 10000, tx.Amount.Total)

	page := getPage(t, codeURL)
	require.Contains(t, page, "¥100.00")
	require.Contains(t, page, `data-testid="paysim-confirm"`)

	// A person presses Confirm: a plain form POST, redirected back to the page.
	resp, err := http.PostForm(codeURL+"/confirm", nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), ">SUCCESS<")
	require.NotContains(t, string(body), `data-testid="paysim-confirm"`)
	b.sim.Wait()

	got := b.recv.snapshot()
	require.Empty(t, got.rejected)
	require.Len(t, got.wxPaid, 1)
	paid := got.wxPaid[0]
	require.Equal(t, "WX20260101000001", paid.OutTradeNo)
	require.Equal(t, wechatpay.StateSuccess, paid.TradeState)
	require.EqualValues(t, 10000, paid.Amount.Total)
	require.Equal(t, paysim.DevWeChatMchID, paid.MchID)
	require.Equal(t, paysim.DevWeChatAppID, paid.AppID)
	_, ok := paid.PaidAt()
	require.True(t, ok)

	tx, err = b.wx.QueryByOutTradeNo(ctx, "WX20260101000001")
	require.NoError(t, err)
	require.Equal(t, wechatpay.StateSuccess, tx.TradeState)
	require.Equal(t, paid.TransactionID, tx.TransactionID)

	err = b.wx.Close(ctx, "WX20260101000001")
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "ORDERPAID", ae.Code)

	code, _ := b.simPost(t, "/sim/wechat/WX20260101000001/confirm")
	require.Equal(t, http.StatusConflict, code, "a paid order cannot be paid twice")

	rf, err := b.wx.Refund(ctx, wechatpay.RefundRequest{OutTradeNo: "WX20260101000001", OutRefundNo: "RF1", RefundFen: 3000, TotalFen: 10000, NotifyURL: b.recvURL + "/pay/notify/wechat-refund"})
	require.NoError(t, err)
	require.Equal(t, wechatpay.RefundSuccess, rf.Status)
	require.EqualValues(t, 3000, rf.Amount.Refund)
	rf2, err := b.wx.Refund(ctx, wechatpay.RefundRequest{OutTradeNo: "WX20260101000001", OutRefundNo: "RF1", RefundFen: 3000, TotalFen: 10000})
	require.NoError(t, err, "the same refund number is the same refund")
	require.Equal(t, rf.RefundID, rf2.RefundID)
	_, err = b.wx.Refund(ctx, wechatpay.RefundRequest{OutTradeNo: "WX20260101000001", OutRefundNo: "RF2", RefundFen: 7001, TotalFen: 10000})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "INVALID_REQUEST", ae.Code, "refunds never exceed what was paid")

	q, err := b.wx.QueryRefund(ctx, "RF1")
	require.NoError(t, err)
	require.EqualValues(t, 3000, q.Amount.Refund)
	tx, err = b.wx.QueryByOutTradeNo(ctx, "WX20260101000001")
	require.NoError(t, err)
	require.Equal(t, wechatpay.StateRefund, tx.TradeState)

	b.sim.Wait()
	got = b.recv.snapshot()
	require.Len(t, got.wxRefunds, 1)
	require.Equal(t, "RF1", got.wxRefunds[0].OutRefundNo)
	require.Equal(t, wechatpay.RefundSuccess, got.wxRefunds[0].RefundStatus)
}

func TestWeChatCloseAndExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	_, err := b.wx.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WXCLOSE00001", Description: "充值 ¥30", AmountFen: 3000})
	require.NoError(t, err)
	require.NoError(t, b.wx.Close(ctx, "WXCLOSE00001"))
	tx, err := b.wx.QueryByOutTradeNo(ctx, "WXCLOSE00001")
	require.NoError(t, err)
	require.Equal(t, wechatpay.StateClosed, tx.TradeState)
	code, _ := b.simPost(t, "/sim/wechat/WXCLOSE00001/confirm")
	require.Equal(t, http.StatusConflict, code, "a closed order cannot be paid")

	codeURL, err := b.wx.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WXEXPIRE0001", Description: "充值 ¥30", AmountFen: 3000, TimeExpire: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	b.clock.Store(120) // two minutes later at the channel
	require.Contains(t, getPage(t, codeURL), `data-testid="paysim-expired"`)
	code, _ = b.simPost(t, "/sim/wechat/WXEXPIRE0001/confirm")
	require.Equal(t, http.StatusConflict, code, "an expired order cannot be paid")

	_, err = b.wx.QueryByOutTradeNo(ctx, "WXNOSUCH0001")
	require.ErrorIs(t, err, wechatpay.ErrOrderNotExist)
	require.Empty(t, b.recv.snapshot().wxPaid)
}

// tamperTransport changes outgoing requests or incoming answers.
type tamperTransport struct {
	req  func(*http.Request, []byte) []byte
	resp func(*http.Response, []byte) []byte
}

func (tt tamperTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tt.req != nil && r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		b = tt.req(r, b)
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || tt.resp == nil {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b = tt.resp(resp, b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	return resp, nil
}

func TestWeChatSandboxRejectsBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	order := wechatpay.NativeOrder{OutTradeNo: "WXBAD0000001", Description: "充值 ¥100", AmountFen: 10000}
	other, err := paykey.Generate()
	require.NoError(t, err)

	cases := map[string]func(c *wechatpay.Client){
		"WrongKey":      func(c *wechatpay.Client) { c.MerchantPrivateKey = other },
		"UnknownSerial": func(c *wechatpay.Client) { c.MerchantCertSerial = "0000000000000000000000000000000000000000" },
		"OtherMerchant": func(c *wechatpay.Client) { c.MchID = "1900000999" },
		"StaleRequest":  func(c *wechatpay.Client) { c.Now = func() time.Time { return time.Now().Add(-6 * time.Minute) } },
		"TamperedBody": func(c *wechatpay.Client) {
			c.HTTPClient = &http.Client{Transport: tamperTransport{req: func(_ *http.Request, b []byte) []byte {
				return bytes.Replace(b, []byte(`"total":10000`), []byte(`"total":1`), 1)
			}}}
		},
		"TamperedURL": func(c *wechatpay.Client) {
			c.HTTPClient = &http.Client{Transport: tamperTransport{req: func(r *http.Request, b []byte) []byte {
				r.URL.RawQuery = "x=1"
				return b
			}}}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			c := *b.wx
			mutate(&c)
			_, err := c.CreateNative(ctx, order)
			var ae *wechatpay.APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, http.StatusUnauthorized, ae.Status)
			require.Equal(t, "SIGN_ERROR", ae.Code)
		})
	}
	_, err = b.wx.QueryByOutTradeNo(ctx, order.OutTradeNo)
	require.ErrorIs(t, err, wechatpay.ErrOrderNotExist, "no rejected request created an order")
}

func TestWeChatClientRejectsBadAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	other, err := paykey.Generate()
	require.NoError(t, err)

	t.Run("WrongPlatformKey", func(t *testing.T) {
		c := *b.wx
		c.PlatformPublicKeys = map[string]*rsa.PublicKey{b.keys.WeChatPlatformSerial: &other.PublicKey}
		_, err := c.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WXANS0000001", Description: "x", AmountFen: 1})
		require.ErrorIs(t, err, wechatpay.ErrBadSignature)
	})
	t.Run("UnknownPlatformSerial", func(t *testing.T) {
		c := *b.wx
		c.PlatformPublicKeys = map[string]*rsa.PublicKey{"ELSE": &b.keys.WeChatPlatformKey.PublicKey}
		_, err := c.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WXANS0000002", Description: "x", AmountFen: 1})
		require.ErrorIs(t, err, wechatpay.ErrUnknownSerial)
	})
	t.Run("TamperedAnswer", func(t *testing.T) {
		c := *b.wx
		c.HTTPClient = &http.Client{Transport: tamperTransport{resp: func(_ *http.Response, body []byte) []byte {
			return bytes.Replace(body, []byte("/pay/wechat/"), []byte("/evil/wechat/"), 1)
		}}}
		_, err := c.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WXANS0000003", Description: "x", AmountFen: 1})
		require.ErrorIs(t, err, wechatpay.ErrBadSignature)
	})
}

func TestWeChatNotifyDelivery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RetriedUntilAcknowledged", func(t *testing.T) {
		b := setup(t)
		b.recv.failFirst = 2
		_, err := b.wx.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WXRETRY00001", Description: "x", AmountFen: 3000})
		require.NoError(t, err)
		code, d := b.simPost(t, "/sim/wechat/WXRETRY00001/confirm")
		require.Equal(t, http.StatusOK, code)
		require.True(t, d.Acked)
		require.Equal(t, 3, d.Attempts)
		require.Len(t, b.recv.snapshot().wxPaid, 1)
	})
	t.Run("ReplayIsByteForByte", func(t *testing.T) {
		b := setup(t)
		_, err := b.wx.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WXREPLAY0001", Description: "x", AmountFen: 3000})
		require.NoError(t, err)
		code, _ := b.simPost(t, "/sim/wechat/WXREPLAY0001/confirm")
		require.Equal(t, http.StatusOK, code)
		code, d := b.simPost(t, "/sim/wechat/WXREPLAY0001/replay")
		require.Equal(t, http.StatusOK, code)
		require.True(t, d.Acked, "a replay within five minutes still verifies: idempotency is the order's job")
		code, _ = b.simPost(t, "/sim/wechat/WXREPLAY0001/replay?fresh=1")
		require.Equal(t, http.StatusOK, code)
		got := b.recv.snapshot()
		require.Len(t, got.wxPaid, 3)
		require.Equal(t, got.wxPaid[0], got.wxPaid[1])
		require.Equal(t, got.rawBodies[0], got.rawBodies[1])
		require.Equal(t, got.wxPaid[0].TransactionID, got.wxPaid[2].TransactionID)
	})
	t.Run("StaleNotifyRejected", func(t *testing.T) {
		b := setup(t)
		_, err := b.wx.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: "WXSTALE00001", Description: "x", AmountFen: 3000})
		require.NoError(t, err)
		b.clock.Store(-6 * 60) // the channel signs six minutes in the past
		code, d := b.simPost(t, "/sim/wechat/WXSTALE00001/confirm")
		require.Equal(t, http.StatusOK, code)
		require.False(t, d.Acked)
		require.Equal(t, 3, d.Attempts)
		require.Equal(t, http.StatusUnauthorized, d.Status)
		got := b.recv.snapshot()
		require.Empty(t, got.wxPaid)
		require.Len(t, got.rejected, 3)
		require.ErrorIs(t, got.rejected[0], wechatpay.ErrStaleNotify)
	})
	t.Run("UnknownOrder", func(t *testing.T) {
		b := setup(t)
		code, _ := b.simPost(t, "/sim/wechat/NOPE/confirm")
		require.Equal(t, http.StatusNotFound, code)
		code, _ = b.simPost(t, "/sim/alipay/NOPE/replay")
		require.Equal(t, http.StatusNotFound, code)
	})
}

func TestAlipayRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	hundred := decimal.RequireFromString("100")

	qr, err := b.ali.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: "AL20260101000001", TotalAmount: hundred, Subject: "充值 ¥100", Timeout: 15 * time.Minute})
	require.NoError(t, err)
	require.Equal(t, b.simURL+"/pay/alipay/AL20260101000001", qr)

	_, err = b.ali.Query(ctx, "AL20260101000001")
	require.ErrorIs(t, err, alipay.ErrTradeNotExist, "before the code is scanned Alipay knows no trade")

	page := getPage(t, qr) // scanning
	require.Contains(t, page, "¥100.00")
	tr, err := b.ali.Query(ctx, "AL20260101000001")
	require.NoError(t, err)
	require.Equal(t, alipay.TradeWaitBuyerPay, tr.TradeStatus)

	code, d := b.simPost(t, "/sim/alipay/AL20260101000001/confirm")
	require.Equal(t, http.StatusOK, code)
	require.True(t, d.Acked)
	require.Equal(t, "success", d.Answer)

	got := b.recv.snapshot()
	require.Empty(t, got.rejected)
	require.Len(t, got.aliNotifies, 1)
	n := got.aliNotifies[0]
	require.Equal(t, "AL20260101000001", n.OutTradeNo)
	require.Equal(t, alipay.TradeSuccess, n.TradeStatus)
	require.True(t, n.TotalAmount.Equal(hundred))
	require.Equal(t, paysim.DevAlipayAppID, n.AppID)
	require.Equal(t, paysim.DevAlipaySeller, n.SellerID)
	require.False(t, n.GmtPayment.IsZero())

	tr, err = b.ali.Query(ctx, "AL20260101000001")
	require.NoError(t, err)
	require.Equal(t, alipay.TradeSuccess, tr.TradeStatus)
	require.Equal(t, n.TradeNo, tr.TradeNo)
	require.True(t, tr.TotalAmount.Equal(hundred))

	var ae *alipay.APIError
	err = b.ali.Close(ctx, "AL20260101000001")
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "ACQ.TRADE_STATUS_ERROR", ae.SubCode)

	rr, err := b.ali.Refund(ctx, alipay.RefundRequest{OutTradeNo: "AL20260101000001", OutRequestNo: "R1", RefundAmount: decimal.RequireFromString("30")})
	require.NoError(t, err)
	require.Equal(t, "Y", rr.FundChange)
	require.Equal(t, "30.00", rr.RefundFee.StringFixed(2))
	rr, err = b.ali.Refund(ctx, alipay.RefundRequest{OutTradeNo: "AL20260101000001", OutRequestNo: "R1", RefundAmount: decimal.RequireFromString("30")})
	require.NoError(t, err)
	require.Equal(t, "N", rr.FundChange, "repeating a refund number moves no money")
	_, err = b.ali.Refund(ctx, alipay.RefundRequest{OutTradeNo: "AL20260101000001", OutRequestNo: "R2", RefundAmount: decimal.RequireFromString("70.01")})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", ae.SubCode)
	rr, err = b.ali.Refund(ctx, alipay.RefundRequest{OutTradeNo: "AL20260101000001", OutRequestNo: "R3", RefundAmount: decimal.RequireFromString("70")})
	require.NoError(t, err)
	require.Equal(t, "100.00", rr.RefundFee.StringFixed(2))
	tr, err = b.ali.Query(ctx, "AL20260101000001")
	require.NoError(t, err)
	require.Equal(t, alipay.TradeClosed, tr.TradeStatus, "a fully refunded trade is closed")

	code, d = b.simPost(t, "/sim/alipay/AL20260101000001/replay")
	require.Equal(t, http.StatusOK, code)
	require.True(t, d.Acked)
	require.Len(t, b.recv.snapshot().aliNotifies, 2)
}

func TestAlipayPrecreateCloseAndExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	amt := decimal.RequireFromString("30")
	var ae *alipay.APIError

	qr, err := b.ali.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: "ALCLOSE00001", TotalAmount: amt, Subject: "充值 ¥30"})
	require.NoError(t, err)
	again, err := b.ali.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: "ALCLOSE00001", TotalAmount: amt, Subject: "充值 ¥30"})
	require.NoError(t, err)
	require.Equal(t, qr, again)
	_, err = b.ali.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: "ALCLOSE00001", TotalAmount: decimal.RequireFromString("31"), Subject: "充值 ¥30"})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "ACQ.CONTEXT_INCONSISTENT", ae.SubCode)

	require.ErrorIs(t, b.ali.Close(ctx, "ALCLOSE00001"), alipay.ErrTradeNotExist, "closing an unscanned order: no trade yet")
	getPage(t, qr)
	require.NoError(t, b.ali.Close(ctx, "ALCLOSE00001"))
	tr, err := b.ali.Query(ctx, "ALCLOSE00001")
	require.NoError(t, err)
	require.Equal(t, alipay.TradeClosed, tr.TradeStatus)
	code, _ := b.simPost(t, "/sim/alipay/ALCLOSE00001/confirm")
	require.Equal(t, http.StatusConflict, code)

	qr, err = b.ali.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: "ALEXPIRE0001", TotalAmount: amt, Subject: "充值 ¥30", Timeout: time.Minute})
	require.NoError(t, err)
	b.clock.Store(120)
	require.Contains(t, getPage(t, qr), `data-testid="paysim-expired"`)
	tr, err = b.ali.Query(ctx, "ALEXPIRE0001")
	require.NoError(t, err)
	require.Equal(t, alipay.TradeClosed, tr.TradeStatus)
	require.Empty(t, b.recv.snapshot().aliNotifies)
}

func TestAlipaySandboxRejectsBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	other, err := paykey.Generate()
	require.NoError(t, err)
	order := alipay.PrecreateOrder{OutTradeNo: "ALBAD0000001", TotalAmount: decimal.RequireFromString("100"), Subject: "充值 ¥100"}

	cases := map[string]struct {
		mutate  func(c *alipay.Client)
		subCode string
	}{
		"WrongKey":   {func(c *alipay.Client) { c.PrivateKey = other }, "isv.invalid-signature"},
		"OtherAppID": {func(c *alipay.Client) { c.AppID = "2021000000009999" }, "isv.invalid-app-id"},
		"TamperedAmount": {func(c *alipay.Client) {
			c.HTTPClient = &http.Client{Transport: tamperTransport{req: func(_ *http.Request, b []byte) []byte {
				return bytes.Replace(b, []byte("100.00"), []byte("1.00"), 1)
			}}}
		}, "isv.invalid-signature"},
		"StaleTimestamp": {func(c *alipay.Client) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } }, "isv.invalid-timestamp"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := *b.ali
			tc.mutate(&c)
			_, err := c.Precreate(ctx, order)
			var ae *alipay.APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.subCode, ae.SubCode)
		})
	}
	t.Run("WrongAlipayPublicKey", func(t *testing.T) {
		c := *b.ali
		c.AlipayPublicKey = &other.PublicKey
		_, err := c.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: "ALBAD0000002", TotalAmount: decimal.RequireFromString("1"), Subject: "x"})
		require.ErrorIs(t, err, alipay.ErrBadSignature)
	})
	t.Run("TamperedAnswer", func(t *testing.T) {
		c := *b.ali
		c.HTTPClient = &http.Client{Transport: tamperTransport{resp: func(_ *http.Response, body []byte) []byte {
			return bytes.Replace(body, []byte("/pay/alipay/"), []byte("/evil/alipay/"), 1)
		}}}
		_, err := c.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: "ALBAD0000003", TotalAmount: decimal.RequireFromString("1"), Subject: "x"})
		require.ErrorIs(t, err, alipay.ErrBadSignature)
	})
	getPage(t, b.simURL+"/pay/alipay/ALBAD0000002")
	_, err = b.ali.Query(ctx, order.OutTradeNo)
	require.ErrorIs(t, err, alipay.ErrTradeNotExist)
}

func TestKeysEndpointAndDevKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, err := http.Get(b.simURL + "/sim/keys")
	require.NoError(t, err)
	defer resp.Body.Close()
	var v paysim.KeysView
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	require.Equal(t, b.keys.WeChatPlatformSerial, v.WeChat.PlatformSerial)
	pub, err := paykey.ParsePublicKey([]byte(v.WeChat.PlatformPublicKey))
	require.NoError(t, err)
	require.True(t, pub.Equal(&b.keys.WeChatPlatformKey.PublicKey))
	pub, err = paykey.ParsePublicKey([]byte(v.Alipay.AlipayPublicKey))
	require.NoError(t, err)
	require.True(t, pub.Equal(&b.keys.AlipayKey.PublicKey))

	again, err := paysim.LoadOrCreateDevKeys(b.keys.Dir)
	require.NoError(t, err)
	require.True(t, again.WeChatMerchantKey.Equal(b.keys.WeChatMerchantKey), "dev keys persist across restarts")
	require.Equal(t, b.keys.WeChatMerchantSerial, again.WeChatMerchantSerial)
	require.Equal(t, string(b.keys.WeChatAPIv3Key), string(again.WeChatAPIv3Key))
	st, err := os.Stat(b.keys.Dir + "/" + paysim.FileWeChatMerchant + "_private.pem")
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	require.Contains(t, getPage(t, b.simURL+"/"), "paysim")
}
