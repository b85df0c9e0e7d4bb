// Package payments holds top-up payment orders and the channels that pay them;
// channel.go is the small interface the checkout uses for WeChat Pay and Alipay.
package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// Channel names a payment channel; the value is stored with orders.
type Channel string

// Channels.
const (
	ChannelWeChat       Channel = "wechat"
	ChannelAlipay       Channel = "alipay"
	ChannelBankTransfer Channel = "bank_transfer"
)

// ChannelState is a channel's view of a payment, reduced to what the order
// state machine needs.
type ChannelState string

// Channel states.
const (
	ChannelAwaiting ChannelState = "awaiting" // created or scanned, not paid
	ChannelPaid     ChannelState = "paid"     // paid (refunds may have followed)
	ChannelClosed   ChannelState = "closed"   // closed or expired unpaid
	ChannelFailed   ChannelState = "failed"   // payment failed or revoked
	ChannelUnknown  ChannelState = "unknown"  // a state we do not map
)

// ErrChannelNoOrder: the channel knows no such order — also Alipay's answer
// for a precreated order nobody has scanned yet.
var ErrChannelNoOrder = errors.New("payments: the channel knows no such order")

// ChannelPayment is a payment as a channel reports it (query or notify).
type ChannelPayment struct {
	Channel        Channel
	OutTradeNo     string
	ChannelTradeNo string // transaction_id / trade_no
	State          ChannelState
	RawState       string // the channel's own trade_state / trade_status
	AmountFen      int64
	MerchantID     string // WeChat mchid / Alipay seller_id
	AppID          string
	PaidAt         time.Time // zero unless paid
}

// QROrder is a top-up order to show as a QR code.
type QROrder struct {
	OutTradeNo string
	AmountFen  int64
	Subject    string
	ExpiresAt  time.Time
}

// ChannelRefund asks for a refund of part of a paid order.
type ChannelRefund struct {
	OutTradeNo  string
	OutRefundNo string
	RefundFen   int64
	TotalFen    int64
	Reason      string
}

// QRChannel is what the checkout needs from WeChat Pay or Alipay.
type QRChannel interface {
	Name() Channel
	// CreateQR places the order and returns the text to render as a QR code.
	CreateQR(ctx context.Context, o QROrder) (string, error)
	// Query reports the order; ErrChannelNoOrder when the channel has none.
	Query(ctx context.Context, outTradeNo string) (ChannelPayment, error)
	// Close closes an unpaid order at the channel.
	Close(ctx context.Context, outTradeNo string) error
	// Refund asks for a refund; repeating OutRefundNo repeats the same one.
	Refund(ctx context.Context, r ChannelRefund) error
	// ParseNotify verifies a payment notify (signature, freshness) and
	// reports the payment; comparing it with our order is the caller's job.
	ParseNotify(h http.Header, body []byte) (ChannelPayment, error)
}

// PhoneOrder is a top-up order to pay in the payment app from a phone
// browser (WeChat Pay H5, Alipay WAP).
type PhoneOrder struct {
	QROrder
	// ClientIP is the customer's address (WeChat Pay's
	// scene_info.payer_client_ip).
	ClientIP string
	// ReturnURL is where the channel sends the customer afterwards, paid or
	// not: our order page, which asks for the order's state.
	ReturnURL string
}

// PhoneChannel is a channel that can also be paid from a phone browser.
type PhoneChannel interface {
	// PayURL places (or places again, for a customer who came back unpaid)
	// the order for a phone browser and returns the URL to send the
	// customer's browser to. The payment's notify is the QR one.
	PayURL(ctx context.Context, o PhoneOrder) (string, error)
}

// WeChatChannel adapts a WeChat Pay client to QRChannel and PhoneChannel.
func WeChatChannel(c *wechatpay.Client) QRChannel { return wechatChannel{c} }

type wechatChannel struct{ c *wechatpay.Client }

func (wechatChannel) Name() Channel { return ChannelWeChat }

func (w wechatChannel) CreateQR(ctx context.Context, o QROrder) (string, error) {
	return w.c.CreateNative(ctx, wechatpay.NativeOrder{OutTradeNo: o.OutTradeNo, Description: o.Subject, AmountFen: o.AmountFen, TimeExpire: o.ExpiresAt})
}

// PayURL places an H5 order and adds redirect_url to its h5_url.
func (w wechatChannel) PayURL(ctx context.Context, o PhoneOrder) (string, error) {
	u, err := w.c.CreateH5(ctx, wechatpay.H5Order{
		NativeOrder:   wechatpay.NativeOrder{OutTradeNo: o.OutTradeNo, Description: o.Subject, AmountFen: o.AmountFen, TimeExpire: o.ExpiresAt},
		PayerClientIP: o.ClientIP,
	})
	if err != nil {
		return "", err
	}
	return wechatpay.WithRedirect(u, o.ReturnURL), nil
}

func (w wechatChannel) Query(ctx context.Context, no string) (ChannelPayment, error) {
	t, err := w.c.QueryByOutTradeNo(ctx, no)
	if errors.Is(err, wechatpay.ErrOrderNotExist) {
		return ChannelPayment{}, fmt.Errorf("%w: %w", ErrChannelNoOrder, err)
	}
	if err != nil {
		return ChannelPayment{}, err
	}
	return fromWeChat(t), nil
}

func (w wechatChannel) Close(ctx context.Context, no string) error { return w.c.Close(ctx, no) }

func (w wechatChannel) Refund(ctx context.Context, r ChannelRefund) error {
	_, err := w.c.Refund(ctx, wechatpay.RefundRequest{OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, Reason: r.Reason, RefundFen: r.RefundFen, TotalFen: r.TotalFen})
	return err
}

func (w wechatChannel) ParseNotify(h http.Header, body []byte) (ChannelPayment, error) {
	t, err := w.c.ParseNotify(h, body)
	if err != nil {
		return ChannelPayment{}, err
	}
	return fromWeChat(t), nil
}

func fromWeChat(t wechatpay.Transaction) ChannelPayment {
	p := ChannelPayment{Channel: ChannelWeChat, OutTradeNo: t.OutTradeNo, ChannelTradeNo: t.TransactionID, RawState: t.TradeState,
		AmountFen: t.Amount.Total, MerchantID: t.MchID, AppID: t.AppID}
	switch t.TradeState {
	case wechatpay.StateSuccess, wechatpay.StateRefund:
		p.State = ChannelPaid
	case wechatpay.StateNotPay, wechatpay.StateUserPaying:
		p.State = ChannelAwaiting
	case wechatpay.StateClosed:
		p.State = ChannelClosed
	case wechatpay.StateRevoked, wechatpay.StatePayError:
		p.State = ChannelFailed
	default:
		p.State = ChannelUnknown
	}
	if at, ok := t.PaidAt(); ok {
		p.PaidAt = at
	}
	return p
}

// AlipayChannel adapts an Alipay client to QRChannel and PhoneChannel. sellerID, when set, is
// reported as MerchantID of queried payments (queries do not carry it).
func AlipayChannel(c *alipay.Client, sellerID string) QRChannel { return alipayChannel{c, sellerID} }

type alipayChannel struct {
	c        *alipay.Client
	sellerID string
}

func (alipayChannel) Name() Channel { return ChannelAlipay }

func (a alipayChannel) CreateQR(ctx context.Context, o QROrder) (string, error) {
	return a.c.Precreate(ctx, alipay.PrecreateOrder{OutTradeNo: o.OutTradeNo, TotalAmount: decimal.New(o.AmountFen, -2), Subject: o.Subject, Timeout: timeoutUntil(o.ExpiresAt)})
}

// PayURL signs an alipay.trade.wap.pay request; quitting the cashier also
// leads back to our order page.
func (a alipayChannel) PayURL(_ context.Context, o PhoneOrder) (string, error) {
	return a.c.WapPayURL(alipay.WapOrder{OutTradeNo: o.OutTradeNo, TotalAmount: decimal.New(o.AmountFen, -2), Subject: o.Subject,
		Timeout: timeoutUntil(o.ExpiresAt), ReturnURL: o.ReturnURL, QuitURL: o.ReturnURL})
}

// timeoutUntil is the time left until expiresAt, at least a minute (zero
// for no expiry).
func timeoutUntil(expiresAt time.Time) time.Duration {
	if expiresAt.IsZero() {
		return 0
	}
	return max(time.Minute, time.Until(expiresAt))
}

func (a alipayChannel) Query(ctx context.Context, no string) (ChannelPayment, error) {
	t, err := a.c.Query(ctx, no)
	if errors.Is(err, alipay.ErrTradeNotExist) {
		return ChannelPayment{}, fmt.Errorf("%w: %w", ErrChannelNoOrder, err)
	}
	if err != nil {
		return ChannelPayment{}, err
	}
	fen, err := toFen(t.TotalAmount)
	if err != nil {
		return ChannelPayment{}, err
	}
	p := ChannelPayment{Channel: ChannelAlipay, OutTradeNo: t.OutTradeNo, ChannelTradeNo: t.TradeNo, RawState: t.TradeStatus,
		State: alipayState(t.TradeStatus, t.SendPayDate != ""), AmountFen: fen, MerchantID: a.sellerID, AppID: a.c.AppID}
	if t.SendPayDate != "" {
		p.PaidAt, _ = time.ParseInLocation(alipay.TimeLayout, t.SendPayDate, alipay.ChinaTime)
	}
	return p, nil
}

func (a alipayChannel) Close(ctx context.Context, no string) error { return a.c.Close(ctx, no) }

func (a alipayChannel) Refund(ctx context.Context, r ChannelRefund) error {
	_, err := a.c.Refund(ctx, alipay.RefundRequest{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRefundNo, RefundAmount: decimal.New(r.RefundFen, -2), Reason: r.Reason})
	return err
}

// ParseNotify takes the raw form body of an Alipay notify.
func (a alipayChannel) ParseNotify(_ http.Header, body []byte) (ChannelPayment, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ChannelPayment{}, fmt.Errorf("%w: %w", alipay.ErrMalformed, err)
	}
	n, err := a.c.ParseNotify(form)
	if err != nil {
		return ChannelPayment{}, err
	}
	fen, err := toFen(n.TotalAmount)
	if err != nil {
		return ChannelPayment{}, err
	}
	return ChannelPayment{Channel: ChannelAlipay, OutTradeNo: n.OutTradeNo, ChannelTradeNo: n.TradeNo, RawState: n.TradeStatus,
		State: alipayState(n.TradeStatus, !n.GmtPayment.IsZero()), AmountFen: fen, MerchantID: n.SellerID, AppID: n.AppID, PaidAt: n.GmtPayment}, nil
}

// alipayState maps trade_status; a TRADE_CLOSED trade that had been paid was
// fully refunded, so it stays paid for our order.
func alipayState(status string, wasPaid bool) ChannelState {
	switch status {
	case alipay.TradeSuccess, alipay.TradeFinished:
		return ChannelPaid
	case alipay.TradeWaitBuyerPay:
		return ChannelAwaiting
	case alipay.TradeClosed:
		if wasPaid {
			return ChannelPaid
		}
		return ChannelClosed
	}
	return ChannelUnknown
}

// toFen converts yuan to whole fen, refusing fractions of a fen.
func toFen(yuan decimal.Decimal) (int64, error) {
	f := yuan.Shift(2)
	if !f.IsInteger() {
		return 0, fmt.Errorf("payments: amount %s is not whole fen", yuan)
	}
	return f.IntPart(), nil
}
