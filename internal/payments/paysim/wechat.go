package paysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/seed75218f88/credits/internal/payments/paykey"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// wxOrder is a Native order as the sandbox keeps it.
type wxOrder struct {
	tx        wechatpay.Transaction
	desc      string
	notifyURL string
	codeURL   string
	expire    time.Time // zero: none
	clientIP  string    // H5 orders: scene_info.payer_client_ip
	refunded  int64
	refunds   map[string]*wechatpay.Refund
	last      *notice
}

// wxAck: WeChat Pay takes 200 or 204 as success
// (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_4_5.shtml).
func wxAck(status int, _ []byte) bool {
	return status == http.StatusOK || status == http.StatusNoContent
}

// wxError answers with the API's error shape {"code","message"}.
func (s *Server) wxError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	s.wxWrite(w, status, b)
}

// wxWrite signs an answer as WeChat Pay does (Wechatpay-* headers over
// timestamp\nnonce\nbody\n) and writes it.
func (s *Server) wxWrite(w http.ResponseWriter, status int, body []byte) {
	h, err := s.wxSignedHeader(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Request-ID", "paysim-"+paykey.RandomString(16))
	if len(body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) wxSignedHeader(body []byte) (http.Header, error) {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	nonce := wechatpay.NewNonce()
	sig, err := wechatpay.Sign(s.cfg.WeChat.PlatformKey, wechatpay.ResponseMessage(ts, nonce, body))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(wechatpay.HeaderTimestamp, ts)
	h.Set(wechatpay.HeaderNonce, nonce)
	h.Set(wechatpay.HeaderSignature, sig)
	h.Set(wechatpay.HeaderSerial, s.cfg.WeChat.PlatformSerial)
	return h, nil
}

// wxAuth checks the Authorization of a request the way WeChat Pay does and
// returns the body; on failure it has already answered 401 SIGN_ERROR.
func (s *Server) wxAuth(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := readBody(r)
	if err != nil {
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", err.Error())
		return nil, false
	}
	a, err := wechatpay.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		s.wxError(w, http.StatusUnauthorized, "SIGN_ERROR", "Authorization 头格式错误: "+err.Error())
		return nil, false
	}
	if s.cfg.WeChat.MchID != "" && a.MchID != s.cfg.WeChat.MchID {
		s.wxError(w, http.StatusUnauthorized, "SIGN_ERROR", "商户号不存在")
		return nil, false
	}
	key, ok := s.cfg.WeChat.MerchantPublicKeys[a.SerialNo]
	if !ok {
		s.wxError(w, http.StatusUnauthorized, "SIGN_ERROR", "商户证书序列号有误")
		return nil, false
	}
	ts, err := strconv.ParseInt(a.Timestamp, 10, 64)
	if d := s.now().Sub(time.Unix(ts, 0)); err != nil || d > wechatpay.MaxSkew || d < -wechatpay.MaxSkew {
		s.wxError(w, http.StatusUnauthorized, "SIGN_ERROR", "请求时间戳已过期")
		return nil, false
	}
	msg := wechatpay.RequestMessage(r.Method, r.RequestURI, ts, a.Nonce, body)
	if wechatpay.Verify(key, msg, a.Signature) != nil {
		s.wxError(w, http.StatusUnauthorized, "SIGN_ERROR", "签名错误")
		return nil, false
	}
	return body, true
}

// wxNative places a Native order: its answer is code_url, the QR code.
func (s *Server) wxNative(w http.ResponseWriter, r *http.Request) {
	s.wxPlace(w, r, "NATIVE")
}

// wxH5 places an H5 order (POST /v3/pay/transactions/h5,
// https://pay.weixin.qq.com/doc/v3/merchant/4012791834): the Native body
// plus scene_info {payer_client_ip, h5_info {type}}; its answer is h5_url,
// the sandbox's phone cashier page for the order.
func (s *Server) wxH5(w http.ResponseWriter, r *http.Request) {
	s.wxPlace(w, r, wechatpay.TradeTypeMWeb)
}

// wxPlace checks and stores an order of tradeType (NATIVE or MWEB). The
// same order placed again answers again (a fresh h5_url for H5); the same
// number with other details, or as the other trade type, is
// OUT_TRADE_NO_USED.
func (s *Server) wxPlace(w http.ResponseWriter, r *http.Request, tradeType string) {
	body, ok := s.wxAuth(w, r)
	if !ok {
		return
	}
	var req wechatpay.H5Request // the Native body is the same without scene_info
	if err := json.Unmarshal(body, &req); err != nil {
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "请求体不是合法的 JSON")
		return
	}
	if code, msg := s.wxCheckOrder(req, tradeType); code != "" {
		s.wxError(w, http.StatusBadRequest, code, msg)
		return
	}
	var expire time.Time
	if req.TimeExpire != "" {
		var err error
		if expire, err = time.Parse(time.RFC3339, req.TimeExpire); err != nil {
			s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "time_expire 须为 RFC3339 格式")
			return
		}
	}
	s.mu.Lock()
	o, exists := s.wechat[req.OutTradeNo]
	if exists {
		same := o.tx.Amount.Total == req.Amount.Total && o.desc == req.Description && o.notifyURL == req.NotifyURL && o.tx.TradeType == tradeType
		state := o.tx.TradeState
		codeURL := o.codeURL
		if same && tradeType == wechatpay.TradeTypeMWeb {
			o.clientIP = req.SceneInfo.PayerClientIP
		}
		s.mu.Unlock()
		switch {
		case state == wechatpay.StateSuccess || state == wechatpay.StateRefund:
			s.wxError(w, http.StatusBadRequest, "ORDERPAID", "该订单已支付")
		case state == wechatpay.StateClosed:
			s.wxError(w, http.StatusBadRequest, "ORDER_CLOSED", "当前订单已关闭")
		case !same:
			s.wxError(w, http.StatusForbidden, "OUT_TRADE_NO_USED", "商户订单号重复")
		default:
			s.wxWrite(w, http.StatusOK, wxPlaced(tradeType, codeURL))
		}
		return
	}
	o = &wxOrder{
		tx: wechatpay.Transaction{
			AppID: req.AppID, MchID: req.MchID, OutTradeNo: req.OutTradeNo, TradeType: tradeType,
			TradeState: wechatpay.StateNotPay, TradeStateDesc: "订单未支付", Attach: req.Attach,
			Amount: wechatpay.Amount{Total: req.Amount.Total, Currency: "CNY"},
		},
		desc: req.Description, notifyURL: req.NotifyURL, expire: expire, clientIP: req.SceneInfo.PayerClientIP,
		codeURL: s.baseURL(r) + "/pay/" + ChannelWeChat + "/" + url.PathEscape(req.OutTradeNo),
		refunds: map[string]*wechatpay.Refund{},
	}
	if tradeType == wechatpay.TradeTypeMWeb {
		o.codeURL = s.baseURL(r) + "/h5/" + ChannelWeChat + "/" + url.PathEscape(req.OutTradeNo)
	}
	s.wechat[req.OutTradeNo] = o
	codeURL := o.codeURL
	s.mu.Unlock()
	s.wxWrite(w, http.StatusOK, wxPlaced(tradeType, codeURL))
}

// wxCheckOrder checks an order's fields as WeChat Pay documents them; it
// returns the error code and message, or "" when the order is acceptable.
func (s *Server) wxCheckOrder(req wechatpay.H5Request, tradeType string) (code, msg string) {
	switch {
	case req.MchID != s.cfg.WeChat.MchID:
		return "PARAM_ERROR", "mchid 与请求头不一致"
	case s.cfg.WeChat.AppID != "" && req.AppID != s.cfg.WeChat.AppID:
		return "APPID_MCHID_NOT_MATCH", "appid 和 mch_id 不匹配"
	case len(req.OutTradeNo) < 6 || len(req.OutTradeNo) > 32:
		return "PARAM_ERROR", "out_trade_no 长度须为 6-32"
	case req.Amount.Total <= 0:
		return "PARAM_ERROR", "amount.total 须为正整数(分)"
	case req.Description == "":
		return "PARAM_ERROR", "缺少 description"
	case req.NotifyURL == "":
		return "PARAM_ERROR", "缺少 notify_url"
	case req.Amount.Currency != "" && req.Amount.Currency != "CNY":
		return "PARAM_ERROR", "currency 仅支持 CNY"
	}
	if tradeType != wechatpay.TradeTypeMWeb {
		return "", ""
	}
	switch req.SceneInfo.H5Info.Type {
	case "iOS", "Android", wechatpay.H5SceneWap:
	default:
		return "PARAM_ERROR", "scene_info.h5_info.type 须为 iOS、Android 或 Wap"
	}
	if net.ParseIP(req.SceneInfo.PayerClientIP) == nil {
		return "PARAM_ERROR", "scene_info.payer_client_ip 须为用户的 IP 地址"
	}
	return "", ""
}

// wxPlaced is the answer to a placed order: code_url for Native, h5_url
// for H5 (with WeChat's prepay_id and package query, fresh each time).
func wxPlaced(tradeType, pageURL string) []byte {
	if tradeType == wechatpay.TradeTypeMWeb {
		return mustJSON(map[string]string{"h5_url": pageURL + "?prepay_id=wx" + paykey.RandomString(30) + "&package=" + strconv.Itoa(int(time.Now().UnixNano()%1e10))})
	}
	return mustJSON(map[string]string{"code_url": pageURL})
}

func (s *Server) wxQuery(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.wxAuth(w, r); !ok {
		return
	}
	if r.URL.Query().Get("mchid") != s.cfg.WeChat.MchID {
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "mchid 参数错误")
		return
	}
	s.mu.Lock()
	o, ok := s.wechat[r.PathValue("no")]
	var tx wechatpay.Transaction
	if ok {
		tx = o.tx
	}
	s.mu.Unlock()
	if !ok {
		s.wxError(w, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		return
	}
	s.wxWrite(w, http.StatusOK, mustJSON(tx))
}

func (s *Server) wxClose(w http.ResponseWriter, r *http.Request) {
	body, ok := s.wxAuth(w, r)
	if !ok {
		return
	}
	var req struct {
		MchID string `json:"mchid"`
	}
	if json.Unmarshal(body, &req) != nil || req.MchID != s.cfg.WeChat.MchID {
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "mchid 参数错误")
		return
	}
	s.mu.Lock()
	o, ok := s.wechat[r.PathValue("no")]
	state := ""
	if ok {
		state = o.tx.TradeState
		if state == wechatpay.StateNotPay || state == wechatpay.StateClosed {
			o.tx.TradeState, o.tx.TradeStateDesc = wechatpay.StateClosed, "订单已关闭"
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.wxError(w, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
	case state == wechatpay.StateSuccess || state == wechatpay.StateRefund:
		s.wxError(w, http.StatusBadRequest, "ORDERPAID", "订单已支付, 不能关闭")
	default:
		s.wxWrite(w, http.StatusNoContent, nil)
	}
}

type wxRefundReq struct {
	OutTradeNo  string                 `json:"out_trade_no"`
	OutRefundNo string                 `json:"out_refund_no"`
	Reason      string                 `json:"reason"`
	NotifyURL   string                 `json:"notify_url"`
	Amount      wechatpay.RefundAmount `json:"amount"`
}

func (s *Server) wxRefund(w http.ResponseWriter, r *http.Request) {
	body, ok := s.wxAuth(w, r)
	if !ok {
		return
	}
	var req wxRefundReq
	if err := json.Unmarshal(body, &req); err != nil || req.OutRefundNo == "" || req.OutTradeNo == "" {
		s.wxError(w, http.StatusBadRequest, "PARAM_ERROR", "缺少 out_trade_no 或 out_refund_no")
		return
	}
	s.mu.Lock()
	o, ok := s.wechat[req.OutTradeNo]
	if !ok {
		s.mu.Unlock()
		s.wxError(w, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在")
		return
	}
	if prev, dup := o.refunds[req.OutRefundNo]; dup {
		out := *prev
		s.mu.Unlock()
		if out.Amount.Refund != req.Amount.Refund {
			s.wxError(w, http.StatusBadRequest, "INVALID_REQUEST", "退款单号重复但金额不同")
			return
		}
		s.wxWrite(w, http.StatusOK, mustJSON(out))
		return
	}
	errCode, errMsg := "", ""
	switch {
	case o.tx.TradeState != wechatpay.StateSuccess && o.tx.TradeState != wechatpay.StateRefund:
		errCode, errMsg = "INVALID_REQUEST", "订单未支付, 不能退款"
	case req.Amount.Total != o.tx.Amount.Total:
		errCode, errMsg = "PARAM_ERROR", "amount.total 与订单金额不一致"
	case req.Amount.Refund <= 0 || o.refunded+req.Amount.Refund > o.tx.Amount.Total:
		errCode, errMsg = "INVALID_REQUEST", "申请退款金额超过订单可退金额"
	}
	if errCode != "" {
		s.mu.Unlock()
		s.wxError(w, http.StatusBadRequest, errCode, errMsg)
		return
	}
	now := s.now().In(chinaTime).Format(time.RFC3339)
	rf := &wechatpay.Refund{
		RefundID: fmt.Sprintf("50300%023d", s.nextID()), OutRefundNo: req.OutRefundNo,
		TransactionID: o.tx.TransactionID, OutTradeNo: o.tx.OutTradeNo, Channel: "ORIGINAL",
		UserReceivedAccount: "支付用户零钱", SuccessTime: now, CreateTime: now, Status: wechatpay.RefundSuccess,
		Amount: wechatpay.RefundAmount{Total: o.tx.Amount.Total, Refund: req.Amount.Refund, PayerTotal: o.tx.Amount.Total, PayerRefund: req.Amount.Refund, Currency: "CNY"},
	}
	o.refunds[req.OutRefundNo] = rf
	o.refunded += req.Amount.Refund
	o.tx.TradeState, o.tx.TradeStateDesc = wechatpay.StateRefund, "转入退款"
	out := *rf
	var n *notice
	if req.NotifyURL != "" {
		rn := out
		rn.MchID, rn.Status, rn.RefundStatus, rn.CreateTime = o.tx.MchID, "", wechatpay.RefundSuccess, ""
		var err error
		if n, err = s.wxNotice(req.NotifyURL, wechatpay.EventRefundSuccess, "退款成功", "refund", mustJSON(rn)); err != nil {
			s.mu.Unlock()
			s.wxError(w, http.StatusInternalServerError, "SYSTEM_ERROR", err.Error())
			return
		}
	}
	s.mu.Unlock()
	s.wxWrite(w, http.StatusOK, mustJSON(out))
	if n != nil {
		s.pending.Go(func() { s.deliver(contextBackground(), n, wxAck) })
	}
}

func (s *Server) wxQueryRefund(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.wxAuth(w, r); !ok {
		return
	}
	no := r.PathValue("no")
	s.mu.Lock()
	var found *wechatpay.Refund
	for _, o := range s.wechat {
		if rf, ok := o.refunds[no]; ok {
			c := *rf
			found = &c
			break
		}
	}
	s.mu.Unlock()
	if found == nil {
		s.wxError(w, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")
		return
	}
	s.wxWrite(w, http.StatusOK, mustJSON(found))
}

// wxPay marks a Native order paid and builds its TRANSACTION.SUCCESS notify.
func (s *Server) wxPay(outTradeNo string) (*notice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.wechat[outTradeNo]
	if !ok {
		return nil, ErrNoOrder
	}
	if o.tx.TradeState != wechatpay.StateNotPay {
		return nil, fmt.Errorf("%w: state %s", ErrNotPayable, o.tx.TradeState)
	}
	if !o.expire.IsZero() && s.now().After(o.expire) {
		return nil, fmt.Errorf("%w: expired at %s", ErrNotPayable, o.expire.Format(time.RFC3339))
	}
	o.tx.TradeState, o.tx.TradeStateDesc = wechatpay.StateSuccess, "支付成功"
	o.tx.TransactionID = fmt.Sprintf("4200%024d", s.nextID())
	o.tx.SuccessTime = s.now().In(chinaTime).Format(time.RFC3339)
	o.tx.BankType = "OTHERS"
	o.tx.Payer = wechatpay.Payer{OpenID: "oPaySim" + paykey.RandomString(21)}
	o.tx.Amount.PayerTotal, o.tx.Amount.PayerCurrency = o.tx.Amount.Total, "CNY"
	n, err := s.wxNotice(o.notifyURL, wechatpay.EventTransactionSuccess, "支付成功", "transaction", mustJSON(o.tx))
	if err != nil {
		return nil, err
	}
	o.last = n
	return n, nil
}

// wxNotice builds a signed notify whose resource encrypts plaintext
// (associated_data is the original type, as WeChat Pay sends it).
func (s *Server) wxNotice(notifyURL, event, summary, originalType string, plaintext []byte) (*notice, error) {
	res, err := wechatpay.EncryptResource(s.cfg.WeChat.APIv3Key, plaintext, paykey.RandomString(12), originalType, originalType)
	if err != nil {
		return nil, err
	}
	env := wechatpay.Notification{
		ID: "EV-" + paykey.RandomString(20), CreateTime: s.now().In(chinaTime).Format(time.RFC3339),
		EventType: event, ResourceType: "encrypt-resource", Summary: summary, Resource: res,
	}
	body := mustJSON(env)
	var sign func() (*notice, error)
	sign = func() (*notice, error) {
		h, err := s.wxSignedHeader(body)
		if err != nil {
			return nil, err
		}
		return &notice{URL: notifyURL, ContentType: "application/json", Header: h, Body: body, resign: sign}, nil
	}
	return sign()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(errors.Join(errors.New("paysim: marshal"), err))
	}
	return b
}

// chinaTime is Beijing time (UTC+8, no daylight saving).
var chinaTime = time.FixedZone("CST", 8*3600)
