package paysim

import (
	"context"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"sort"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paykey"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// pageView is what the "scan to pay" page shows.
type pageView struct {
	Channel     string
	ChannelName string
	OutTradeNo  string
	Subject     string
	Amount      string // yuan, two decimals
	Status      string
	Payable     bool
	Expired     bool
	Message     string
	ConfirmURL  string
	// Phone pages (WeChat Pay H5, Alipay WAP): the payer's address WeChat
	// was told, the redirect_url to carry through Confirm, and where giving
	// up leads (back to the merchant).
	Phone    bool
	ClientIP string
	Redirect string
	BackURL  string
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>paysim · {{.ChannelName}}</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
.amount{font-size:2rem;font-weight:bold}.note{color:#666;font-size:.9rem}
button{font-size:1.1rem;padding:.6rem 2rem}</style></head>
<body>
<p class="note">Payment sandbox (paysim) — no real money moves.</p>
<h1 data-testid="paysim-channel">{{.ChannelName}}</h1>
<p data-testid="paysim-subject">{{.Subject}}</p>
<p class="amount" data-testid="paysim-amount">¥{{.Amount}}</p>
<p>订单号 / Order: <code data-testid="paysim-order">{{.OutTradeNo}}</code></p>
<p>状态 / Status: <strong data-testid="paysim-status">{{.Status}}</strong></p>
{{if .Message}}<p data-testid="paysim-message">{{.Message}}</p>{{end}}
{{if .Phone}}<p class="note" data-testid="paysim-phone">手机支付 / Paying on the phone{{if .ClientIP}} · payer_client_ip {{.ClientIP}}{{end}}</p>{{end}}
{{if .Payable}}
<form method="post" action="{{.ConfirmURL}}">
{{if .Redirect}}<input type="hidden" name="redirect_url" value="{{.Redirect}}">{{end}}
<button type="submit" data-testid="paysim-confirm">确认支付 / Confirm payment</button>
</form>
{{else if .Expired}}<p data-testid="paysim-expired">订单已过期 / This order has expired.</p>{{end}}
{{if .BackURL}}<p><a href="{{.BackURL}}" data-testid="paysim-back">返回商户 / Back to the shop</a></p>{{end}}
</body></html>
`))

func (s *Server) view(channel, no string) (pageView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch channel {
	case ChannelWeChat:
		o, ok := s.wechat[no]
		if !ok {
			return pageView{}, false
		}
		expired := !o.expire.IsZero() && now.After(o.expire) && o.tx.TradeState == wechatpay.StateNotPay
		return pageView{
			Channel: channel, ChannelName: "微信支付 WeChat Pay", OutTradeNo: no, Subject: o.desc,
			Amount: decimal.New(o.tx.Amount.Total, -2).StringFixed(2), Status: o.tx.TradeState,
			Payable: o.tx.TradeState == wechatpay.StateNotPay && !expired, Expired: expired,
			Phone: o.tx.TradeType == wechatpay.TradeTypeMWeb, ClientIP: o.clientIP,
		}, true
	case ChannelAlipay:
		o, ok := s.alipay[no]
		if !ok {
			return pageView{}, false
		}
		s.aliScan(o) // opening the page is scanning the code
		st := o.currentStatus(now)
		return pageView{
			Channel: channel, ChannelName: "支付宝 Alipay", OutTradeNo: no, Subject: o.subject,
			Amount: o.total.StringFixed(2), Status: st, Payable: st == alipay.TradeWaitBuyerPay,
			Expired: st == alipay.TradeClosed && o.gmtPayment.IsZero() && now.After(o.expire),
			Phone:   o.wap, BackURL: o.quitURL,
		}, true
	}
	return pageView{}, false
}

func (s *Server) payPage(w http.ResponseWriter, r *http.Request) {
	channel, no := r.PathValue("channel"), r.PathValue("no")
	v, ok := s.view(channel, no)
	if !ok {
		http.Error(w, "paysim: no such order", http.StatusNotFound)
		return
	}
	v.ConfirmURL = "/pay/" + channel + "/" + url.PathEscape(no) + "/confirm"
	switch r.URL.Query().Get("m") {
	case "paid":
		v.Message = "支付成功, 已通知商户 / Paid; the merchant is being notified."
	case "err":
		v.Message = "无法支付 / This order cannot be paid."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, v)
}

// payConfirm is the Confirm button: it pays, sends the notify in the
// background (with retries) and shows the page again.
func (s *Server) payConfirm(w http.ResponseWriter, r *http.Request) {
	channel, no := r.PathValue("channel"), r.PathValue("no")
	n, ack, err := s.pay(channel, no)
	back := "/pay/" + channel + "/" + url.PathEscape(no)
	switch {
	case errors.Is(err, ErrNoOrder):
		http.Error(w, "paysim: no such order", http.StatusNotFound)
		return
	case err != nil:
		http.Redirect(w, r, back+"?m=err", http.StatusSeeOther)
		return
	}
	s.pending.Go(func() { s.deliver(contextBackground(), n, ack) })
	http.Redirect(w, r, back+"?m=paid", http.StatusSeeOther)
}

func contextBackground() context.Context { return context.Background() }

// phonePage is the phone cashier: WeChat Pay's h5_url (with the
// redirect_url we appended) or where Alipay's gateway sent a WAP request.
func (s *Server) phonePage(w http.ResponseWriter, r *http.Request) {
	channel, no := r.PathValue("channel"), r.PathValue("no")
	v, ok := s.view(channel, no)
	if !ok || !v.Phone {
		http.Error(w, "paysim: no such phone order", http.StatusNotFound)
		return
	}
	// WeChat Pay's H5 checks that h5_url is opened from the merchant's site
	// (the Referer's domain against the H5 domain the merchant registered)
	// and otherwise shows this message; the sandbox knows no domain, so it
	// asks only that there is a Referer.
	if channel == ChannelWeChat && r.Referer() == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `<!doctype html><meta charset="utf-8"><p data-testid="paysim-referer-error">商家参数格式有误，请联系商家解决 (paysim: h5_url was opened without a Referer; WeChat Pay H5 requires the merchant's page as Referer)</p>`)
		return
	}
	v.ConfirmURL = "/h5/" + channel + "/" + url.PathEscape(no) + "/confirm"
	if channel == ChannelWeChat {
		v.Redirect = r.URL.Query().Get("redirect_url")
		v.BackURL = v.Redirect
	}
	switch r.URL.Query().Get("m") {
	case "paid":
		v.Message = "支付成功, 已通知商户 / Paid; the merchant is being notified."
	case "err":
		v.Message = "无法支付 / This order cannot be paid."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, v)
}

// phoneConfirm is the phone cashier's Confirm button: it pays, sends the
// notify in the background (with retries) as the QR page does, and sends
// the customer back to the merchant — WeChat Pay to redirect_url, Alipay to
// return_url with its signed sync-return parameters — or, without one, to
// the cashier again.
func (s *Server) phoneConfirm(w http.ResponseWriter, r *http.Request) {
	channel, no := r.PathValue("channel"), r.PathValue("no")
	page := "/h5/" + channel + "/" + url.PathEscape(no)
	redirect := r.FormValue("redirect_url")
	if redirect != "" {
		page += "?redirect_url=" + url.QueryEscape(redirect) + "&"
	} else {
		page += "?"
	}
	n, ack, err := s.pay(channel, no)
	switch {
	case errors.Is(err, ErrNoOrder):
		http.Error(w, "paysim: no such order", http.StatusNotFound)
		return
	case err != nil:
		http.Redirect(w, r, page+"m=err", http.StatusSeeOther)
		return
	}
	s.pending.Go(func() { s.deliver(contextBackground(), n, ack) })
	back := redirect
	if channel == ChannelAlipay {
		s.mu.Lock()
		back, err = s.aliReturnURL(s.alipay[no])
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if back == "" {
		back = page + "m=paid"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// KeysView is what GET /sim/keys returns: everything our server needs to
// trust the sandbox.
type KeysView struct {
	WeChat struct {
		MchID             string `json:"mchid"`
		AppID             string `json:"appid"`
		PlatformSerial    string `json:"platform_serial"`
		PlatformPublicKey string `json:"platform_public_key_pem"`
	} `json:"wechat"`
	Alipay struct {
		AppID           string `json:"app_id"`
		SellerID        string `json:"seller_id"`
		AlipayPublicKey string `json:"alipay_public_key_pem"`
	} `json:"alipay"`
}

func (s *Server) simKeys(w http.ResponseWriter, _ *http.Request) {
	var v KeysView
	v.WeChat.MchID, v.WeChat.AppID, v.WeChat.PlatformSerial = s.cfg.WeChat.MchID, s.cfg.WeChat.AppID, s.cfg.WeChat.PlatformSerial
	if k := s.cfg.WeChat.PlatformKey; k != nil {
		b, _ := paykey.PublicPEM(&k.PublicKey)
		v.WeChat.PlatformPublicKey = string(b)
	}
	v.Alipay.AppID, v.Alipay.SellerID = s.cfg.Alipay.AppID, s.cfg.Alipay.SellerID
	if k := s.cfg.Alipay.AlipayKey; k != nil {
		b, _ := paykey.PublicPEM(&k.PublicKey)
		v.Alipay.AlipayPublicKey = string(b)
	}
	writeJSON(w, http.StatusOK, v)
}

type indexRow struct {
	Channel, OutTradeNo, Amount, Status, URL string
}

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>paysim</title></head><body>
<h1>paysim — payment channel sandbox</h1>
<table border="1" cellpadding="4"><tr><th>Channel</th><th>Order</th><th>Amount</th><th>Status</th></tr>
{{range .}}<tr><td>{{.Channel}}</td><td><a href="{{.URL}}">{{.OutTradeNo}}</a></td><td>¥{{.Amount}}</td><td>{{.Status}}</td></tr>
{{else}}<tr><td colspan="4">No orders yet.</td></tr>{{end}}
</table><p><a href="/sim/keys">Public keys</a></p></body></html>
`))

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	now := s.now()
	var rows []indexRow
	for no, o := range s.wechat {
		page := "/pay/wechat/" + url.PathEscape(no)
		if o.tx.TradeType == wechatpay.TradeTypeMWeb {
			page = "/h5/wechat/" + url.PathEscape(no)
		}
		rows = append(rows, indexRow{ChannelWeChat, no, decimal.New(o.tx.Amount.Total, -2).StringFixed(2), o.tx.TradeState, page})
	}
	for no, o := range s.alipay {
		st := o.currentStatus(now)
		if !o.scanned {
			st = "NOT_SCANNED"
		}
		page := "/pay/alipay/" + url.PathEscape(no)
		if o.wap {
			page = "/h5/alipay/" + url.PathEscape(no)
		}
		rows = append(rows, indexRow{ChannelAlipay, no, o.total.StringFixed(2), st, page})
	}
	rows = append(rows, s.agreementRows()...)
	s.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].OutTradeNo < rows[j].OutTradeNo })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexTmpl.Execute(w, rows)
}
