package wechatpay

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

type papayCall struct {
	method, path, auth string
	body               []byte
}

// papayServer answers every request with status and body (signed as the
// platform when 2xx) and records what it received.
func papayServer(t *testing.T, b notifyBundle, status int, answer string) (*Client, *[]papayCall) {
	t.Helper()
	var calls []papayCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls = append(calls, papayCall{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), body})
		if status/100 == 2 {
			ts := "1767240000"
			sig, err := Sign(b.platform, ResponseMessage(ts, "RNONCE", []byte(answer)))
			require.NoError(t, err)
			w.Header().Set(HeaderTimestamp, ts)
			w.Header().Set(HeaderNonce, "RNONCE")
			w.Header().Set(HeaderSignature, sig)
			w.Header().Set(HeaderSerial, "PLATFORM1")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	key, err := paykey.LoadPrivateKey("testdata/merchant_pkcs1.pem")
	require.NoError(t, err)
	c := *b.client
	c.BaseURL, c.MerchantPrivateKey, c.MerchantCertSerial = srv.URL, key, "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
	c.NotifyURL, c.ContractNotifyURL, c.PapayPlanID = "https://example.com/pay/notify/wechat", "https://example.com/pay/notify/wechat/contract", 12535
	return &c, &calls
}

// requireOpenSSLSigned checks that the request message of call, with the
// documented example nonce, is testdata/<name>.txt and that our signature
// over it is the one `openssl dgst -sha256 -sign testdata/merchant_pkcs1.pem`
// made (testdata/<name>.sig); and that the header on the wire verifies.
func requireOpenSSLSigned(t *testing.T, call papayCall, name string) {
	t.Helper()
	key, err := paykey.LoadPrivateKey("testdata/merchant_pkcs1.pem")
	require.NoError(t, err)
	a, err := ParseAuthorization(call.auth)
	require.NoError(t, err)
	require.NoError(t, Verify(&key.PublicKey, RequestMessage(call.method, call.path, 1767240000, a.Nonce, call.body), a.Signature))
	msg := RequestMessage(call.method, call.path, 1767240000, "593BEC0C930BF1AFEB40B4A08C8FB242", call.body)
	want, err := os.ReadFile("testdata/" + name + ".txt")
	require.NoError(t, err)
	require.Equal(t, string(want), msg)
	sig, err := os.ReadFile("testdata/" + name + ".sig")
	require.NoError(t, err)
	mine, err := Sign(key, msg)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(sig)), mine, "our signature is OpenSSL's")
}

func TestPapayRequestsMatchOpenSSL(t *testing.T) {
	t.Parallel()
	b := setupNotify(t)

	t.Run("PreEntrustSign", func(t *testing.T) {
		c, calls := papayServer(t, b, 200, `{"pre_entrustweb_id":"5778aadY9nltAsZzXixCkFIGYnV2V","redirect_url":"https://sim.example/papay/sign/5778"}`)
		res, err := c.PreEntrustSign(t.Context(), PreSign{PlanID: 12535, OutContractNo: "A20260101000001", DisplayAccount: "credits 账户 42", OutUserCode: "42", ClientIP: "203.0.113.7"})
		require.NoError(t, err)
		require.Equal(t, "https://sim.example/papay/sign/5778", res.RedirectURL)
		require.Len(t, *calls, 1)
		require.Equal(t, "/v3/papay/sign/contracts/pre-entrust-sign", (*calls)[0].path)
		requireOpenSSLSigned(t, (*calls)[0], "papay_presign")
	})
	t.Run("ApplyDeduction", func(t *testing.T) {
		c, calls := papayServer(t, b, 204, "")
		require.NoError(t, c.ApplyDeduction(t.Context(), Deduction{ContractID: "Wx15463511252015071056489715", OutTradeNo: "T20260101000009", Description: "自动充值 ¥100", AmountFen: 10000}))
		require.Equal(t, "/v3/papay/pay/transactions/apply", (*calls)[0].path)
		requireOpenSSLSigned(t, (*calls)[0], "papay_apply")
	})
	t.Run("QueryContract", func(t *testing.T) {
		c, calls := papayServer(t, b, 200, `{"mchid":"1900000109","appid":"wxd930ea5d5a258f4f","contract_id":"Wx1","plan_id":12535,"out_contract_code":"A1","contract_state":"TERMINATED","contract_terminate_info":{"contract_termination_mode":"USER_TERMINATE","contract_terminated_time":"2026-01-01T12:00:00+08:00"}}`)
		ct, err := c.QueryContract(t.Context(), "A1")
		require.NoError(t, err)
		require.Equal(t, ContractTerminated, ct.ContractState)
		require.Equal(t, TerminatedByUser, ct.Terminated.Mode)
		require.Equal(t, "GET", (*calls)[0].method)
		require.Equal(t, "/v3/papay/sign/contracts/plan-id/12535/out-contract-code/A1", (*calls)[0].path)
		requireOpenSSLSigned(t, (*calls)[0], "papay_query")
	})
	t.Run("TerminateContract", func(t *testing.T) {
		c, calls := papayServer(t, b, 204, "")
		require.NoError(t, c.TerminateContract(t.Context(), "A1", "用户在门户解约"))
		require.Equal(t, "/v3/papay/sign/contracts/plan-id/12535/out-contract-code/A1/terminate", (*calls)[0].path)
		require.JSONEq(t, `{"contract_termination_remark":"用户在门户解约"}`, string((*calls)[0].body))
		requireOpenSSLSigned(t, (*calls)[0], "papay_terminate")
	})
	t.Run("PreDebitNotice", func(t *testing.T) {
		c, calls := papayServer(t, b, 204, "")
		require.NoError(t, c.PreDebitNotice(t.Context(), "Wx1", 10000))
		require.Equal(t, "/v3/papay/contracts/Wx1/notify", (*calls)[0].path)
		require.JSONEq(t, `{"mchid":"`+c.MchID+`","appid":"wxd930ea5d5a258f4f","estimated_amount":{"amount":10000,"currency":"CNY"}}`, string((*calls)[0].body))
	})
	t.Run("DeductionFailuresAreClassified", func(t *testing.T) {
		for code, want := range map[string]error{"NOTENOUGH": ErrInsufficientFunds, "CONTRACT_NOT_EXIST": ErrContractRevoked, "RULE_LIMIT": ErrLimitExceeded} {
			c, _ := papayServer(t, b, 403, `{"code":"`+code+`","message":"x"}`)
			err := c.ApplyDeduction(t.Context(), Deduction{ContractID: "Wx1", OutTradeNo: "T1", Description: "x", AmountFen: 1})
			require.ErrorIs(t, err, want, code)
			for _, other := range []error{ErrInsufficientFunds, ErrContractRevoked, ErrLimitExceeded, ErrOrderNotExist} {
				if other != want {
					require.False(t, errors.Is(err, other), "%s is not %v", code, other)
				}
			}
		}
		require.ErrorIs(t, DeductionFailure(Transaction{TradeState: StatePayError, TradeStateDesc: "NOTENOUGH:余额不足"}), ErrInsufficientFunds)
		require.NoError(t, DeductionFailure(Transaction{TradeState: StatePayError, TradeStateDesc: "SYSTEMERROR"}))
	})
	t.Run("UnsignedAnswerIsRefused", func(t *testing.T) {
		c, _ := papayServer(t, b, 200, `{"pre_entrustweb_id":"x","redirect_url":"https://x"}`)
		c.PlatformPublicKeys = map[string]*rsa.PublicKey{}
		_, err := c.PreEntrustSign(t.Context(), PreSign{PlanID: 1, OutContractNo: "A1"})
		require.ErrorIs(t, err, ErrUnknownSerial)
	})
}

// TestContractNotifyMatchesOpenSSL: testdata/contract_notify.json is a
// contract notify whose Wechatpay-Signature (testdata/contract_notify.sig)
// was made by `openssl dgst -sha256 -sign` over "1767240000\nNONCE1\n<body>\n".
func TestContractNotifyMatchesOpenSSL(t *testing.T) {
	t.Parallel()
	b := setupNotify(t)
	b.client.Now = func() time.Time { return time.Unix(1767240000, 0) }
	body, err := os.ReadFile("testdata/contract_notify.json")
	require.NoError(t, err)
	body = []byte(strings.TrimSpace(string(body)))
	sig, err := os.ReadFile("testdata/contract_notify.sig")
	require.NoError(t, err)
	h := http.Header{}
	h.Set(HeaderTimestamp, "1767240000")
	h.Set(HeaderNonce, "NONCE1")
	h.Set(HeaderSignature, strings.TrimSpace(string(sig)))
	h.Set(HeaderSerial, "PLATFORM1")

	ct, err := b.client.ParseContractNotify(h, body)
	require.NoError(t, err)
	require.Equal(t, ContractTerminated, ct.ContractState)
	require.Equal(t, "Wx15463511252015071056489715", ct.ContractID)
	require.Equal(t, "A20260101000001", ct.OutContractCode)

	t.Run("Tampered", func(t *testing.T) {
		_, err := b.client.ParseContractNotify(h, []byte(strings.Replace(string(body), "CONTRACT.TERMINATED", "CONTRACT.SIGNED", 1)))
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("PaymentNotifyIsNotAContract", func(t *testing.T) {
		tx, _ := json.Marshal(Transaction{OutTradeNo: "T1", TradeState: StateSuccess})
		h2, body2 := b.notify(t, EventTransactionSuccess, "transaction", tx, b.client.now())
		_, err := b.client.ParseContractNotify(h2, body2)
		require.ErrorIs(t, err, ErrWrongResource)
	})
	t.Run("SignedNotify", func(t *testing.T) {
		pt, _ := json.Marshal(Contract{ContractID: "Wx2", OutContractCode: "A2", ContractState: ContractSigned, PlanID: 12535})
		h2, body2 := b.notify(t, EventContractSigned, "contract", pt, b.client.now())
		ct, err := b.client.ParseContractNotify(h2, body2)
		require.NoError(t, err)
		require.Equal(t, ContractSigned, ct.ContractState)
	})
	t.Run("UnknownState", func(t *testing.T) {
		pt, _ := json.Marshal(Contract{ContractID: "Wx2", ContractState: "MAYBE"})
		h2, body2 := b.notify(t, EventContractSigned, "contract", pt, b.client.now())
		_, err := b.client.ParseContractNotify(h2, body2)
		require.ErrorIs(t, err, ErrMalformed)
	})
}
