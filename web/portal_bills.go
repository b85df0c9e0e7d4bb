package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/refcode"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalBillRoutes: the credit line (授信) and its bills (账单) of the
// enterprise the user acts on, for owners and finance.
func (s *Server) portalBillRoutes(g *echo.Group) {
	named(g.GET("/bills", s.Bills), "portal.bills")
	named(g.GET("/bills/:id", s.BillPage), "portal.bill")
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
	frozen, err := ledger.Frozen(ctx, s.Pool, cu.Account.PoolID)
	if err != nil {
		return err
	}
	v.HasLine, v.Frozen = true, frozen
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
	cu := customerOf(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return creditline.ErrBillNotFound
	}
	b, err := s.creditLines.Bill(c.Request().Context(), cu.Account.PoolID, id)
	if err != nil {
		return err
	}
	acct := s.pay.svc.BankAccount()
	return Render(c, http.StatusOK, pv.Bill(pv.BillView{Frame: s.frame(c, "portal.bills"), Bill: s.billRow(b),
		Account:  pv.BankAccount{Name: acct.Name, Bank: acct.Bank, Branch: acct.Branch, Number: acct.Number},
		BillsURL: s.URL("portal.bills")}), nil)
}

// billRow is the view of a bill.
func (s *Server) billRow(b creditline.Bill) pv.BillRow {
	return pv.BillRow{ID: b.ID, URL: s.URL("portal.bill", strconv.FormatInt(b.ID, 10)),
		Period: format.Date(b.PeriodStart) + " – " + format.Date(b.PeriodEnd.AddDate(0, 0, -1)),
		Amount: decimal.New(b.AmountFen, -2), Credits: b.Credits, DueAt: b.DueAt, Status: string(b.Status),
		Reference: refcode.Format(b.ReferenceCode), PaidAt: b.PaidAt}
}
