package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/payments"
	pv "github.com/seed75218f88/credits/views/portal"
)

// Orders lists the customer's top-up orders, newest first, with their
// states and refunded amounts, then the refund section (portal_refund.go).
func (s *Server) Orders(c echo.Context) error {
	v, err := s.ordersView(c, pv.RefundForm{})
	if err != nil {
		return err
	}
	if c.QueryParam("refund") == "requested" {
		v.Flash = tr(c, "alert.refund_requested")
	}
	return Render(c, http.StatusOK, pv.Orders(v), nil)
}

// ordersView builds the orders page; form is the refund form just
// submitted (its values and errors go back to its order's offer).
func (s *Server) ordersView(c echo.Context, form pv.RefundForm) (pv.OrdersView, error) {
	cu := customerOf(c)
	orders, err := s.pay.svc.Orders(c.Request().Context(), cu.Account.ID, 100)
	if err != nil {
		return pv.OrdersView{}, err
	}
	v := pv.OrdersView{Frame: s.frame(c, "portal.orders"), TopUpURL: s.URL("portal.topup")}
	for _, o := range orders {
		row := pv.OrderRow{OrderNo: o.OrderNo, Channel: paidBy(o), State: string(o.State),
			Amount: o.AmountYuan(), Refunded: decimal.New(o.RefundedFen, -2), Reference: o.ReferenceDisplay(),
			Serial: o.StatementSerial, Payer: o.PayerName, CreatedAt: o.CreatedAt, PaidAt: o.PaidAt, URL: s.URL("portal.order", o.OrderNo)}
		if o.PaidAt != nil {
			row.ReceiptURL = s.URL("portal.order.receipt", o.OrderNo)
		}
		if row.Plan, err = s.planLabel(c, o); err != nil {
			return v, err
		}
		if row.Product, err = s.productLabel(c, o); err != nil {
			return v, err
		}
		if o.Purpose == payments.PurposeBill {
			row.BillURL = s.URL("portal.bill", strconv.FormatInt(o.BillID, 10))
		}
		v.Orders = append(v.Orders, row)
	}
	if err := s.refundSection(c, orders, form, &v); err != nil {
		return pv.OrdersView{}, err
	}
	return v, nil
}

// paidBy is how an order was paid, as its label's key suffix
// (pay.channel.*): its channel, or bank_line (银行转账 / Bank transfer) for
// a transfer finance credited from the bank statement.
func paidBy(o payments.Order) string {
	if o.FromStatement() {
		return "bank_line"
	}
	return string(o.Channel)
}

// order reads the customer's order named in the URL; another account's
// order is not found.
func (s *Server) order(c echo.Context) (payments.Order, error) {
	return s.pay.svc.Order(c.Request().Context(), customerOf(c).Account.ID, c.Param("no"))
}

// OrderPage is an order's page: the QR checkout, or the bank transfer
// instructions.
func (s *Server) OrderPage(c echo.Context) error {
	o, err := s.order(c)
	if err != nil {
		return err
	}
	if o.FromStatement() && o.PaidAt != nil {
		return Render(c, http.StatusOK, pv.ReceivedTransfer(pv.ReceivedTransferView{
			Frame: s.frame(c, "portal.orders"), OrderNo: o.OrderNo, State: string(o.State), Amount: o.AmountYuan(),
			Refunded: decimal.New(o.RefundedFen, -2), Credits: o.Credits, Serial: o.StatementSerial, PayerName: o.PayerName,
			PayerAccount: identity.MaskBankAccount(o.PayerAccount), PaidAt: *o.PaidAt, OrdersURL: s.URL("portal.orders"),
		}), nil)
	}
	if o.Channel == payments.ChannelBankTransfer {
		b := s.pay.svc.BankAccount()
		plan, err := s.planLabel(c, o)
		if err != nil {
			return err
		}
		product, err := s.productLabel(c, o)
		if err != nil {
			return err
		}
		return Render(c, http.StatusOK, pv.Transfer(pv.TransferView{
			Plan: plan, Product: product,
			Frame: s.frame(c, "portal.topup"), OrderNo: o.OrderNo, State: string(o.State),
			Amount: o.AmountYuan(), Credits: o.Credits, Bonus: o.BonusCredits, Reference: o.ReferenceDisplay(),
			ExpiresAt: o.ExpiresAt, CreatedAt: o.CreatedAt, OrdersURL: s.URL("portal.orders"),
			Account: pv.BankAccount{Name: b.Name, Bank: b.Bank, Branch: b.Branch, Number: b.Number},
		}), nil)
	}
	st, err := s.orderStatus(c, o)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, pv.Checkout(pv.CheckoutView{Frame: s.frame(c, "portal.topup"), Status: st}), nil)
}

// OrderStatus is the checkout region htmx polls: the QR code while the
// order is open, the new balance once it is paid, or why it is not.
func (s *Server) OrderStatus(c echo.Context) error {
	o, err := s.order(c)
	if err != nil {
		return err
	}
	st, err := s.orderStatus(c, o)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return Render(c, http.StatusOK, pv.Checkout(pv.CheckoutView{Frame: s.frame(c, "portal.topup"), Status: st}), pv.CheckoutStatus(st))
}

func (s *Server) orderStatus(c echo.Context, o payments.Order) (pv.OrderStatus, error) {
	now := time.Now()
	st := pv.OrderStatus{
		OrderNo: o.OrderNo, Channel: string(o.Channel), State: string(o.State), Amount: o.AmountYuan(),
		Credits: o.Credits, Bonus: o.BonusCredits, ExpiresAt: o.ExpiresAt, Expired: o.Expired(now),
		QRURL: s.URL("portal.order.qr", o.OrderNo), StatusURL: s.URL("portal.order.status", o.OrderNo),
		CloseURL: s.URL("portal.order.close", o.OrderNo), TopUpURL: s.URL("portal.topup"),
		Mobile: isMobile(c.Request().UserAgent()), Phone: o.PayMode == payments.PayModePhone,
		PayURL: s.URL("portal.order.open", o.OrderNo),
	}
	if appLink(o.QRCode) {
		st.CodeURL = o.QRCode
	}
	if o.IsPlan() {
		st.Plan, st.PlansURL, st.TopUpURL = true, s.URL("portal.plans"), s.URL("portal.plans")
		st.Upgrade = o.Purpose == payments.PurposePlanUpgrade
	}
	if o.Purpose == payments.PurposeProduct {
		name, err := s.productLabel(c, o)
		if err != nil {
			return st, err
		}
		st.Product, st.ProductsURL, st.TopUpURL = name, s.URL("portal.products"), s.URL("portal.products")
	}
	if o.Purpose == payments.PurposeBill {
		st.BillURL = s.URL("portal.bill", strconv.FormatInt(o.BillID, 10))
		st.TopUpURL = st.BillURL
	}
	if o.State.Open() && !st.Expired {
		st.Remaining = countdown(o.ExpiresAt.Sub(now))
	}
	if o.State.Paid() {
		bal, err := s.pay.ledger.Balance(c.Request().Context(), o.AccountID)
		if err != nil {
			return st, err
		}
		st.Balance = bal.Available
	}
	return st, nil
}

// OrderQR draws the open order's code (WeChat code_url, Alipay qr_code) as
// a PNG; settled orders have none.
func (s *Server) OrderQR(c echo.Context) error {
	o, err := s.order(c)
	if err != nil {
		return err
	}
	if o.QRCode == "" || !o.State.Open() {
		return echo.ErrNotFound
	}
	png, err := qrcode.Encode(o.QRCode, qrcode.Medium, 256)
	if err != nil {
		return fmt.Errorf("web: qr code of %s: %w", o.OrderNo, err)
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=900")
	return c.Blob(http.StatusOK, "image/png", png)
}

// CloseOrder cancels the customer's open order (at the channel first) and
// shows it again.
func (s *Server) CloseOrder(c echo.Context) error {
	o, err := s.pay.svc.CloseOrder(c.Request().Context(), customerOf(c).Account.ID, c.Param("no"))
	if err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.order", o.OrderNo))
}

// countdown formats the time left as m:ss, never below 0:00.
func countdown(d time.Duration) string {
	secs := max(int64(d.Round(time.Second)/time.Second), 0)
	return fmt.Sprintf("%d:%02d", secs/60, secs%60)
}

// isMobile reports a phone or tablet browser, which gets a link that opens
// the payment app instead of a code to scan with itself.
func isMobile(ua string) bool {
	for _, k := range []string{"Mobile", "Android", "iPhone", "iPad"} {
		if strings.Contains(ua, k) {
			return true
		}
	}
	return false
}

// appLink reports a code whose content can be followed as a link: the
// sandbox's https page, WeChat Pay's weixin://wxpay/bizpayurl?pr=… (which
// WeChat opens; other browsers may refuse the scheme) and Alipay's
// https://qr.alipay.com/… (which opens the Alipay app).
func appLink(code string) bool {
	u, err := url.Parse(code)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https", "weixin", "alipays":
		return true
	}
	return false
}

// OrderReceipt sends the receipt (收据) PDF of a paid order. The payee is
// our company as configured for invoices, else the platform's name.
func (s *Server) OrderReceipt(c echo.Context) error {
	cu := customerOf(c)
	issuer := s.kyc.invoicing.SellerName()
	if issuer == "" {
		issuer = tr(c, "app.name")
	}
	payer := cu.Account.Name
	if payer == "" {
		payer = cu.User.Name
	}
	if payer == "" {
		payer = cu.User.Email + cu.User.Phone
	}
	pdf, err := s.pay.svc.ReceiptPDF(c.Request().Context(), cu.Account.ID, c.Param("no"), issuer, payer)
	if err != nil {
		return err
	}
	return sendPDF(c, "receipt-"+c.Param("no")+".pdf", pdf)
}
