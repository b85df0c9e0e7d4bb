package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	pv "github.com/seed75218f88/credits/views/portal"
)

// verifier answers the checkout's verification gate.
type verifier interface {
	IsVerified(ctx context.Context, accountID int64) (bool, error)
}

// payArea holds what the checkout, order and notify handlers use.
type payArea struct {
	svc    *payments.Service
	verify verifier
	ledger *ledger.Ledger
}

// payChannels are the channels the top-up form offers, in order.
var payChannels = []payments.Channel{payments.ChannelWeChat, payments.ChannelAlipay, payments.ChannelBankTransfer}

// payRoutes registers the checkout and orders under the portal group, and
// the channels' notify endpoints (outside sessions' sign-in and CSRF) on e.
func (s *Server) payRoutes(e *echo.Echo, g *echo.Group) {
	named(g.GET("/topup", s.TopUp), "portal.topup")
	named(g.POST("/topup", s.TopUpSubmit), "portal.topup.create")
	named(g.GET("/orders", s.Orders), "portal.orders")
	named(g.GET("/orders/:no", s.OrderPage), "portal.order")
	named(g.GET("/orders/:no/receipt.pdf", s.OrderReceipt), "portal.order.receipt")
	named(g.GET("/orders/:no/status", s.OrderStatus), "portal.order.status")
	named(g.GET("/orders/:no/qr.png", s.OrderQR), "portal.order.qr")
	named(g.POST("/orders/:no/close", s.CloseOrder), "portal.order.close")
	named(g.GET("/orders/:no/open", s.OpenPhonePay), "portal.order.open")
	named(g.POST("/orders/:no/refund", s.RequestRefund), "portal.order.refund")
	named(e.POST(payments.NotifyPathWeChat, s.WeChatNotify), "pay.notify.wechat")
	named(e.POST(payments.NotifyPathAlipay, s.AlipayNotify), "pay.notify.alipay")
	s.autoTopUpRoutes(e, g)
}

// isNotifyPath reports a channel notify endpoint (no CSRF: the channels
// sign their messages instead).
func isNotifyPath(p string) bool {
	return p == payments.NotifyPathWeChat || p == payments.NotifyPathAlipay ||
		p == payments.NotifyPathWeChatContract || p == payments.NotifyPathAlipayAgreement
}

// TopUp is the top-up page: tiers with their bonus from payments, a custom
// amount, the channel choice.
func (s *Server) TopUp(c echo.Context) error {
	v, err := s.topUpView(c, pv.TopUpForm{Tier: tierValue(s.pay.svc.Tiers()), Channel: string(payments.ChannelWeChat), Mode: defaultMode(c)})
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, pv.TopUp(v), nil)
}

// tierValue preselects the tier with a bonus, else the first.
func tierValue(tiers []payments.Quote) string {
	for _, t := range tiers {
		if t.HasBonus() {
			return strconv.FormatInt(t.AmountFen, 10)
		}
	}
	if len(tiers) > 0 {
		return strconv.FormatInt(tiers[0].AmountFen, 10)
	}
	return "custom"
}

func (s *Server) topUpView(c echo.Context, f pv.TopUpForm) (pv.TopUpView, error) {
	cu := customerOf(c)
	minFen, maxFen := s.pay.svc.Limits()
	v := pv.TopUpView{
		Frame: s.frame(c, "portal.topup"), Price: s.portal.price, Form: f,
		Min: decimal.New(minFen, -2), Max: decimal.New(maxFen, -2),
		SubAccount: cu.Account.Kind == ledger.AccountSub, OrdersURL: s.URL("portal.orders"),
	}
	for _, q := range s.pay.svc.Tiers() {
		t := pv.Tier{Value: strconv.FormatInt(q.AmountFen, 10), Amount: q.AmountYuan(), Credits: q.Credits,
			BonusPercent: q.BonusPercent, Bonus: q.BonusCredits}
		if q.HasBonus() {
			t.BonusDays = int(q.BonusValidity.Hours() / 24)
		}
		v.Tiers = append(v.Tiers, t)
	}
	for _, ch := range payChannels {
		v.Channels = append(v.Channels, pv.PayChannel{Value: string(ch), Available: s.pay.svc.Available(ch)})
		v.PhoneModes = v.PhoneModes || s.pay.svc.PhoneAvailable(ch)
	}
	ok, err := s.pay.verify.IsVerified(c.Request().Context(), cu.Account.ID)
	if err != nil {
		return v, err
	}
	v.Verified = ok
	return v, nil
}

// TopUpSubmit creates the order: an unverified account goes to the
// verification page first; a bad amount, channel or pay mode re-renders the
// form (422) with the message on its field; then the QR checkout, the
// hand-off to WeChat Pay H5 / Alipay WAP (pay mode phone), or the bank
// transfer page.
func (s *Server) TopUpSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	if stop, err := s.purchaseGate(c, "portal.topup"); stop {
		return err
	}
	f := pv.TopUpForm{Tier: strings.TrimSpace(c.FormValue("tier")), Custom: strings.TrimSpace(c.FormValue("custom")),
		Channel: strings.TrimSpace(c.FormValue("channel")), Mode: strings.TrimSpace(c.FormValue("mode"))}
	if f.Mode == "" {
		f.Mode = defaultMode(c)
	}
	amountFen, channel, err := s.readTopUp(&f)
	if err == nil {
		var o payments.Order
		switch {
		case channel == payments.ChannelBankTransfer:
			o, err = s.pay.svc.CreateTransferOrder(ctx, cu.Account.ID, amountFen)
		case f.Mode == pv.ModePhone && s.pay.svc.PhoneAvailable(channel):
			o, _, err = s.pay.svc.CreatePhoneOrder(ctx, cu.Account.ID, amountFen, channel, s.phonePayer(c))
		default:
			o, err = s.pay.svc.CreateQROrder(ctx, cu.Account.ID, amountFen, channel)
		}
		if err == nil {
			return s.toCheckout(c, o)
		}
	}
	if errors.Is(err, payments.ErrChannel) {
		s.Logger.Warn("payments: the channel refused an order", "channel", string(channel), "error", err.Error())
	}
	msgs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	f.Errors = onForm(msgs)
	if m, ok := f.Errors["amount"]; ok { // the amount is the tier or the typed one
		delete(f.Errors, "amount")
		f.Errors[amountField(f)] = m
	}
	v, err := s.topUpView(c, f)
	if err != nil {
		return err
	}
	return Render(c, status, pv.TopUp(v), nil)
}

// onForm moves the message of the whole form (field "") to the key the
// portal's forms show it under, "form".
func onForm(msgs map[string]string) map[string]string {
	if m, ok := msgs[""]; ok {
		delete(msgs, "")
		msgs["form"] = m
	}
	return msgs
}

// defaultMode preselects paying on the phone for a phone browser, scanning
// a code elsewhere.
func defaultMode(c echo.Context) string {
	if isMobile(c.Request().UserAgent()) {
		return pv.ModePhone
	}
	return pv.ModeQR
}

// phonePayer is the customer as WeChat Pay H5 and Alipay WAP need them:
// their address (ClientIP, which knows our trusted proxies) and the order
// page the channel sends them back to, as an absolute URL.
func (s *Server) phonePayer(c echo.Context) payments.PhonePayer {
	base := strings.TrimRight(s.Config.BaseURL, "/")
	if base == "" {
		base = requestScheme(c.Request(), s.Config.TrustedProxies) + "://" + c.Request().Host
	}
	return payments.PhonePayer{ClientIP: ClientIP(c), ReturnURL: func(no string) string { return base + s.URL("portal.order", no) }}
}

// OpenPhonePay sends the customer of an open phone order on to the payment
// app (again, after coming back unpaid): it places the order at the channel
// anew for a fresh WeChat Pay h5_url or a freshly signed Alipay WAP request
// (placing the same order again changes nothing at the channel, so a GET
// may) and answers a page whose link the browser follows at once. A page,
// not a redirect: the link sends our origin as Referer, which WeChat Pay
// checks against the merchant's H5 domain (our Referrer-Policy otherwise
// sends none across sites). An order that is no longer open just shows its
// page, which says why.
func (s *Server) OpenPhonePay(c echo.Context) error {
	no := c.Param("no")
	u, err := s.pay.svc.PhonePayURL(c.Request().Context(), customerOf(c).Account.ID, no, s.phonePayer(c))
	if errors.Is(err, payments.ErrInvalidArgument) {
		return c.Redirect(http.StatusSeeOther, s.URL("portal.order", no))
	}
	if err != nil {
		return err
	}
	if pu, perr := url.Parse(u); perr != nil || (pu.Scheme != "https" && pu.Scheme != "http") {
		return fmt.Errorf("web: pay URL of %s is not a web address", no)
	}
	o, err := s.order(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return Render(c, http.StatusOK, pv.PhoneHandoff(pv.PhoneHandoffView{Frame: s.frame(c, "portal.topup"), Channel: string(o.Channel),
		OrderNo: o.OrderNo, Amount: o.AmountYuan(), PayURL: u, OrderURL: s.URL("portal.order", no)}), nil)
}

// readTopUp reads the amount (a tier, or a custom amount in yuan), the
// channel and the pay mode (already defaulted by the browser); every field
// that is wrong is in the returned *fielderr.Errors.
func (s *Server) readTopUp(f *pv.TopUpForm) (int64, payments.Channel, error) {
	errs := fielderr.New("web")
	var amountFen int64
	if f.Custom != "" {
		f.Tier = "custom" // a typed amount wins over the preselected tier
	}
	switch {
	case f.Tier == "custom":
		fen, ok := parseYuan(f.Custom)
		switch {
		case f.Custom == "":
			errs.Add("custom", "topup_amount_required")
		case !ok:
			errs.Add("custom", "topup_amount_invalid")
		default:
			amountFen = fen
		}
	case f.Tier == "":
		errs.Add("tier", "topup_amount_required")
	default:
		fen, err := strconv.ParseInt(f.Tier, 10, 64)
		if err != nil || !isTier(s.pay.svc.Tiers(), fen) {
			errs.Add("tier", "topup_tier_invalid")
		}
		amountFen = fen
	}
	channel := payments.Channel(f.Channel)
	switch {
	case f.Channel == "":
		errs.Add("channel", "topup_channel_required")
	case !isPayChannel(channel):
		errs.Add("channel", "topup_channel_invalid")
	case !s.pay.svc.Available(channel):
		errs.Add("channel", "topup_channel_unavailable")
	}
	switch f.Mode {
	case pv.ModePhone, pv.ModeQR:
	default:
		errs.Add("mode", "topup_mode_invalid")
	}
	return amountFen, channel, errs.Err()
}

// topUpFieldCodes are the codes readTopUp reports, for the locale test.
var topUpFieldCodes = []string{"topup_amount_required", "topup_amount_invalid", "topup_tier_invalid",
	"topup_channel_required", "topup_channel_invalid", "topup_channel_unavailable", "topup_mode_invalid"}

// verificationURL is the verification page (built by the verification area;
// its path until the route exists).
func (s *Server) verificationURL() string {
	if u := s.URL("portal.verification"); u != "" {
		return u
	}
	return "/portal/verification"
}

func amountField(f pv.TopUpForm) string {
	if f.Tier == "custom" {
		return "custom"
	}
	return "tier"
}

func isTier(tiers []payments.Quote, fen int64) bool {
	for _, t := range tiers {
		if t.AmountFen == fen {
			return true
		}
	}
	return false
}

func isPayChannel(ch payments.Channel) bool {
	for _, c := range payChannels {
		if c == ch {
			return true
		}
	}
	return false
}

// parseYuan reads an amount in yuan with at most two decimals ("100",
// "99.5", "¥1,000.00", full-width "１００．５") as fen, through the one form
// number parser. A number outside what an order can hold is clamped just
// past it (zero or less to 0, huge to maxTypedFen) so the payments service
// answers with the allowed range rather than a format error; ok is false
// only when the text is not an amount.
func parseYuan(v string) (int64, bool) {
	v = strings.NewReplacer("¥", "", "￥", "", " ", "").Replace(v)
	d, err := format.ParseDecimal(v)
	if err != nil {
		return 0, false
	}
	fen := d.Shift(2)
	switch {
	case !fen.IsInteger():
		return 0, false
	case !fen.IsPositive():
		return 0, true
	case fen.GreaterThan(decimal.NewFromInt(maxTypedFen)):
		return maxTypedFen, true
	}
	return fen.IntPart(), true
}

// maxTypedFen is larger than any order limit, so a clamped amount is
// always refused with the range message.
const maxTypedFen int64 = 1e15 + 1

// purchaseGate is the rule every purchase starts with: a department
// (sub-account) buys nothing itself (403), and an account not yet verified
// (实名) is sent to verification, coming back to the page named back. stop
// says the handler must return err.
func (s *Server) purchaseGate(c echo.Context, back string) (stop bool, err error) {
	cu := customerOf(c)
	if cu.Account.Kind == ledger.AccountSub {
		return true, echo.ErrForbidden
	}
	ok, err := s.pay.verify.IsVerified(c.Request().Context(), cu.Account.ID)
	if err != nil {
		return true, err
	}
	if !ok {
		return true, HXRedirect(c, s.verificationURL()+"?next="+url.QueryEscape(s.URL(back)))
	}
	return false, nil
}

// payChoice reads the channel a purchase form names and how to pay: on the
// phone (H5 / WAP) when asked for and the channel offers it, else by QR code.
func (s *Server) payChoice(c echo.Context) (payments.Channel, payments.PayMode) {
	channel := payments.Channel(strings.TrimSpace(c.FormValue("channel")))
	if c.FormValue("mode") == pv.ModePhone && s.pay.svc.PhoneAvailable(channel) {
		return channel, payments.PayModePhone
	}
	return channel, payments.PayModeQR
}

// toCheckout sends the customer on to pay order o: on a phone straight to
// WeChat Pay / Alipay (they send the customer back to the order), else to
// the order's page with its QR code or bank details.
func (s *Server) toCheckout(c echo.Context, o payments.Order) error {
	if o.PayMode == payments.PayModePhone {
		return HXRedirect(c, s.URL("portal.order.open", o.OrderNo))
	}
	return HXRedirect(c, s.URL("portal.order", o.OrderNo))
}
