package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/refcode"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminCreditLineRoutes: finance grants an enterprise's credit line (授信)
// and records a bill paid by a matched transfer, on the customer page.
func (s *Server) adminCreditLineRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodPost, "/customers/:id/credit-line", "admin.customer.credit_line", s.AdminSetCreditLine, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/customers/:id/bills/:bill/paid", "admin.customer.bill_paid", s.AdminBillPaid, auth.RoleFinance)
}

// customerCredit adds the credit line panel of an enterprise to v.
func (s *Server) customerCredit(c echo.Context, acc ledger.Account, v *adminview.CustomerView) error {
	if acc.Kind != ledger.AccountEnterprise {
		return nil
	}
	ctx := c.Request().Context()
	p := &adminview.CustomerCredit{CanEdit: auth.HasAnyRole(staffFrom(c), auth.RoleFinance),
		LimitYuan: decimal.New(s.admin.bo.CreditLineLimitFen(), -2)}
	line, err := s.creditLines.Line(ctx, acc.ID)
	switch {
	case errors.Is(err, creditline.ErrNoLine):
		p.Form = adminview.CreditLineForm{BillingDay: "1", TermsDays: "15", GraceDays: "7"}
	case err != nil:
		return err
	default:
		u, err := s.creditLines.Usage(ctx, acc.ID)
		if err != nil {
			return err
		}
		p.HasLine, p.Closed, p.LineYuan, p.Used, p.Line = true, line.LineFen == 0, decimal.New(line.LineFen, -2), u.Used(), u.Line
		p.Terms = i18n.Tf(ctx, "bills.terms", map[string]int{"Day": line.BillingDay, "Terms": line.TermsDays, "Grace": line.GraceDays})
		p.Form = adminview.CreditLineForm{Line: decimal.New(line.LineFen, -2).StringFixed(2), BillingDay: strconv.Itoa(line.BillingDay),
			TermsDays: strconv.Itoa(line.TermsDays), GraceDays: strconv.Itoa(line.GraceDays)}
	}
	bills, err := s.creditLines.Bills(ctx, acc.ID)
	if err != nil {
		return err
	}
	for _, b := range bills {
		row := adminview.CreditBillRow{ID: b.ID, Period: format.Date(b.PeriodStart) + " – " + format.Date(b.PeriodEnd.AddDate(0, 0, -1)),
			Amount: decimal.New(b.AmountFen, -2), DueAt: b.DueAt, Status: string(b.Status), Reference: refcode.Format(b.ReferenceCode)}
		if b.Unpaid() {
			row.PayURL = s.URL("admin.customer.bill_paid", acc.ID, b.ID)
		}
		p.Bills = append(p.Bills, row)
	}
	v.Credit = p
	return nil
}

// orderBillLink names the bill a bill payment order of accountID pays and
// links to its row in the customer page's credit line bills; zero when
// the order pays no bill (b nil).
func (s *Server) orderBillLink(accountID int64, b *backoffice.OrderBill) adminview.OrderBillLink {
	if b == nil {
		return adminview.OrderBillLink{}
	}
	return adminview.OrderBillLink{Period: creditline.PeriodName(b.PeriodStart, b.PeriodEnd),
		URL: s.URL("admin.customer", accountID) + "#credit-bill-" + strconv.FormatInt(b.ID, 10)}
}

// AdminSetCreditLine grants or changes the enterprise's credit line; above
// the limit it waits for a second finance user. Every field error at once.
func (s *Server) AdminSetCreditLine(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	f := adminview.CreditLineForm{Line: strings.TrimSpace(c.FormValue("line")), BillingDay: strings.TrimSpace(c.FormValue("billing_day")),
		TermsDays: strings.TrimSpace(c.FormValue("terms_days")), GraceDays: strings.TrimSpace(c.FormValue("grace_days")),
		Reason: strings.TrimSpace(c.FormValue("reason"))}
	sp := creditline.Spec{AccountID: v.AccountID, LineFen: -1, BillingDay: -1, TermsDays: -1, GraceDays: -1}
	if d, err := format.ParseDecimal(f.Line); err == nil && d.Equal(d.Round(2)) {
		sp.LineFen = d.Shift(2).IntPart()
	}
	for _, x := range []struct {
		in  string
		out *int
	}{{f.BillingDay, &sp.BillingDay}, {f.TermsDays, &sp.TermsDays}, {f.GraceDays, &sp.GraceDays}} {
		if n, err := strconv.Atoi(x.in); err == nil {
			*x.out = n
		}
	}
	fe := fielderr.New("creditline")
	fe.Merge(sp.CheckFor(v.Credit != nil && v.Credit.HasLine))
	if f.Reason == "" {
		fe.Add("reason", "reason_required")
	}
	if err := fe.Err(); err == nil {
		res, err := s.admin.bo.SetCreditLine(c.Request().Context(), sp, f.Reason, actor(c))
		if err == nil {
			done := "credit_line"
			if res.Pending {
				done = "credit_line_pending"
			}
			return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done="+done)
		}
		f.Errors = adminview.Errors{"": tr(c, s.LookupError(err).Key)}
		if msgs, _, ok := s.fieldErrors(c, err); ok {
			f.Errors = msgs
		} else if !isFormError(err) {
			return err
		}
	} else {
		f.Errors, _, _ = s.fieldErrors(c, err)
	}
	if v.Credit != nil {
		v.Credit.Form = f
	}
	return Render(c, http.StatusUnprocessableEntity, adminview.Customer(v), nil)
}

// isFormError reports whether err is a refusal shown on the form rather
// than an error page.
func isFormError(err error) bool {
	return errors.Is(err, ledger.ErrCreditLineInUse) || errors.Is(err, backoffice.ErrApprovalPending) ||
		errors.Is(err, creditline.ErrNotEnterprise)
}

// AdminBillPaid records a bill paid by a transfer finance matched (the
// statement line or note in ref).
func (s *Server) AdminBillPaid(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("bill"), 10, 64)
	if err != nil {
		return creditline.ErrBillNotFound
	}
	b, err := s.creditLines.Bill(c.Request().Context(), v.AccountID, id)
	if err != nil {
		return err
	}
	ref := strings.TrimSpace(c.FormValue("ref"))
	if ref != "" {
		if _, err = s.admin.bo.MarkBillPaid(c.Request().Context(), b.ID, ref, actor(c)); err == nil {
			return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done=bill_paid")
		}
		if !errors.Is(err, creditline.ErrBillPaid) {
			return err
		}
	}
	msg := i18n.T(c.Request().Context(), "error.field.reason_required")
	if err != nil {
		msg = tr(c, s.LookupError(err).Key)
	}
	if v.Credit != nil {
		for i := range v.Credit.Bills {
			if v.Credit.Bills[i].ID == b.ID {
				v.Credit.Bills[i].PayError = msg
			}
		}
	}
	return Render(c, http.StatusUnprocessableEntity, adminview.Customer(v), nil)
}
