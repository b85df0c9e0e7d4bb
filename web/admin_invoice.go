package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/platform/format"
	adminview "github.com/seed75218f88/credits/views/admin"
	"github.com/seed75218f88/credits/views/components"
)

// maxInvoicePDFRead bounds how much of an uploaded invoice PDF is read; the
// invoicing service applies its own limit.
const maxInvoicePDFRead = 16 << 20

// adminInvoiceRoutes registers finance's invoice queue and its actions.
func (s *Server) adminInvoiceRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/invoices", "admin.invoices", s.AdminInvoiceQueue, invoiceRoles...)
	s.adminRoute(g, http.MethodGet, "/invoices/detail", "admin.invoice.detail", s.AdminInvoiceDetail, invoiceRoles...)
	s.adminRoute(g, http.MethodGet, "/invoices/pdf", "admin.invoice.pdf", s.AdminInvoicePDF, invoiceRoles...)
	s.adminRoute(g, http.MethodPost, "/invoices/issue", "admin.invoice.issue", s.AdminInvoiceIssue, invoiceRoles...)
	s.adminRoute(g, http.MethodPost, "/invoices/reject", "admin.invoice.reject", s.AdminInvoiceReject, invoiceRoles...)
	s.adminRoute(g, http.MethodPost, "/invoices/reverse", "admin.invoice.reverse", s.AdminInvoiceReverse, invoiceRoles...)
	s.adminRoute(g, http.MethodPost, "/invoices/reissue", "admin.invoice.reissue", s.AdminInvoiceReissue, invoiceRoles...)
	s.adminRoute(g, http.MethodPost, "/invoices/basis", "admin.invoice.basis", s.AdminInvoicingBasis, invoiceRoles...)
}

// invoiceStates are the queue's tabs.
var invoiceStates = []invoicing.State{invoicing.StateRequested, invoicing.StateIssued, invoicing.StateReversed, invoicing.StateReissued, invoicing.StateRejected}

// AdminInvoiceQueue lists invoices in one state (?state=, requested first).
func (s *Server) AdminInvoiceQueue(c echo.Context) error {
	v, err := s.invoiceQueueView(c)
	if err != nil {
		return err
	}
	if a := c.QueryParam("basis_account"); a != "" {
		v.Basis.Account = a
		if id, err := strconv.ParseInt(a, 10, 64); err == nil && id > 0 {
			info, err := s.kyc.invoicing.AccountBasis(c.Request().Context(), id)
			if err != nil {
				return err
			}
			v.Basis.Current, v.Basis.Basis = string(info.Current), string(info.Current)
			if info.Next != nil {
				v.Basis.Next, v.Basis.NextFrom, v.Basis.Basis = string(info.Next.Basis), &info.Next.EffectiveFrom, string(info.Next.Basis)
			}
		}
	}
	return Render(c, http.StatusOK, adminview.InvoiceQueue(v), nil)
}

// AdminInvoicingBasis sets an account's invoicing basis (top-up or
// consumption) from next month, audited in the same transaction.
func (s *Server) AdminInvoicingBasis(c echo.Context) error {
	form := adminview.BasisForm{Account: strings.TrimSpace(c.FormValue("account")), Basis: c.FormValue("basis")}
	errs := map[string]string{}
	id, perr := strconv.ParseInt(form.Account, 10, 64)
	if perr != nil || id <= 0 {
		errs["account"] = tr(c, "admin.invoices.basis_account_invalid")
	}
	if form.Basis != string(invoicing.BasisTopUp) && form.Basis != string(invoicing.BasisConsumption) {
		errs["basis"] = tr(c, fieldKey("basis_invalid"))
	}
	if len(errs) == 0 {
		a := actor(c)
		_, err := s.kyc.invoicing.SetBasis(c.Request().Context(), id, invoicing.Basis(form.Basis), staffActor(c),
			func(ctx context.Context, tx pgx.Tx, ch invoicing.BasisChange) error {
				return backoffice.AuditInvoicingBasisSet(ctx, tx, a, id, string(ch.Basis), ch.EffectiveFrom)
			})
		if err == nil {
			return HXRedirect(c, s.URL("admin.invoices")+"?basis_account="+strconv.FormatInt(id, 10))
		}
		fields, _, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		errs = fields
	}
	v, err := s.invoiceQueueView(c)
	if err != nil {
		return err
	}
	v.Basis.BasisForm, v.Basis.Errors = form, errs
	return Render(c, http.StatusUnprocessableEntity, adminview.InvoiceQueue(v), nil)
}

func (s *Server) invoiceQueueView(c echo.Context) (adminview.InvoiceQueueView, error) {
	ctx := c.Request().Context()
	state := invoicing.State(c.QueryParam("state"))
	if state == "" {
		state = invoicing.StateRequested
	}
	ok := false
	for _, st := range invoiceStates {
		ok = ok || st == state
	}
	if !ok {
		return adminview.InvoiceQueueView{}, echo.ErrBadRequest
	}
	q, err := s.kyc.invoicing.Queue(ctx, state)
	if err != nil {
		return adminview.InvoiceQueueView{}, err
	}
	v := adminview.InvoiceQueueView{Frame: adminFrame(c, "admin.invoices"), State: string(state)}
	for _, st := range invoiceStates {
		v.States = append(v.States, string(st))
	}
	for _, inv := range q {
		v.Invoices = append(v.Invoices, s.invoiceRow(ctx, inv))
	}
	v.Basis.Basis = string(invoicing.BasisTopUp)
	return v, nil
}

// AdminInvoiceDetail shows one invoice (?id=) with its items, history and
// the actions its state allows.
func (s *Server) AdminInvoiceDetail(c echo.Context) error {
	id, err := queryID(c, "id")
	if err != nil {
		return err
	}
	v, err := s.invoiceDetail(c, id)
	if err != nil {
		return err
	}
	v.Done = c.QueryParam("done")
	return Render(c, http.StatusOK, adminview.InvoiceDetail(v), nil)
}

// AdminInvoicePDF sends any invoice's PDF.
func (s *Server) AdminInvoicePDF(c echo.Context) error {
	id, err := queryID(c, "id")
	if err != nil {
		return err
	}
	pdf, err := s.kyc.invoicing.StaffPDF(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return sendPDF(c, fmt.Sprintf("invoice-%d.pdf", id), pdf)
}

// AdminInvoiceIssue records the invoice number and date with the national
// platform's PDF (uploaded) or our generated copy; the customer is emailed
// the PDF (Options.OnIssued, wired by `credits serve`).
func (s *Server) AdminInvoiceIssue(c echo.Context) error {
	id, err := formID(c)
	if err != nil {
		return err
	}
	form := adminview.IssueForm{Number: strings.TrimSpace(c.FormValue("number")), Date: strings.TrimSpace(c.FormValue("date")), Source: c.FormValue("source")}
	errs := map[string]string{}
	var r invoicing.IssueRequest
	r.Number = form.Number
	if form.Date != "" {
		d, ok := shanghaiDate(form.Date)
		if !ok {
			errs["date"] = tr(c, "error.invoicing.invalid")
		}
		r.Date = d
	}
	if form.Source != "generate" {
		data, _, err := readUpload(c, "pdf", maxInvoicePDFRead)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			errs["pdf"] = tr(c, "form.invoice.pdf_required")
		}
		r.PDF = data
	}
	if len(errs) == 0 {
		a := actor(c)
		r.Record = func(ctx context.Context, tx pgx.Tx, inv invoicing.Invoice) error {
			return backoffice.AuditInvoiceIssued(ctx, tx, a, inv.AccountID, inv.ID, inv.Number, inv.AmountFen)
		}
		_, _, err = s.kyc.invoicing.Issue(c.Request().Context(), id, r, staffActor(c))
		if err == nil {
			return HXRedirect(c, s.URL("admin.invoice.detail")+"?id="+strconv.FormatInt(id, 10)+"&done=issued")
		}
		fields, _, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		errs = fields
	}
	return s.invoiceDetailError(c, id, errs, func(v *adminview.InvoiceDetailView) {
		form.CanGenerate = v.Issue.CanGenerate
		v.Issue = form
	})
}

// AdminInvoiceReject refuses a requested invoice with a reason the customer sees.
func (s *Server) AdminInvoiceReject(c echo.Context) error {
	return s.invoiceReasonAction(c, "rejected", s.kyc.invoicing.Reject)
}

// AdminInvoiceReverse records the red-letter reversal of an issued invoice.
func (s *Server) AdminInvoiceReverse(c echo.Context) error {
	return s.invoiceReasonAction(c, "reversed", s.kyc.invoicing.Reverse)
}

func (s *Server) invoiceReasonAction(c echo.Context, done string, act func(ctx context.Context, id int64, reason, actor string) (invoicing.Invoice, error)) error {
	id, err := formID(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if _, err := act(c.Request().Context(), id, reason, staffActor(c)); err != nil {
		fields, _, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.invoiceDetailError(c, id, fields, nil)
	}
	return HXRedirect(c, s.URL("admin.invoice.detail")+"?id="+strconv.FormatInt(id, 10)+"&done="+done)
}

// AdminInvoiceReissue replaces a reversed invoice by a new request (kind
// and email may be corrected), which finance then issues.
func (s *Server) AdminInvoiceReissue(c echo.Context) error {
	id, err := formID(c)
	if err != nil {
		return err
	}
	r := invoicing.ReissueRequest{Kind: invoicing.Kind(c.FormValue("kind")), Email: strings.TrimSpace(c.FormValue("email"))}
	inv, err := s.kyc.invoicing.Reissue(c.Request().Context(), id, r, staffActor(c))
	if err != nil {
		fields, _, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.invoiceDetailError(c, id, fields, nil)
	}
	return HXRedirect(c, s.URL("admin.invoice.detail")+"?id="+strconv.FormatInt(inv.ID, 10)+"&done=reissued")
}

// invoiceDetailError re-renders the detail page with field messages (422).
func (s *Server) invoiceDetailError(c echo.Context, id int64, errs map[string]string, adjust func(*adminview.InvoiceDetailView)) error {
	v, err := s.invoiceDetail(c, id)
	if err != nil {
		return err
	}
	v.Errors = errs
	if adjust != nil {
		adjust(&v)
	}
	return Render(c, http.StatusUnprocessableEntity, adminview.InvoiceDetail(v), nil)
}

func (s *Server) invoiceDetail(c echo.Context, id int64) (adminview.InvoiceDetailView, error) {
	ctx := c.Request().Context()
	inv, err := s.kyc.invoicing.Get(ctx, id)
	if err != nil {
		return adminview.InvoiceDetailView{}, err
	}
	hist, err := s.kyc.invoicing.History(ctx, id)
	if err != nil {
		return adminview.InvoiceDetailView{}, err
	}
	v := adminview.InvoiceDetailView{Frame: adminFrame(c, "admin.invoices"), Invoice: s.invoiceRow(ctx, inv),
		Issue: adminview.IssueForm{Date: time.Now().In(format.Shanghai).Format("2006-01-02"), Source: "upload", CanGenerate: s.kyc.invoicing.CanGenerate()}}
	for _, e := range hist {
		v.History = append(v.History, adminview.InvoiceEvent{At: e.At, From: e.FromState, To: string(e.ToState),
			Reason: s.reasonText(ctx, "error.invoicing.", e.Reason), Actor: components.ActorLabel(ctx, e.Actor)})
	}
	return v, nil
}
