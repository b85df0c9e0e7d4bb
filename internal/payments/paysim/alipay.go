package paysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paykey"
)

// aliOrder is a precreated 当面付 order. Until someone opens its pay page
// ("scans" it) Alipay has no trade: query and close answer
// ACQ.TRADE_NOT_EXIST, as the real gateway does.
type aliOrder struct {
	outTradeNo string
	subject    string
	total      decimal.Decimal
	notifyURL  string
	qrCode     string
	expire     time.Time
	scanned    bool
	status     string
	tradeNo    string
	buyerID    string
	gmtCreate  time.Time
	gmtPayment time.Time
	refunded   decimal.Decimal
	refunds    map[string]alipay.RefundResult
	last       *notice
	// returnURL and quitURL are a WAP order's (alipay.trade.wap.pay): where
	// the customer goes after paying, or on giving up.
	wap                bool
	returnURL, quitURL string
}

// aliAck: Alipay stops retrying only on the body "success"
// (https://opendocs.alipay.com/open/194/103296).
func aliAck(status int, body []byte) bool {
	return status == http.StatusOK && string(bytes.TrimSpace(body)) == "success"
}

// status reports the trade status, closing it lazily once it has expired.
func (o *aliOrder) currentStatus(now time.Time) string {
	if o.status == alipay.TradeWaitBuyerPay && now.After(o.expire) {
		o.status = alipay.TradeClosed
	}
	return o.status
}

// aliWrite writes {"<method>_response": node, "sign": …} with the sign over
// the node's exact bytes, as the gateway does.
func (s *Server) aliWrite(w http.ResponseWriter, method string, node any) {
	nb := mustJSON(node)
	sign, err := alipay.Sign(s.cfg.Alipay.AlipayKey, string(nb))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	key := "error_response"
	if method != "" {
		key = alipay.ResponseKey(method)
	}
	var b bytes.Buffer
	b.WriteString(`{"`)
	b.WriteString(key)
	b.WriteString(`":`)
	b.Write(nb)
	b.WriteString(`,"sign":`)
	b.Write(mustJSON(sign))
	b.WriteString("}")
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

type aliErr struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

func (s *Server) aliFail(w http.ResponseWriter, method, code, subCode, subMsg string) {
	msg := map[string]string{"40001": "Missing Required Arguments", "40002": "Invalid Arguments", "40004": "Business Failed", "20000": "Service Currently Unavailable"}[code]
	s.aliWrite(w, method, aliErr{Code: code, Msg: msg, SubCode: subCode, SubMsg: subMsg})
}

var aliMethods = map[string]bool{"alipay.trade.precreate": true, "alipay.trade.query": true, "alipay.trade.close": true, "alipay.trade.refund": true,
	alipay.MethodWapPay: true}

// aliGateway is the gateway: API methods posted by our server (answered
// with signed JSON) and alipay.trade.wap.pay, a page request the customer's
// browser sends with GET or a posted form (answered with the cashier). Both
// are checked alike: app id, RSA2 sign over the parameters, timestamp.
func (s *Server) aliGateway(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.aliFail(w, "", "40002", "isv.invalid-parameter", "请求参数无法解析")
		return
	}
	p := r.Form
	method := p.Get("method")
	page := method == alipay.MethodWapPay || method == alipay.MethodAgreementPageSign
	if (!aliMethods[method] && !agreementMethod(method)) || (r.Method == http.MethodGet && !page) {
		s.aliFail(w, "", "40002", "isv.invalid-method", "不存在的方法名")
		return
	}
	fail := func(code, subCode, subMsg string) {
		if page { // the real gateway shows the browser an error page
			http.Error(w, "paysim 支付宝: "+code+" "+subCode+": "+subMsg, http.StatusBadRequest)
			return
		}
		s.aliFail(w, method, code, subCode, subMsg)
	}
	switch {
	case p.Get("app_id") != s.cfg.Alipay.AppID:
		fail("40002", "isv.invalid-app-id", "无效的AppID参数")
		return
	case p.Get("sign_type") != "RSA2":
		fail("40002", "isv.invalid-signature-type", "无效的签名类型")
		return
	case p.Get("sign") == "":
		fail("40001", "isv.missing-signature", "缺少签名参数")
		return
	case p.Get("version") != "1.0":
		fail("40002", "isv.invalid-parameter", "version 须为 1.0")
		return
	}
	if alipay.Verify(s.cfg.Alipay.AppPublicKey, alipay.SignContent(p, "sign"), p.Get("sign")) != nil {
		fail("40002", "isv.invalid-signature", "验签出错, 建议检查签名字符串或签名私钥与应用公钥是否匹配")
		return
	}
	ts, err := time.ParseInLocation(alipay.TimeLayout, p.Get("timestamp"), alipay.ChinaTime)
	if err != nil {
		fail("40002", "isv.invalid-timestamp", "非法的时间戳参数")
		return
	}
	if d := s.now().Sub(ts); d > 15*time.Minute || d < -15*time.Minute {
		fail("40002", "isv.invalid-timestamp", "时间戳与当前时间相差过大")
		return
	}
	if agreementMethod(method) {
		s.aliAgreementGateway(w, r, p, method)
		return
	}
	biz := map[string]string{}
	if err := json.Unmarshal([]byte(p.Get("biz_content")), &biz); err != nil {
		fail("40002", "isv.invalid-parameter", "biz_content 不是合法的 JSON 对象")
		return
	}
	if biz["out_trade_no"] == "" {
		fail("40001", "isv.missing-parameter", "缺少 out_trade_no")
		return
	}
	if page {
		if code, sub, msg := s.aliWap(r, p, biz); code != "" {
			fail(code, sub, msg)
			return
		}
		http.Redirect(w, r, "/h5/"+ChannelAlipay+"/"+url.PathEscape(biz["out_trade_no"]), http.StatusSeeOther)
		return
	}
	switch method {
	case "alipay.trade.precreate":
		s.aliPrecreate(w, r, p, biz)
	case "alipay.trade.query":
		s.aliQuery(w, biz)
	case "alipay.trade.close":
		s.aliClose(w, biz)
	case "alipay.trade.refund":
		s.aliRefund(w, biz)
	}
}

func parseYuan(v string) (decimal.Decimal, bool) {
	d, err := decimal.NewFromString(v)
	if err != nil || !d.IsPositive() || !d.Equal(d.Round(2)) || d.GreaterThan(decimal.NewFromInt(100000000)) {
		return decimal.Decimal{}, false
	}
	return d, true
}

func (s *Server) aliPrecreate(w http.ResponseWriter, r *http.Request, p url.Values, biz map[string]string) {
	const m = "alipay.trade.precreate"
	no := biz["out_trade_no"]
	total, ok := parseYuan(biz["total_amount"])
	if !ok {
		s.aliFail(w, m, "40002", "isv.invalid-parameter", "total_amount 须在 [0.01,100000000] 且最多两位小数")
		return
	}
	if biz["subject"] == "" {
		s.aliFail(w, m, "40001", "isv.missing-parameter", "缺少 subject")
		return
	}
	timeout := 2 * time.Hour // the documented validity of a precreate QR code
	if te := biz["timeout_express"]; te != "" {
		d, err := time.ParseDuration(strings.TrimSuffix(te, "m") + "m")
		if err != nil || d < time.Minute {
			s.aliFail(w, m, "40002", "isv.invalid-parameter", "timeout_express 格式错误 (如 90m)")
			return
		}
		timeout = d
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, exists := s.alipay[no]; exists {
		switch st := o.currentStatus(s.now()); {
		case st == alipay.TradeSuccess || st == alipay.TradeFinished:
			s.aliFail(w, m, "40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
		case st == alipay.TradeClosed:
			s.aliFail(w, m, "40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
		case o.wap || !o.total.Equal(total) || o.subject != biz["subject"]:
			s.aliFail(w, m, "40004", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
		default:
			s.aliWrite(w, m, map[string]string{"code": alipay.CodeSuccess, "msg": "Success", "out_trade_no": no, "qr_code": o.qrCode})
		}
		return
	}
	o := &aliOrder{
		outTradeNo: no, subject: biz["subject"], total: total, notifyURL: p.Get("notify_url"),
		qrCode: s.baseURL(r) + "/pay/" + ChannelAlipay + "/" + url.PathEscape(no),
		expire: s.now().Add(timeout), refunds: map[string]alipay.RefundResult{},
	}
	s.alipay[no] = o
	s.aliWrite(w, m, map[string]string{"code": alipay.CodeSuccess, "msg": "Success", "out_trade_no": no, "qr_code": o.qrCode})
}

// aliWap takes an alipay.trade.wap.pay request (biz_content out_trade_no,
// total_amount, subject, product_code QUICK_WAP_WAY, quit_url,
// timeout_express; return_url and notify_url beside it): it creates the
// trade, as opening Alipay's cashier does, or finds it again for the same
// order. It returns the error code, sub code and message, or "" when the
// cashier can be shown.
func (s *Server) aliWap(r *http.Request, p url.Values, biz map[string]string) (code, subCode, subMsg string) {
	no := biz["out_trade_no"]
	total, ok := parseYuan(biz["total_amount"])
	switch {
	case !ok:
		return "40002", "isv.invalid-parameter", "total_amount 须在 [0.01,100000000] 且最多两位小数"
	case biz["subject"] == "":
		return "40001", "isv.missing-parameter", "缺少 subject"
	case biz["product_code"] != alipay.ProductQuickWap:
		return "40002", "isv.invalid-parameter", "product_code 须为 QUICK_WAP_WAY"
	}
	timeout := 15 * 24 * time.Hour // the documented default of timeout_express
	if te := biz["timeout_express"]; te != "" {
		d, err := time.ParseDuration(strings.TrimSuffix(te, "m") + "m")
		if err != nil || d < time.Minute {
			return "40002", "isv.invalid-parameter", "timeout_express 格式错误 (如 90m)"
		}
		timeout = d
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, exists := s.alipay[no]; exists {
		if !o.wap || !o.total.Equal(total) || o.subject != biz["subject"] {
			return "40004", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"
		}
		o.returnURL, o.quitURL = p.Get("return_url"), biz["quit_url"]
		return "", "", ""
	}
	o := &aliOrder{
		outTradeNo: no, subject: biz["subject"], total: total, notifyURL: p.Get("notify_url"),
		qrCode: s.baseURL(r) + "/h5/" + ChannelAlipay + "/" + url.PathEscape(no),
		expire: s.now().Add(timeout), refunds: map[string]alipay.RefundResult{},
		wap: true, returnURL: p.Get("return_url"), quitURL: biz["quit_url"],
	}
	s.aliScan(o)
	s.alipay[no] = o
	return "", "", ""
}

// aliReturnURL is where a paid WAP order sends the customer: return_url
// with the signed sync-return parameters Alipay adds
// (method alipay.trade.wap.pay.return). Called with s.mu held.
func (s *Server) aliReturnURL(o *aliOrder) (string, error) {
	if o.returnURL == "" {
		return "", nil
	}
	p := url.Values{}
	p.Set("method", alipay.MethodWapPay+".return")
	p.Set("app_id", s.cfg.Alipay.AppID)
	p.Set("auth_app_id", s.cfg.Alipay.AppID)
	p.Set("charset", "utf-8")
	p.Set("version", "1.0")
	p.Set("timestamp", s.now().In(alipay.ChinaTime).Format(alipay.TimeLayout))
	p.Set("out_trade_no", o.outTradeNo)
	p.Set("trade_no", o.tradeNo)
	p.Set("total_amount", o.total.StringFixed(2))
	p.Set("seller_id", s.cfg.Alipay.SellerID)
	p.Set("sign_type", "RSA2")
	sg, err := alipay.Sign(s.cfg.Alipay.AlipayKey, alipay.SignContent(p, "sign", "sign_type"))
	if err != nil {
		return "", err
	}
	p.Set("sign", sg)
	sep := "?"
	if strings.Contains(o.returnURL, "?") {
		sep = "&"
	}
	return o.returnURL + sep + p.Encode(), nil
}

// scan creates the trade at "Alipay" when the customer opens the pay page.
func (s *Server) aliScan(o *aliOrder) {
	if o.scanned {
		return
	}
	o.scanned = true
	o.status = alipay.TradeWaitBuyerPay
	o.tradeNo = fmt.Sprintf("%s22%014d", s.now().In(chinaTime).Format("20060102"), s.nextID())
	o.buyerID = "2088" + fmt.Sprintf("%012d", 100000000000+s.seq)
	o.gmtCreate = s.now()
}

func (s *Server) aliQuery(w http.ResponseWriter, biz map[string]string) {
	const m = "alipay.trade.query"
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.alipay[biz["out_trade_no"]]
	if !ok || !o.scanned {
		s.aliFail(w, m, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
		return
	}
	node := map[string]string{
		"code": alipay.CodeSuccess, "msg": "Success", "trade_no": o.tradeNo, "out_trade_no": o.outTradeNo,
		"buyer_logon_id": "sim***@example.com", "trade_status": o.currentStatus(s.now()),
		"total_amount": o.total.StringFixed(2), "buyer_user_id": o.buyerID,
	}
	if !o.gmtPayment.IsZero() {
		node["send_pay_date"] = o.gmtPayment.In(alipay.ChinaTime).Format(alipay.TimeLayout)
		node["receipt_amount"] = o.total.StringFixed(2)
		node["buyer_pay_amount"] = o.total.StringFixed(2)
	}
	s.aliWrite(w, m, node)
}

func (s *Server) aliClose(w http.ResponseWriter, biz map[string]string) {
	const m = "alipay.trade.close"
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.alipay[biz["out_trade_no"]]
	if !ok || !o.scanned {
		s.aliFail(w, m, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
		return
	}
	if st := o.currentStatus(s.now()); !o.gmtPayment.IsZero() || (st != alipay.TradeWaitBuyerPay && st != alipay.TradeClosed) {
		s.aliFail(w, m, "40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
		return
	}
	o.status = alipay.TradeClosed
	s.aliWrite(w, m, map[string]string{"code": alipay.CodeSuccess, "msg": "Success", "trade_no": o.tradeNo, "out_trade_no": o.outTradeNo})
}

func (s *Server) aliRefund(w http.ResponseWriter, biz map[string]string) {
	const m = "alipay.trade.refund"
	amt, ok := parseYuan(biz["refund_amount"])
	if !ok {
		s.aliFail(w, m, "40002", "isv.invalid-parameter", "refund_amount 格式错误")
		return
	}
	reqNo := biz["out_request_no"]
	if reqNo == "" {
		reqNo = biz["out_trade_no"] // Alipay's documented default for a full refund
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, found := s.alipay[biz["out_trade_no"]]
	if !found || !o.scanned {
		s.aliFail(w, m, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
		return
	}
	node := func(rr alipay.RefundResult) map[string]string {
		return map[string]string{
			"code": alipay.CodeSuccess, "msg": "Success", "trade_no": rr.TradeNo, "out_trade_no": rr.OutTradeNo,
			"buyer_logon_id": rr.BuyerLogonID, "fund_change": rr.FundChange, "refund_fee": rr.RefundFee.StringFixed(2),
			"gmt_refund_pay": rr.GmtRefundPay,
		}
	}
	if prev, dup := o.refunds[reqNo]; dup {
		prev.FundChange = "N"
		s.aliWrite(w, m, node(prev))
		return
	}
	st := o.currentStatus(s.now())
	if o.gmtPayment.IsZero() || (st != alipay.TradeSuccess && st != alipay.TradeClosed) {
		s.aliFail(w, m, "40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
		return
	}
	if o.refunded.Add(amt).GreaterThan(o.total) {
		s.aliFail(w, m, "40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
		return
	}
	o.refunded = o.refunded.Add(amt)
	if o.refunded.Equal(o.total) {
		o.status = alipay.TradeClosed // a fully refunded trade is closed
	}
	rr := alipay.RefundResult{
		TradeNo: o.tradeNo, OutTradeNo: o.outTradeNo, BuyerLogonID: "sim***@example.com", FundChange: "Y",
		RefundFee: o.refunded, GmtRefundPay: s.now().In(alipay.ChinaTime).Format(alipay.TimeLayout),
	}
	o.refunds[reqNo] = rr
	s.aliWrite(w, m, node(rr))
}

// aliPay marks the trade paid and builds its trade_status_sync notify.
func (s *Server) aliPay(outTradeNo string) (*notice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.alipay[outTradeNo]
	if !ok {
		return nil, ErrNoOrder
	}
	s.aliScan(o)
	if st := o.currentStatus(s.now()); st != alipay.TradeWaitBuyerPay {
		return nil, fmt.Errorf("%w: status %s", ErrNotPayable, st)
	}
	o.status = alipay.TradeSuccess
	o.gmtPayment = s.now()
	n, err := s.aliNotice(o)
	if err != nil {
		return nil, err
	}
	o.last = n
	return n, nil
}

// aliNotice builds the form of an async notify, signed over the sorted
// parameters without sign and sign_type. Called with s.mu held; the resign
// function copies what it needs.
func (s *Server) aliNotice(o *aliOrder) (*notice, error) {
	base := url.Values{}
	set := func(k, v string) { base.Set(k, v) }
	set("notify_type", "trade_status_sync")
	set("app_id", s.cfg.Alipay.AppID)
	set("charset", "utf-8")
	set("version", "1.0")
	set("trade_no", o.tradeNo)
	set("out_trade_no", o.outTradeNo)
	set("buyer_id", o.buyerID)
	set("buyer_logon_id", "sim***@example.com")
	set("seller_id", s.cfg.Alipay.SellerID)
	set("trade_status", alipay.TradeSuccess)
	set("total_amount", o.total.StringFixed(2))
	set("receipt_amount", o.total.StringFixed(2))
	set("buyer_pay_amount", o.total.StringFixed(2))
	set("invoice_amount", o.total.StringFixed(2))
	set("subject", o.subject)
	set("gmt_create", o.gmtCreate.In(alipay.ChinaTime).Format(alipay.TimeLayout))
	set("gmt_payment", o.gmtPayment.In(alipay.ChinaTime).Format(alipay.TimeLayout))
	notifyURL := o.notifyURL
	var sign func() (*notice, error)
	sign = func() (*notice, error) {
		p := url.Values{}
		for k, v := range base {
			p[k] = append([]string(nil), v...)
		}
		p.Set("notify_time", s.now().In(alipay.ChinaTime).Format(alipay.TimeLayout))
		p.Set("notify_id", "2026"+paykey.RandomString(28))
		p.Set("sign_type", "RSA2")
		sg, err := alipay.Sign(s.cfg.Alipay.AlipayKey, alipay.SignContent(p, "sign", "sign_type"))
		if err != nil {
			return nil, err
		}
		p.Set("sign", sg)
		return &notice{URL: notifyURL, ContentType: "application/x-www-form-urlencoded; charset=utf-8", Header: http.Header{}, Body: []byte(p.Encode()), resign: sign}, nil
	}
	return sign()
}
