package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/refcode"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalBillRoutes: the credit line (授信) and its bills (账单) of the
// enterprise the user acts on, for owners and finance.
func (s *Server) portalBillRoutes(g *echo.Group) {
	named(g.GET("/bills", s.Bills), "portal.bills")
	named(g.GET("/bills/:id", s.BillPage), "portal.bill")
	named(g.POST("/bills/:id/pay", s.BillPay), "portal.bill.pay")
}

// Bills shows the credit line, what is used of it, and the bills.
func (s *Server) Bills(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	v := pv.BillsView{Frame: s.frame(c, "portal.bills")}
	line, err := s.creditLines.Line(ctx, cu.Account.PoolID)
	if errors.Is(err, creditline.ErrNoLine) {
		return Render(c, http.StatusOK, pv.Bills(v), nil)
	}
	if err != nil {
		return err
	}
	bal, err := s.portal.ledger.Balance(ctx, cu.Account.PoolID)
	if err != nil {
		return err
	}
	bills, err := s.creditLines.Bills(ctx, cu.Account.PoolID)
	if err != nil {
		return err
	}
	frozen, err := ledger.Frozen(ctx, s.pages, cu.Account.PoolID)
	if err != nil {
		return err
	}
	v.HasLine, v.Closed, v.Frozen = line.LineFen > 0, line.LineFen == 0, frozen
	v.LineYuan = decimal.New(line.LineFen, -2)
	v.Line, v.Used, v.Left, v.Own = bal.Line, bal.LineUsed(), bal.LineLeft, bal.Own()
	v.BillingDay, v.TermsDays, v.GraceDay = line.BillingDay, line.TermsDays, line.GraceDays
	for _, b := range bills {
		v.Bills = append(v.Bills, s.billRow(b))
	}
	return Render(c, http.StatusOK, pv.Bills(v), nil)
}

// BillPage shows one bill of the account with how to pay it.
func (s *Server) BillPage(c echo.Context) error {
	v, err := s.billView(c)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, pv.Bill(v), nil)
}

// BillPay makes a QR (or phone) order paying the bill for exactly its
// amount and sends the customer to the checkout of top-ups; a bill paid
// already or a channel that cannot take it re-renders the bill (422)
// saying why.
func (s *Server) BillPay(c echo.Context) error {
	id, err := billID(c)
	if err != nil {
		return err
	}
	channel, mode := s.payChoice(c)
	o, _, err := s.pay.svc.CreateBillOrder(c.Request().Context(), customerOf(c).Account.ID, id, channel, mode, s.phonePayer(c))
	if err == nil {
		return s.toCheckout(c, o)
	}
	key := ""
	switch {
	case errors.Is(err, payments.ErrBillSettled):
		key = "bills.pay.error_paid"
	case errors.Is(err, payments.ErrChannelUnavailable), errors.Is(err, payments.ErrChannel):
		key = "bills.pay.error_channel"
	default:
		return err
	}
	v, verr := s.billView(c)
	if verr != nil {
		return verr
	}
	v.Pay.Error = i18n.T(c.Request().Context(), key)
	return Render(c, http.StatusUnprocessableEntity, pv.Bill(v), nil)
}

// billID reads the bill named in the URL.
func billID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, creditline.ErrBillNotFound
	}
	return id, nil
}

// billView is the page of the bill named in the URL: QR payment is offered
// on the enterprise itself (its orders are its own), with the QR channels
// available now.
func (s *Server) billView(c echo.Context) (pv.BillView, error) {
	cu := customerOf(c)
	id, err := billID(c)
	if err != nil {
		return pv.BillView{}, err
	}
	b, err := s.creditLines.Bill(c.Request().Context(), cu.Account.PoolID, id)
	if err != nil {
		return pv.BillView{}, err
	}
	acct := s.pay.svc.BankAccount()
	v := pv.BillView{Frame: s.frame(c, "portal.bills"), Bill: s.billRow(b),
		Account:  pv.BankAccount{Name: acct.Name, Bank: acct.Bank, Branch: acct.Branch, Number: acct.Number},
		BillsURL: s.URL("portal.bills"), PayURL: s.URL("portal.bill.pay", strconv.FormatInt(b.ID, 10)),
		Pay: pv.PlanBuy{Mode: defaultMode(c)}}
	if cu.Account.ID == cu.Account.PoolID && b.Unpaid() {
		for _, ch := range payChannels {
			if ch != payments.ChannelBankTransfer && s.pay.svc.Available(ch) {
				v.Pay.Channels = append(v.Pay.Channels, pv.PayChannel{Value: string(ch), Available: true})
			}
		}
		v.Pay.Open = len(v.Pay.Channels) > 0
	}
	return v, nil
}

// billRow is the view of a bill.
func (s *Server) billRow(b creditline.Bill) pv.BillRow {
	return pv.BillRow{ID: b.ID, URL: s.URL("portal.bill", strconv.FormatInt(b.ID, 10)),
		Period: format.Date(b.PeriodStart) + " – " + format.Date(b.PeriodEnd.AddDate(0, 0, -1)),
		Amount: decimal.New(b.AmountFen, -2), Credits: b.Credits, DueAt: b.DueAt, Status: string(b.Status),
		Reference: refcode.Format(b.ReferenceCode), PaidAt: b.PaidAt}
}
