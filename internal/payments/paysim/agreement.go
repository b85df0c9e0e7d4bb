package paysim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paykey"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// Agreement payments in the sandbox: WeChat Pay 委托代扣 (papay v3) and
// Alipay 商家扣款, as the clients in internal/payments speak them.
//
//	POST /v3/papay/sign/contracts/pre-entrust-sign        WeChat: pre-sign (answer redirect_url = the signing page)
//	POST /v3/papay/pay/transactions/apply                 WeChat: debit a contract (204; notify follows)
//	POST /v3/papay/contracts/{id}/notify                  WeChat: pre-debit notice (204)
//	GET  /v3/papay/sign/contracts/plan-id/{plan}/out-contract-code/{code}            WeChat: query a contract
//	POST /v3/papay/sign/contracts/plan-id/{plan}/out-contract-code/{code}/terminate  WeChat: terminate (then the contract notify)
//	GET  /gateway.do?method=alipay.user.agreement.page.sign&…  Alipay: the signing page
//	POST /gateway.do alipay.trade.pay / alipay.user.agreement.query / .unsign
//	GET  /sign/{channel}/{no}                             the signing page (its QR code is the redirect/page URL)
//	POST /sign/{channel}/{no}/confirm                     sign it (contract notify in the background)
//	POST /sign/{channel}/{no}/fail?reason=                make the next debits fail: insufficient_funds,
//	                                                      revoked, limit; "" makes them succeed again
//	POST /sign/{channel}/{no}/unsign                      the customer unsigns in the app (termination notify)
//	POST /sim/agreements/{channel}/{no}/…                 the same three as JSON, delivering the notify first
//
// {no} is our agreement number (out_contract_code / external_agreement_no).

// Failure reasons a signed agreement can be set to answer debits with.
const (
	FailNone              = ""
	FailInsufficientFunds = "insufficient_funds"
	FailRevoked           = "revoked"
	FailLimit             = "limit"
)

// Agreement states in the sandbox.
const (
	agreementPending    = "PENDING"
	agreementSigned     = "SIGNED"
	agreementTerminated = "TERMINATED"
)

// ErrNoAgreement: no agreement with that number on that channel.
var ErrNoAgreement = errors.New("paysim: no such agreement")

// simAgreement is one agreement as the sandbox keeps it.
type simAgreement struct {
	channel    string
	outNo      string // ours
	id         string // the channel's contract_id / agreement_no
	planID     int64
	display    string
	notifyURL  string // contract notify (WeChat) / agreement notify (Alipay)
	returnURL  string
	state      string
	failWith   string
	signedAt   time.Time
	terminated time.Time
	// terminatedBy is who ended it (wechatpay.TerminatedByUser or TerminatedByAPI).
	terminatedBy string
	debits       int
}

// agreementKey indexes agreements by channel and our number.
func agreementKey(channel, outNo string) string { return channel + "/" + outNo }

func (s *Server) registerAgreementRoutes() {
	s.mux.HandleFunc("POST /v3/papay/sign/contracts/pre-entrust-sign", s.wxPreSign)
	s.mux.HandleFunc("POST /v3/papay/pay/transactions/apply", s.wxApply)
	s.mux.HandleFunc("POST /v3/papay/contracts/{id}/notify", s.wxPreDebitNotice)
	s.mux.HandleFunc("GET /v3/papay/sign/contracts/plan-id/{plan}/out-contract-code/{code}", s.wxQueryContract)
	s.mux.HandleFunc("POST /v3/papay/sign/contracts/plan-id/{plan}/out-contract-code/{code}/terminate", s.wxTerminate)
	s.mux.HandleFunc("GET /sign/{channel}/{no}", s.signPage)
	s.mux.HandleFunc("POST /sign/{channel}/{no}/confirm", s.signPageAction("confirm"))
	s.mux.HandleFunc("POST /sign/{channel}/{no}/fail", s.signPageAction("fail"))
	s.mux.HandleFunc("POST /sign/{channel}/{no}/unsign", s.signPageAction("unsign"))
	s.mux.HandleFunc("POST /sim/agreements/{channel}/{no}/{action}", s.simAgreementAction)
}

// --- WeChat Pay papay ---

type wxPreSignReq struct {
	SignScene              string `json:"sign_scene"`
	AppID                  string `json:"appid"`
	PlanID                 int64  `json:"plan_id"`
	OutContractCode        string `json:"out_contract_code"`
	ContractDisplayAccount string `json:"contract_display_account"`
	ContractNotifyURL      string `json:"contract_notify_url"`
	OutUserCode            string `json:"out_user_code"`
	ReturnURL              string `json:"return_url"`
}

func (s *Server) wxPreSign(w http.ResponseWriter, r *http.Request) {
	body, ok := s.wxAuth(w, r)
	if !ok {
		return
	}
	var req wxPreSignReq
	if err := json.Unmarshal(body, &req); err != nil {
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "请求体不是合法的 JSON")
		return
	}
	switch {
	case s.cfg.WeChat.AppID != "" && req.AppID != s.cfg.WeChat.AppID:
		s.wxError(w, http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid 和 mch_id 不匹配")
		return
	case req.SignScene != wechatpay.SignSceneQRCode && req.SignScene != wechatpay.SignSceneApp:
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "sign_scene 取值错误")
		return
	case req.PlanID <= 0 || req.OutContractCode == "" || req.ContractNotifyURL == "" || req.OutUserCode == "":
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "缺少 plan_id、out_contract_code、contract_notify_url 或 out_user_code")
		return
	}
	s.mu.Lock()
	k := agreementKey(ChannelWeChat, req.OutContractCode)
	a, exists := s.agreements[k]
	if exists && a.state != agreementPending {
		s.mu.Unlock()
		s.wxError(w, http.StatusBadRequest, "CONTRACT_CODE_USED", "商户签约协议号已使用")
		return
	}
	if !exists {
		a = &simAgreement{channel: ChannelWeChat, outNo: req.OutContractCode, state: agreementPending}
		s.agreements[k] = a
	}
	a.planID, a.display, a.notifyURL, a.returnURL = req.PlanID, req.ContractDisplayAccount, req.ContractNotifyURL, req.ReturnURL
	s.mu.Unlock()
	s.wxWrite(w, http.StatusOK, mustJSON(wechatpay.PreSignResult{
		PreEntrustwebID: paykey.RandomString(29),
		RedirectURL:     s.baseURL(r) + "/sign/" + ChannelWeChat + "/" + url.PathEscape(req.OutContractCode),
	}))
}

type wxApplyReq struct {
	AppID                string           `json:"appid"`
	OutTradeNo           string           `json:"out_trade_no"`
	Description          string           `json:"description"`
	TransactionNotifyURL string           `json:"transaction_notify_url"`
	ContractID           string           `json:"contract_id"`
	Amount               wechatpay.Amount `json:"amount"`
	Attach               string           `json:"attach"`
}

// wxApply debits a contract: the same out_trade_no is debited at most once
// (a repeat of a paid one answers ORDERPAID); a failing agreement answers
// its error code; a success answers 204 and sends TRANSACTION.SUCCESS.
func (s *Server) wxApply(w http.ResponseWriter, r *http.Request) {
	body, ok := s.wxAuth(w, r)
	if !ok {
		return
	}
	var req wxApplyReq
	if err := json.Unmarshal(body, &req); err != nil || req.OutTradeNo == "" || req.ContractID == "" || req.Amount.Total <= 0 || req.TransactionNotifyURL == "" {
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "缺少 out_trade_no、contract_id、amount 或 transaction_notify_url")
		return
	}
	s.mu.Lock()
	a := s.agreementByID(ChannelWeChat, req.ContractID)
	if o, dup := s.wechat[req.OutTradeNo]; dup {
		state := o.tx.TradeState
		s.mu.Unlock()
		if state == wechatpay.StateSuccess || state == wechatpay.StateRefund {
			s.wxError(w, http.StatusBadRequest, "ORDERPAID", "该订单已支付")
			return
		}
		s.wxError(w, http.StatusForbidden, "OUT_TRADE_NO_USED", "商户订单号重复")
		return
	}
	code, msg := s.debitRefusal(a, req.Amount.Total)
	if code != "" {
		s.mu.Unlock()
		s.wxError(w, http.StatusForbidden, map[string]string{FailInsufficientFunds: "NOTENOUGH", FailRevoked: "CONTRACT_NOT_EXIST", FailLimit: "RULE_LIMIT"}[code], msg)
		return
	}
	a.debits++
	o := &wxOrder{
		tx: wechatpay.Transaction{
			AppID: req.AppID, MchID: s.cfg.WeChat.MchID, OutTradeNo: req.OutTradeNo, TradeType: wechatpay.TradeTypePAP,
			TradeState: wechatpay.StateNotPay, Attach: req.Attach, Amount: wechatpay.Amount{Total: req.Amount.Total, Currency: "CNY"},
		},
		desc: req.Description, notifyURL: req.TransactionNotifyURL, refunds: map[string]*wechatpay.Refund{},
	}
	s.wechat[req.OutTradeNo] = o
	s.mu.Unlock()
	n, err := s.wxPay(req.OutTradeNo)
	if err != nil {
		s.wxError(w, http.StatusInternalServerError, "SYSTEM_ERROR", err.Error())
		return
	}
	s.wxWrite(w, http.StatusNoContent, nil)
	s.pending.Go(func() { s.deliver(contextBackground(), n, wxAck) })
}

// debitRefusal says why a debit of fen on a cannot go through: the failure
// reason and a message, or "" when it can. Called with s.mu held.
func (s *Server) debitRefusal(a *simAgreement, fen int64) (reason, msg string) {
	switch {
	case a == nil || a.state != agreementSigned:
		return FailRevoked, "协议不存在或已解约"
	case a.failWith != FailNone:
		return a.failWith, map[string]string{FailInsufficientFunds: "余额不足", FailRevoked: "协议已解约", FailLimit: "超出扣款限额"}[a.failWith]
	case s.cfg.AgreementDebitLimitFen > 0 && fen > s.cfg.AgreementDebitLimitFen:
		return FailLimit, "单笔扣款超过限额"
	}
	return "", ""
}

func (s *Server) wxPreDebitNotice(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.wxAuth(w, r); !ok {
		return
	}
	s.mu.Lock()
	a := s.agreementByID(ChannelWeChat, r.PathValue("id"))
	signed := a != nil && a.state == agreementSigned
	s.mu.Unlock()
	if !signed {
		s.wxError(w, http.StatusBadRequest, "CONTRACT_NOT_EXIST", "协议不存在或已解约")
		return
	}
	s.wxWrite(w, http.StatusNoContent, nil)
}

func (s *Server) wxQueryContract(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.wxAuth(w, r); !ok {
		return
	}
	s.mu.Lock()
	a := s.wxAgreementByCode(r)
	var ct wechatpay.Contract
	if a != nil {
		ct = s.wxContract(a)
	}
	s.mu.Unlock()
	if a == nil {
		s.wxError(w, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "协议不存在")
		return
	}
	s.wxWrite(w, http.StatusOK, mustJSON(ct))
}

func (s *Server) wxTerminate(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.wxAuth(w, r); !ok {
		return
	}
	s.mu.Lock()
	a := s.wxAgreementByCode(r)
	var outNo string
	if a != nil {
		outNo = a.outNo
	}
	s.mu.Unlock()
	if a == nil {
		s.wxError(w, http.StatusNotFound, "CONTRACT_NOT_EXIST", "协议不存在")
		return
	}
	n, err := s.terminate(ChannelWeChat, outNo, wechatpay.TerminatedByAPI)
	if err != nil {
		s.wxError(w, http.StatusBadRequest, "CONTRACT_NOT_EXIST", "协议已解约")
		return
	}
	s.wxWrite(w, http.StatusNoContent, nil)
	s.pending.Go(func() { s.deliver(contextBackground(), n, wxAck) })
}

// wxContract renders a contract; called with s.mu held.
func (s *Server) wxContract(a *simAgreement) wechatpay.Contract {
	ct := wechatpay.Contract{MchID: s.cfg.WeChat.MchID, AppID: s.cfg.WeChat.AppID, ContractID: a.id, PlanID: a.planID,
		OutContractCode: a.outNo, OpenID: "oPaySimSigner", ContractState: wechatpay.ContractSigned}
	if !a.signedAt.IsZero() {
		ct.ContractSignedTime = a.signedAt.In(chinaTime).Format(time.RFC3339)
	}
	if a.state == agreementTerminated {
		ct.ContractState = wechatpay.ContractTerminated
		ct.Terminated = &wechatpay.ContractTermination{Mode: a.terminatedBy, At: a.terminated.In(chinaTime).Format(time.RFC3339)}
	}
	return ct
}

// --- Alipay 商家扣款 ---

// aliAgreementGateway serves the agreement methods after the gateway has
// checked the sign; biz_content may nest objects here.
func (s *Server) aliAgreementGateway(w http.ResponseWriter, r *http.Request, p url.Values, method string) {
	var biz map[string]any
	if err := json.Unmarshal([]byte(p.Get("biz_content")), &biz); err != nil {
		s.aliFail(w, method, "40002", "isv.invalid-parameter", "biz_content 不是合法的 JSON 对象")
		return
	}
	str := func(k string) string { v, _ := biz[k].(string); return v }
	switch method {
	case alipay.MethodAgreementPageSign:
		no := str("external_agreement_no")
		if str("personal_product_code") != alipay.PersonalProductWithholding || no == "" {
			http.Error(w, "paysim 支付宝: 40002 isv.invalid-parameter: personal_product_code 或 external_agreement_no 错误", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		k := agreementKey(ChannelAlipay, no)
		a, exists := s.agreements[k]
		if !exists {
			a = &simAgreement{channel: ChannelAlipay, outNo: no, state: agreementPending}
			s.agreements[k] = a
		}
		if a.state == agreementPending {
			a.notifyURL, a.returnURL, a.display = p.Get("notify_url"), p.Get("return_url"), str("external_logon_id")
		}
		s.mu.Unlock()
		http.Redirect(w, r, "/sign/"+ChannelAlipay+"/"+url.PathEscape(no), http.StatusSeeOther)
	case alipay.MethodTradePay:
		s.aliAgreementPay(w, p, biz)
	case alipay.MethodAgreementQuery, alipay.MethodAgreementUnsign:
		s.mu.Lock()
		a := s.agreementByID(ChannelAlipay, str("agreement_no"))
		if a == nil && str("external_agreement_no") != "" {
			a = s.agreements[agreementKey(ChannelAlipay, str("external_agreement_no"))]
		}
		var node map[string]string
		var outNo string
		if a != nil {
			node, outNo = s.aliAgreementNode(a), a.outNo
		}
		s.mu.Unlock()
		if a == nil || a.id == "" {
			s.aliFail(w, method, "40004", "USER_AGREEMENT_NOT_EXIST", "用户协议不存在")
			return
		}
		if method == alipay.MethodAgreementQuery {
			s.aliWrite(w, method, node)
			return
		}
		n, err := s.terminate(ChannelAlipay, outNo, wechatpay.TerminatedByAPI)
		if err != nil {
			s.aliFail(w, method, "40004", "USER_AGREEMENT_ALREADY_UNSIGN", "协议已解约")
			return
		}
		s.aliWrite(w, method, map[string]string{"code": alipay.CodeSuccess, "msg": "Success"})
		s.pending.Go(func() { s.deliver(contextBackground(), n, aliAck) })
	}
}

// aliAgreementNode renders an agreement for a query; called with s.mu held.
func (s *Server) aliAgreementNode(a *simAgreement) map[string]string {
	st := alipay.AgreementNormal
	switch a.state {
	case agreementPending:
		st = alipay.AgreementTemp
	case agreementTerminated:
		st = alipay.AgreementUnsign
	}
	node := map[string]string{"code": alipay.CodeSuccess, "msg": "Success", "agreement_no": a.id, "external_agreement_no": a.outNo,
		"status": st, "personal_product_code": alipay.PersonalProductWithholding, "sign_scene": alipay.SignSceneDefault,
		"principal_id": "2088102122524333"}
	if !a.signedAt.IsZero() {
		node["sign_time"] = a.signedAt.In(alipay.ChinaTime).Format(alipay.TimeLayout)
		node["valid_time"] = node["sign_time"]
	}
	return node
}

// aliAgreementPay is alipay.trade.pay with agreement_params: it pays at
// once (answer TRADE_SUCCESS and the trade_status_sync notify) or answers
// the agreement's failure.
func (s *Server) aliAgreementPay(w http.ResponseWriter, p url.Values, biz map[string]any) {
	const m = alipay.MethodTradePay
	str := func(k string) string { v, _ := biz[k].(string); return v }
	params, _ := biz["agreement_params"].(map[string]any)
	agreementNo, _ := params["agreement_no"].(string)
	no := str("out_trade_no")
	total, ok := parseYuan(str("total_amount"))
	switch {
	case str("product_code") != alipay.ProductWithholding || agreementNo == "":
		s.aliFail(w, m, "40004", "ACQ.PRODUCT_AMOUNT_LIMIT_ERROR", "product_code 须为 GENERAL_WITHHOLDING 且带 agreement_params")
		return
	case no == "" || !ok || str("subject") == "":
		s.aliFail(w, m, "40002", "isv.invalid-parameter", "out_trade_no、total_amount 或 subject 错误")
		return
	}
	s.mu.Lock()
	if o, dup := s.alipay[no]; dup {
		s.mu.Unlock()
		if o.status == alipay.TradeSuccess && o.total.Equal(total) {
			s.aliWrite(w, m, s.aliPaidNode(o))
			return
		}
		s.aliFail(w, m, "40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
		return
	}
	a := s.agreementByID(ChannelAlipay, agreementNo)
	reason, msg := s.debitRefusal(a, total.Shift(2).IntPart())
	if reason != "" {
		s.mu.Unlock()
		sub := map[string]string{FailInsufficientFunds: "ACQ.BUYER_BALANCE_NOT_ENOUGH", FailRevoked: "ACQ.AGREEMENT_STATUS_NOT_NORMAL", FailLimit: "ACQ.EXCEED_SINGLE_DEDUCT_AMOUNT_LIMIT"}[reason]
		s.aliFail(w, m, "40004", sub, msg)
		return
	}
	a.debits++
	o := &aliOrder{outTradeNo: no, subject: str("subject"), total: total, notifyURL: p.Get("notify_url"),
		expire: s.now().Add(time.Hour), refunds: map[string]alipay.RefundResult{}, scanned: true,
		status: alipay.TradeWaitBuyerPay, gmtCreate: s.now(), tradeNo: fmt.Sprintf("2026%024d", s.nextID()), buyerID: "2088102122524333"}
	s.alipay[no] = o
	o.status, o.gmtPayment = alipay.TradeSuccess, s.now()
	n, err := s.aliNotice(o)
	if err == nil {
		o.last = n
	}
	node := s.aliPaidNode(o)
	s.mu.Unlock()
	if err != nil {
		s.aliFail(w, m, "20000", "isp.unknown-error", err.Error())
		return
	}
	s.aliWrite(w, m, node)
	s.pending.Go(func() { s.deliver(contextBackground(), n, aliAck) })
}

func (s *Server) aliPaidNode(o *aliOrder) map[string]string {
	return map[string]string{"code": alipay.CodeSuccess, "msg": "Success", "trade_no": o.tradeNo, "out_trade_no": o.outTradeNo,
		"buyer_logon_id": "sim***@example.com", "total_amount": o.total.StringFixed(2), "receipt_amount": o.total.StringFixed(2),
		"gmt_payment": o.gmtPayment.In(alipay.ChinaTime).Format(alipay.TimeLayout), "buyer_user_id": o.buyerID, "trade_status": alipay.TradeSuccess}
}

// --- shared: signing, failing, unsigning ---

// wxAgreementByCode finds the WeChat Pay contract a request names by
// template and our agreement number (once signed); s.mu held.
func (s *Server) wxAgreementByCode(r *http.Request) *simAgreement {
	a := s.agreements[agreementKey(ChannelWeChat, r.PathValue("code"))]
	if a == nil || a.id == "" || strconv.FormatInt(a.planID, 10) != r.PathValue("plan") {
		return nil
	}
	return a
}

// agreementByID finds an agreement by the channel's id; s.mu held.
func (s *Server) agreementByID(channel, id string) *simAgreement {
	if id == "" {
		return nil
	}
	for _, a := range s.agreements {
		if a.channel == channel && a.id == id {
			return a
		}
	}
	return nil
}

// SignAgreement signs a pending agreement as the customer would and returns
// its notify. Errors: ErrNoAgreement, ErrNotPayable (not pending).
func (s *Server) signAgreement(channel, outNo string) (*notice, func(int, []byte) bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agreements[agreementKey(channel, outNo)]
	if !ok {
		return nil, nil, ErrNoAgreement
	}
	if a.state != agreementPending {
		return nil, nil, fmt.Errorf("%w: agreement is %s", ErrNotPayable, a.state)
	}
	a.state, a.signedAt = agreementSigned, s.now()
	if channel == ChannelWeChat {
		a.id = fmt.Sprintf("Wx%06d%s", s.nextID(), paykey.RandomString(20)) // unique across sandboxes, as at WeChat Pay
		n, err := s.wxNotice(a.notifyURL, wechatpay.EventContractSigned, "签约成功", "contract", mustJSON(s.wxContract(a)))
		return n, wxAck, err
	}
	a.id = fmt.Sprintf("20265601%06d%s", s.nextID(), paykey.RandomString(10))
	n, err := s.aliAgreementNotice(a)
	return n, aliAck, err
}

// terminate ends a signed agreement (by = USER at the channel, MCH when we
// asked) and builds the termination notify. Errors: ErrNoAgreement,
// ErrNotPayable (not signed).
func (s *Server) terminate(channel, outNo, by string) (*notice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agreements[agreementKey(channel, outNo)]
	if !ok {
		return nil, ErrNoAgreement
	}
	if a.state != agreementSigned {
		return nil, fmt.Errorf("%w: agreement is %s", ErrNotPayable, a.state)
	}
	a.state, a.terminated, a.terminatedBy = agreementTerminated, s.now(), by
	if channel == ChannelWeChat {
		ct := s.wxContract(a)
		return s.wxNotice(a.notifyURL, wechatpay.EventContractTerminated, "解约成功", "contract", mustJSON(ct))
	}
	return s.aliAgreementNotice(a)
}

// aliAgreementNotice builds a dut_user_sign / dut_user_unsign notify;
// s.mu held.
func (s *Server) aliAgreementNotice(a *simAgreement) (*notice, error) {
	p := url.Values{}
	typ, status := alipay.NotifyTypeSign, alipay.AgreementNormal
	if a.state == agreementTerminated {
		typ, status = alipay.NotifyTypeUnsign, alipay.AgreementUnsign
		p.Set("unsign_time", a.terminated.In(alipay.ChinaTime).Format(alipay.TimeLayout))
	}
	for k, v := range map[string]string{
		"notify_type": typ, "status": status, "app_id": s.cfg.Alipay.AppID, "charset": "utf-8", "version": "1.0",
		"agreement_no": a.id, "external_agreement_no": a.outNo, "alipay_user_id": "2088102122524333",
		"personal_product_code": alipay.PersonalProductWithholding, "sign_scene": alipay.SignSceneDefault,
		"sign_time": a.signedAt.In(alipay.ChinaTime).Format(alipay.TimeLayout), "invalid_time": "2115-02-01 00:00:00",
		"notify_time": s.now().In(alipay.ChinaTime).Format(alipay.TimeLayout), "notify_id": "2026" + paykey.RandomString(28),
	} {
		p.Set(k, v)
	}
	p.Set("sign_type", "RSA2")
	sg, err := alipay.Sign(s.cfg.Alipay.AlipayKey, alipay.SignContent(p, "sign", "sign_type"))
	if err != nil {
		return nil, err
	}
	p.Set("sign", sg)
	return &notice{URL: a.notifyURL, ContentType: "application/x-www-form-urlencoded; charset=utf-8", Header: http.Header{}, Body: []byte(p.Encode())}, nil
}

// SetAgreementFailure makes the next debits of a signed agreement fail with
// reason (FailInsufficientFunds, FailRevoked, FailLimit) or succeed again
// (FailNone). Errors: ErrNoAgreement.
func (s *Server) SetAgreementFailure(channel, outNo, reason string) error {
	switch reason {
	case FailNone, FailInsufficientFunds, FailRevoked, FailLimit:
	default:
		return fmt.Errorf("paysim: unknown failure %q", reason)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agreements[agreementKey(channel, outNo)]
	if !ok {
		return ErrNoAgreement
	}
	a.failWith = reason
	return nil
}

// SignAgreement signs as the customer and delivers the notify before
// returning. Errors: ErrNoAgreement, ErrNotPayable.
func (s *Server) SignAgreement(ctx context.Context, channel, outNo string) (Delivery, error) {
	n, ack, err := s.signAgreement(channel, outNo)
	if err != nil {
		return Delivery{}, err
	}
	return s.deliver(ctx, n, ack), nil
}

// UnsignAgreement ends the agreement as the customer would in the app and
// delivers the termination notify before returning.
func (s *Server) UnsignAgreement(ctx context.Context, channel, outNo string) (Delivery, error) {
	n, err := s.terminate(channel, outNo, wechatpay.TerminatedByUser)
	if err != nil {
		return Delivery{}, err
	}
	ack := wxAck
	if channel == ChannelAlipay {
		ack = aliAck
	}
	return s.deliver(ctx, n, ack), nil
}

func (s *Server) simAgreementAction(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
	defer cancel()
	channel, no := r.PathValue("channel"), r.PathValue("no")
	var d Delivery
	var err error
	switch r.PathValue("action") {
	case "confirm":
		d, err = s.SignAgreement(ctx, channel, no)
	case "unsign":
		d, err = s.UnsignAgreement(ctx, channel, no)
	case "fail":
		err = s.SetAgreementFailure(channel, no, r.URL.Query().Get("reason"))
		d.Acked = err == nil
	default:
		err = ErrNoAgreement
	}
	if errors.Is(err, ErrNoAgreement) {
		err = fmt.Errorf("%w (%w)", ErrNoOrder, err)
	}
	writeSimResult(w, d, err)
}

// --- the signing page ---

type signView struct {
	Channel, ChannelName, OutNo, ContractID, Display, State, FailWith, Message string
	Debits                                                                     int
	Pending, Signed                                                            bool
	ReturnURL                                                                  string
}

var signTmpl = template.Must(template.New("sign").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>paysim · {{.ChannelName}} 签约</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}.note{color:#666;font-size:.9rem}
button{font-size:1rem;padding:.5rem 1rem;margin:.2rem 0}</style></head>
<body>
<p class="note">Payment sandbox (paysim) — no real money moves.</p>
<h1 data-testid="paysim-channel">{{.ChannelName}} · 自动扣款协议 / Agreement</h1>
<p>协议号 / Agreement: <code data-testid="paysim-agreement">{{.OutNo}}</code></p>
{{if .Display}}<p>账户 / Account: {{.Display}}</p>{{end}}
<p>状态 / State: <strong data-testid="paysim-agreement-state">{{.State}}</strong>{{if .ContractID}} · <code>{{.ContractID}}</code>{{end}}</p>
{{if .Message}}<p data-testid="paysim-message">{{.Message}}</p>{{end}}
{{if .Pending}}
<form method="post" action="/sign/{{.Channel}}/{{.OutNo}}/confirm"><button type="submit" data-testid="paysim-sign">同意并签约 / Agree and sign</button></form>
{{end}}
{{if .Signed}}
<p>扣款次数 / Debits: <span data-testid="paysim-debits">{{.Debits}}</span> · 下次扣款 / Next debits: <strong data-testid="paysim-fail-with">{{if .FailWith}}{{.FailWith}}{{else}}succeed{{end}}</strong></p>
<form method="post" action="/sign/{{.Channel}}/{{.OutNo}}/fail?reason=insufficient_funds"><button data-testid="paysim-fail-funds">余额不足 / Insufficient funds</button></form>
<form method="post" action="/sign/{{.Channel}}/{{.OutNo}}/fail?reason=limit"><button data-testid="paysim-fail-limit">超出限额 / Limit exceeded</button></form>
<form method="post" action="/sign/{{.Channel}}/{{.OutNo}}/fail?reason=revoked"><button data-testid="paysim-fail-revoked">协议失效 / Contract revoked</button></form>
<form method="post" action="/sign/{{.Channel}}/{{.OutNo}}/fail?reason="><button data-testid="paysim-fail-none">扣款成功 / Debits succeed</button></form>
<form method="post" action="/sign/{{.Channel}}/{{.OutNo}}/unsign"><button data-testid="paysim-unsign">解约 / Unsign (in the app)</button></form>
{{end}}
{{if .ReturnURL}}<p><a href="{{.ReturnURL}}" data-testid="paysim-back">返回商户 / Back to the shop</a></p>{{end}}
</body></html>
`))

func (s *Server) signPage(w http.ResponseWriter, r *http.Request) {
	channel, no := r.PathValue("channel"), r.PathValue("no")
	s.mu.Lock()
	a, ok := s.agreements[agreementKey(channel, no)]
	var v signView
	if ok {
		v = signView{Channel: channel, ChannelName: map[string]string{ChannelWeChat: "微信支付 WeChat Pay", ChannelAlipay: "支付宝 Alipay"}[channel],
			OutNo: a.outNo, ContractID: a.id, Display: a.display, State: a.state, FailWith: a.failWith, Debits: a.debits,
			Pending: a.state == agreementPending, Signed: a.state == agreementSigned, ReturnURL: a.returnURL}
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "paysim: no such agreement", http.StatusNotFound)
		return
	}
	v.Message = map[string]string{"signed": "签约成功, 已通知商户 / Signed; the merchant is being notified.",
		"unsigned": "已解约, 已通知商户 / Unsigned; the merchant is being notified.", "set": "已设置 / Set.",
		"err": "无法完成 / Not possible in this state."}[r.URL.Query().Get("m")]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = signTmpl.Execute(w, v)
}

func (s *Server) signPageAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		channel, no := r.PathValue("channel"), r.PathValue("no")
		back := "/sign/" + channel + "/" + url.PathEscape(no)
		var n *notice
		var ack func(int, []byte) bool
		var err error
		m := "err"
		switch action {
		case "confirm":
			n, ack, err = s.signAgreement(channel, no)
			m = "signed"
		case "unsign":
			n, err = s.terminate(channel, no, wechatpay.TerminatedByUser)
			ack, m = wxAck, "unsigned"
			if channel == ChannelAlipay {
				ack = aliAck
			}
		case "fail":
			err, m = s.SetAgreementFailure(channel, no, r.URL.Query().Get("reason")), "set"
		}
		switch {
		case errors.Is(err, ErrNoAgreement):
			http.Error(w, "paysim: no such agreement", http.StatusNotFound)
			return
		case err != nil:
			m = "err"
		case n != nil:
			s.pending.Go(func() { s.deliver(contextBackground(), n, ack) })
		}
		http.Redirect(w, r, back+"?m="+m, http.StatusSeeOther)
	}
}

// agreementRows lists agreements for the index page; s.mu held.
func (s *Server) agreementRows() []indexRow {
	var rows []indexRow
	for _, a := range s.agreements {
		rows = append(rows, indexRow{Channel: a.channel + " agreement", OutTradeNo: a.outNo, Amount: decimal.Zero.StringFixed(2),
			Status: a.state, URL: "/sign/" + a.channel + "/" + url.PathEscape(a.outNo)})
	}
	return rows
}

// agreementMethod reports whether an Alipay method belongs to agreement
// payments (their biz_content nests objects).
func agreementMethod(method string) bool {
	return method == alipay.MethodAgreementPageSign || method == alipay.MethodAgreementQuery ||
		method == alipay.MethodAgreementUnsign || method == alipay.MethodTradePay
}
