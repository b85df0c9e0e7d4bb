package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalInvoiceRoutes registers the customer's invoice pages: requests and
// their PDFs, and the saved buyer titles.
func (s *Server) portalInvoiceRoutes(g *echo.Group) {
	named(g.GET("/invoices", s.Invoices), "portal.invoices")
	named(g.POST("/invoices", s.RequestInvoice), "portal.invoices.request")
	named(g.GET("/invoices/:id/pdf", s.InvoicePDF), "portal.invoice.pdf")
	named(g.POST("/invoices/:id/cancel", s.CancelInvoice), "portal.invoice.cancel")
	named(g.GET("/invoices/titles", s.InvoiceTitles), "portal.invoice.titles")
	named(g.POST("/invoices/titles", s.CreateInvoiceTitle), "portal.invoice.titles.create")
	named(g.GET("/invoices/titles/:id", s.InvoiceTitle), "portal.invoice.title")
	named(g.POST("/invoices/titles/:id", s.UpdateInvoiceTitle), "portal.invoice.title.update")
	named(g.POST("/invoices/titles/:id/delete", s.DeleteInvoiceTitle), "portal.invoice.title.delete")
}

// Invoices shows the request form over the paid top-ups, and the account's
// invoices with their states and PDFs.
func (s *Server) Invoices(c echo.Context) error {
	v, err := s.invoicesView(c)
	if err != nil {
		return err
	}
	v.Form.Email = customerOf(c).User.Email
	v.Form.Kind = string(invoicing.KindOrdinary)
	if len(v.Titles) > 0 {
		v.Form.TitleID = strconv.FormatInt(v.Titles[0].ID, 10)
	}
	v.Requested = c.QueryParam("requested") != ""
	return Render(c, http.StatusOK, pv.Invoices(v), nil)
}

// RequestInvoice asks for an invoice over the chosen top-ups.
func (s *Server) RequestInvoice(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	form, items, badItems := invoiceRequestForm(c)
	r := invoicing.Request{Kind: invoicing.Kind(form.Kind), Email: form.Email, Items: items, Month: form.Month,
		RequestedBy: "user:" + strconv.FormatInt(cu.User.ID, 10)}
	if form.MonthAmount != "" {
		fen, ok := parseFen(form.MonthAmount)
		badItems = badItems || !ok
		r.AmountFen = fen
	}
	if form.Bill != "" {
		// A bill chosen: the request is of the bill alone.
		id, err := strconv.ParseInt(form.Bill, 10, 64)
		badItems = badItems || err != nil || id <= 0
		r.BillID, r.Items, r.Month, r.AmountFen = id, nil, "", 0
		if form.BillAmount != "" {
			fen, ok := parseFen(form.BillAmount)
			badItems = badItems || !ok
			r.AmountFen = fen
		}
	}
	if form.TitleID != "" && form.TitleID != "new" {
		id, err := strconv.ParseInt(form.TitleID, 10, 64)
		if err != nil || id <= 0 {
			return echo.ErrBadRequest
		}
		r.TitleID = id
	} else {
		t := titleInput(form.Title)
		r.Title = &t
	}
	if badItems {
		// Unreadable amounts: the rest is still checked (without items
		// the request cannot be recorded), so every message shows at once.
		r.Items, r.Month, r.BillID = nil, "", 0
	}
	_, err := s.kyc.invoicing.RequestInvoice(ctx, cu.Account.ID, r)
	if badItems {
		errs := fielderr.New("invoicing").Add("items", invoicing.CodeInvalid)
		if errs.Merge(err) || err == nil {
			err = errs
		}
	}
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v, verr := s.invoicesView(c)
		if verr != nil {
			return verr
		}
		v.Form, v.Errors, v.FormError = form, errs, tr(c, s.LookupError(err).Key)
		return Render(c, status, pv.Invoices(v), nil)
	}
	if form.SaveTitle && r.Title != nil {
		if _, err := s.kyc.invoicing.SaveTitle(ctx, cu.Account.ID, 0, *r.Title); err != nil {
			return err
		}
	}
	return HXRedirect(c, s.URL("portal.invoices")+"?requested=1")
}

// InvoicePDF sends the PDF of one of the account's issued invoices.
func (s *Server) InvoicePDF(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	pdf, err := s.kyc.invoicing.PDF(c.Request().Context(), customerOf(c).Account.ID, id)
	if err != nil {
		return err
	}
	return sendPDF(c, fmt.Sprintf("invoice-%d.pdf", id), pdf)
}

// CancelInvoice withdraws the account's own requested invoice.
func (s *Server) CancelInvoice(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	cu := customerOf(c)
	if _, err := s.kyc.invoicing.Cancel(c.Request().Context(), cu.Account.ID, id, "user:"+strconv.FormatInt(cu.User.ID, 10)); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.invoices"))
}

// InvoiceTitles lists the saved buyer titles with a form for a new one.
func (s *Server) InvoiceTitles(c echo.Context) error {
	v, err := s.titlesView(c)
	if err != nil {
		return err
	}
	v.Form.Type = string(invoicing.TitleCompany)
	return Render(c, http.StatusOK, pv.InvoiceTitles(v), nil)
}

// CreateInvoiceTitle saves a new buyer title.
func (s *Server) CreateInvoiceTitle(c echo.Context) error {
	return s.saveTitle(c, 0)
}

// InvoiceTitle is the edit form of one saved title.
func (s *Server) InvoiceTitle(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	v, err := s.titlesView(c)
	if err != nil {
		return err
	}
	for _, t := range v.Titles {
		if t.ID == id {
			v.EditID, v.Form = id, t.TitleForm
			return Render(c, http.StatusOK, pv.InvoiceTitles(v), nil)
		}
	}
	return invoicing.ErrNotFound
}

// UpdateInvoiceTitle replaces a saved title.
func (s *Server) UpdateInvoiceTitle(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	return s.saveTitle(c, id)
}

// DeleteInvoiceTitle deletes a saved title; invoices keep their copy.
func (s *Server) DeleteInvoiceTitle(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.kyc.invoicing.DeleteTitle(c.Request().Context(), customerOf(c).Account.ID, id); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.invoice.titles"))
}

func (s *Server) saveTitle(c echo.Context, id int64) error {
	ctx := c.Request().Context()
	form := titleForm(c)
	_, err := s.kyc.invoicing.SaveTitle(ctx, customerOf(c).Account.ID, id, titleInput(form))
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v, verr := s.titlesView(c)
		if verr != nil {
			return verr
		}
		v.EditID, v.Form, v.Errors, v.FormError = id, form, errs, tr(c, s.LookupError(err).Key)
		return Render(c, status, pv.InvoiceTitles(v), nil)
	}
	return HXRedirect(c, s.URL("portal.invoice.titles"))
}

func (s *Server) invoicesView(c echo.Context) (pv.InvoicesView, error) {
	ctx := c.Request().Context()
	acct := customerOf(c).Account.ID
	v := pv.InvoicesView{Frame: s.frame(c, "portal.invoices")}
	basis, err := s.kyc.invoicing.AccountBasis(ctx, acct)
	if err != nil {
		return v, err
	}
	v.Basis = string(basis.Current)
	if basis.Next != nil {
		v.NextBasis, v.NextFrom = string(basis.Next.Basis), &basis.Next.EffectiveFrom
	}
	months, err := s.kyc.invoicing.InvoiceableMonths(ctx, acct)
	if err != nil {
		return v, err
	}
	for _, m := range months {
		v.Months = append(v.Months, pv.InvoiceableMonthRow{Month: m.Label(), Consumed: fenDecimal(m.ConsumedFen),
			Invoiced: fenDecimal(m.InvoicedFen), Available: fenDecimal(m.AvailableFen)})
	}
	bills, err := s.kyc.invoicing.InvoiceableBills(ctx, acct)
	if err != nil {
		return v, err
	}
	for _, b := range bills {
		v.Bills = append(v.Bills, pv.InvoiceableBillRow{ID: b.ID, Reference: b.ReferenceCode, PeriodStart: b.PeriodStart, PeriodEnd: b.PeriodEnd,
			Amount: fenDecimal(b.AmountFen), Invoiced: fenDecimal(b.InvoicedFen), Available: fenDecimal(b.AvailableFen)})
	}
	tops, err := s.kyc.invoicing.Invoiceable(ctx, acct)
	if err != nil {
		return v, err
	}
	for _, t := range tops {
		v.TopUps = append(v.TopUps, pv.InvoiceableRow{OrderID: t.OrderID, OrderNo: t.OrderNo, PaidAt: t.PaidAt,
			Amount: fenDecimal(t.AmountFen), Refunded: fenDecimal(t.RefundedFen), Invoiced: fenDecimal(t.InvoicedFen), Issued: fenDecimal(t.IssuedFen), Available: fenDecimal(t.AvailableFen)})
	}
	titles, err := s.kyc.invoicing.Titles(ctx, acct)
	if err != nil {
		return v, err
	}
	for _, t := range titles {
		v.Titles = append(v.Titles, titleRow(t))
	}
	invs, err := s.kyc.invoicing.ForAccount(ctx, acct)
	if err != nil {
		return v, err
	}
	for _, inv := range invs {
		v.Invoices = append(v.Invoices, s.invoiceRow(ctx, inv))
	}
	return v, nil
}

func (s *Server) titlesView(c echo.Context) (pv.InvoiceTitlesView, error) {
	ctx := c.Request().Context()
	v := pv.InvoiceTitlesView{Frame: s.frame(c, "portal.invoices")}
	titles, err := s.kyc.invoicing.Titles(ctx, customerOf(c).Account.ID)
	if err != nil {
		return v, err
	}
	for _, t := range titles {
		v.Titles = append(v.Titles, titleRow(t))
	}
	return v, nil
}

// invoiceRow is an invoice as the portal and back office list it.
func (s *Server) invoiceRow(ctx context.Context, inv invoicing.Invoice) pv.InvoiceRow {
	r := pv.InvoiceRow{ID: inv.ID, AccountID: inv.AccountID, Kind: string(inv.Kind), State: string(inv.State), Amount: fenDecimal(inv.AmountFen),
		Buyer: titleFormOf(inv.Buyer), Email: inv.Email, Number: inv.Number, IssuedOn: inv.IssuedOn, PDFSource: inv.PDFSource, HasPDF: inv.HasPDF,
		Reason: s.reasonText(ctx, "error.invoicing.", inv.Reason), RequestedAt: inv.RequestedAt, IssuedAt: inv.IssuedAt, IssuedBy: inv.IssuedBy,
		ClosedAt: inv.ClosedAt, ClosedBy: inv.ClosedBy, ReissueOf: inv.ReissueOf, ReissuedAs: inv.ReissuedAs, Month: inv.Month, BillID: inv.BillID}
	for _, it := range inv.Items {
		r.Items = append(r.Items, pv.InvoiceItem{OrderID: it.OrderID, OrderNo: it.OrderNo, Amount: fenDecimal(it.AmountFen)})
	}
	return r
}

func invoiceRequestForm(c echo.Context) (form pv.InvoiceRequestForm, items []invoicing.ItemRequest, bad bool) {
	form = pv.InvoiceRequestForm{Kind: c.FormValue("kind"), TitleID: c.FormValue("title_id"), Email: strings.TrimSpace(c.FormValue("email")),
		Title: titleForm(c), SaveTitle: c.FormValue("save_title") != "", Orders: map[int64]bool{}, Amounts: map[int64]string{},
		Month: strings.TrimSpace(c.FormValue("month")), MonthAmount: strings.TrimSpace(c.FormValue("month_amount")),
		Bill: strings.TrimSpace(c.FormValue("bill")), BillAmount: strings.TrimSpace(c.FormValue("bill_amount"))}
	params, _ := c.FormParams()
	for _, o := range params["order"] {
		id, err := strconv.ParseInt(o, 10, 64)
		if err != nil || id <= 0 {
			bad = true
			continue
		}
		form.Orders[id] = true
		it := invoicing.ItemRequest{OrderID: id}
		if a := strings.TrimSpace(c.FormValue("amount_" + o)); a != "" {
			form.Amounts[id] = a
			fen, ok := parseFen(a)
			if !ok {
				bad = true
				continue
			}
			it.AmountFen = fen
		}
		items = append(items, it)
	}
	return form, items, bad
}

// parseFen reads a positive yuan amount with at most two decimals.
func parseFen(s string) (int64, bool) {
	d, err := format.ParseDecimal(strings.TrimLeft(strings.TrimSpace(s), "¥￥"))
	if err != nil || !d.IsPositive() || !d.Equal(d.Round(2)) {
		return 0, false
	}
	return d.Shift(2).IntPart(), true
}

func titleForm(c echo.Context) pv.TitleForm {
	f := func(k string) string { return strings.TrimSpace(c.FormValue("title." + k)) }
	return pv.TitleForm{Type: f("type"), Name: f("name"), TaxID: f("tax_id"), Address: f("address"), Phone: f("phone"), BankName: f("bank_name"), BankAccount: f("bank_account")}
}

func titleInput(f pv.TitleForm) invoicing.TitleInput {
	return invoicing.TitleInput{Type: invoicing.TitleType(f.Type), Name: f.Name, TaxID: f.TaxID, Address: f.Address, Phone: f.Phone, BankName: f.BankName, BankAccount: f.BankAccount}
}

func titleFormOf(t invoicing.TitleInput) pv.TitleForm {
	return pv.TitleForm{Type: string(t.Type), Name: t.Name, TaxID: t.TaxID, Address: t.Address, Phone: t.Phone, BankName: t.BankName, BankAccount: t.BankAccount}
}

func titleRow(t invoicing.Title) pv.TitleRow {
	return pv.TitleRow{ID: t.ID, TitleForm: titleFormOf(t.TitleInput)}
}

// fenDecimal is an amount in fen as yuan.
func fenDecimal(fen int64) decimal.Decimal { return decimal.New(fen, -2) }

// sendPDF answers with a PDF download.
func sendPDF(c echo.Context, filename string, pdf []byte) error {
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	return c.Blob(http.StatusOK, "application/pdf", pdf)
}
