package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/reconcile"
	"github.com/seed75218f88/credits/internal/refcode"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminStatementRoutes: bank statement import and the unmatched queue (finance).
func (s *Server) adminStatementRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/statements", "admin.statements", s.AdminStatements, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/statements", "admin.statements.import", s.AdminImportStatement, auth.RoleFinance)
	s.adminRoute(g, http.MethodGet, "/statements/lines/:id/customers", "admin.line.customers", s.AdminLineCustomers, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/statements/lines/:id/resolve", "admin.line.resolve", s.AdminResolveLine, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/statements/lines/:id/refund", "admin.line.refund", s.AdminRefundLine, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/statements/lines/:id/reject", "admin.line.reject", s.AdminRejectLine, auth.RoleFinance)
}

// AdminStatements shows the upload form and the unmatched queue, searched
// by payer, account, memo or serial.
func (s *Server) AdminStatements(c echo.Context) error {
	v, err := s.statementsView(c, c.QueryParam("q"))
	if err != nil {
		return err
	}
	switch d := c.QueryParam("done"); d {
	case "resolved", "pending", "refund", "rejected":
		v.Flash = tr(c, "admin.statements.done_"+d)
	}
	return Render(c, http.StatusOK, adminview.Statements(v), adminview.LineQueue(v))
}

func (s *Server) statementsView(c echo.Context, search string) (adminview.StatementsView, error) {
	v := adminview.StatementsView{Frame: adminFrame(c, "admin.statements"), Search: strings.TrimSpace(search), LimitsHint: s.importLimitsHint(c),
		Headers: reconcile.StatementHeaders()}
	lines, err := s.admin.bo.UnmatchedLines(c.Request().Context(), v.Search, 200, actor(c))
	if err != nil {
		return v, err
	}
	for _, l := range lines {
		v.Lines = append(v.Lines, adminview.LineRow{ID: l.ID, Serial: l.Serial, TradedAt: l.TradedAt, Amount: l.Amount,
			PayerName: l.PayerName, PayerAccount: l.PayerAccount, Memo: l.Memo, Reason: string(l.MatchReason), PendingApprovalID: l.PendingApprovalID})
		if l.PendingApprovalID != 0 {
			v.Pending++
		}
	}
	return v, nil
}

// AdminImportStatement imports an uploaded CSV or XLSX statement and shows
// what it did.
func (s *Server) AdminImportStatement(c echo.Context) error {
	fh, err := c.FormFile("file")
	if err != nil {
		return s.statementsForm(c, fieldError(c, "file", "file_required"))
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := s.admin.bo.ImportStatement(c.Request().Context(), f, fh.Filename, strings.TrimSpace(c.FormValue("bank_account")), actor(c))
	if err != nil {
		errs, _, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		// A browser cannot put a file back into the form: name the one
		// chosen, so it is chosen again knowingly.
		if errs["file"] != "" {
			errs["file"] += " " + i18n.Tf(c.Request().Context(), "admin.statements.file_again", map[string]string{"File": fh.Filename})
		}
		return s.statementsForm(c, errs)
	}
	v, err := s.statementsView(c, "")
	if err != nil {
		return err
	}
	v.Result = &adminview.ImportCounts{Inserted: res.Inserted, Duplicates: res.Duplicates, Matched: res.Matched, Unmatched: res.Unmatched}
	return Render(c, http.StatusOK, adminview.Statements(v), nil)
}

func (s *Server) statementsForm(c echo.Context, errs adminview.Errors) error {
	v, err := s.statementsView(c, c.FormValue("q"))
	if err != nil {
		return err
	}
	v.Errors = errs
	return Render(c, http.StatusUnprocessableEntity, adminview.Statements(v), nil)
}

// AdminLineCustomers searches customers for one unmatched line's resolve
// form (?find=): htmx gets the candidates to pick from, a browser without
// JavaScript the queue with that line's form open on the results.
func (s *Server) AdminLineCustomers(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	f := adminview.ResolveForm{LineID: id, Find: strings.TrimSpace(c.QueryParam("find"))}
	if err := s.findPayers(c, &f); err != nil {
		return err
	}
	if IsHTMX(c) {
		return RenderComponent(c, http.StatusOK, adminview.PayerCandidates(f))
	}
	v, err := s.statementsView(c, c.QueryParam("q"))
	if err != nil {
		return err
	}
	v.Resolve = f
	return Render(c, http.StatusOK, adminview.Statements(v), nil)
}

// findPayers fills the form's candidates with the back office's search for
// f.Find.
func (s *Server) findPayers(c echo.Context, f *adminview.ResolveForm) error {
	found, err := s.admin.bo.FindPayerCandidates(c.Request().Context(), f.Find, actor(c))
	if err != nil {
		return err
	}
	f.Searched, f.More, f.Candidates = true, found.More, nil
	for _, p := range found.Candidates {
		row := adminview.PayerCandidate{AccountID: p.Account.ID, Name: p.Account.Name, Login: p.User.Login(),
			Frozen: p.Account.Status == ledger.StatusFrozen, MatchedBy: p.MatchedBy, KYCState: p.Identity.State,
			KYCSubject: p.Identity.Subject, KYCName: p.Identity.Name, KYCNumber: p.Identity.MaskedNumber}
		if row.Name == "" {
			row.Name = p.User.Name
		}
		if p.Account.ExternalID != nil {
			row.ExternalID = *p.Account.ExternalID
		}
		for _, o := range p.OpenOrders {
			row.Orders = append(row.Orders, adminview.OpenOrderRow{OrderNo: o.OrderNo, Code: refcode.Format(o.Code), Amount: o.Amount})
		}
		f.Candidates = append(f.Candidates, row)
	}
	return nil
}

// AdminResolveLine credits an unmatched line to the customer picked in its
// form, as a manual recharge (waiting for a second finance user above the
// limit). Nothing picked, an unknown or frozen account or a missing note
// shows the form again (422) with the same search results.
func (s *Server) AdminResolveLine(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	f := adminview.ResolveForm{LineID: id, Find: strings.TrimSpace(c.FormValue("find")), Note: strings.TrimSpace(c.FormValue("note"))}
	acc, perr := strconv.ParseInt(c.FormValue("account_id"), 10, 64)
	if perr != nil || acc <= 0 {
		return s.resolveForm(c, f, fieldError(c, "account", "account_required"))
	}
	f.AccountID = acc
	res, err := s.admin.bo.ResolveToAccount(c.Request().Context(), id, acc, f.Note, actor(c))
	if err != nil {
		errs, _, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.resolveForm(c, f, errs)
	}
	done := "resolved"
	if !res.Applied {
		done = "pending"
	}
	return HXRedirect(c, s.URL("admin.statements")+"?done="+done)
}

// resolveForm shows a line's resolve form again with errs, its search
// run again so the picked customer is still there to see: the form for
// htmx, the queue with the form open otherwise.
func (s *Server) resolveForm(c echo.Context, f adminview.ResolveForm, errs adminview.Errors) error {
	if err := s.findPayers(c, &f); err != nil {
		return err
	}
	f.Errors = errs
	if IsHTMX(c) {
		return RenderComponent(c, http.StatusUnprocessableEntity, adminview.ResolveFormPart(f))
	}
	v, err := s.statementsView(c, "")
	if err != nil {
		return err
	}
	v.Resolve = f
	return Render(c, http.StatusUnprocessableEntity, adminview.Statements(v), nil)
}

// AdminRefundLine marks an unmatched line as money to send back to the payer.
func (s *Server) AdminRefundLine(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	err = s.admin.bo.MarkRefundToPayer(c.Request().Context(), id, strings.TrimSpace(c.FormValue("note")), strings.TrimSpace(c.FormValue("bank_ref")), actor(c))
	if err != nil {
		return s.lineError(c, id, err)
	}
	return HXRedirect(c, s.URL("admin.statements")+"?done=refund")
}

// AdminRejectLine takes a line out of the queue with a reason.
func (s *Server) AdminRejectLine(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.admin.bo.RejectLine(c.Request().Context(), id, strings.TrimSpace(c.FormValue("reason")), actor(c)); err != nil {
		return s.lineError(c, id, err)
	}
	return HXRedirect(c, s.URL("admin.statements")+"?done=rejected")
}

// lineError shows a validation error next to the line's forms; anything
// else goes to the error table.
func (s *Server) lineError(c echo.Context, id int64, err error) error {
	errs, _, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	return s.lineForm(c, id, errs)
}

func (s *Server) lineForm(c echo.Context, id int64, errs adminview.Errors) error {
	v, err := s.statementsView(c, c.FormValue("q"))
	if err != nil {
		return err
	}
	v.Errors = adminview.Errors{}
	for k, m := range errs {
		v.Errors[strconv.FormatInt(id, 10)+"."+k] = m
	}
	v.Errors["line"] = strconv.FormatInt(id, 10)
	return Render(c, http.StatusUnprocessableEntity, adminview.Statements(v), nil)
}

// importLimitsHint states the upload limits of statements and bills.
func (s *Server) importLimitsHint(c echo.Context) string {
	l := s.admin.bo.Settings().ImportLimits
	return i18n.Tf(c.Request().Context(), "admin.import.limits", map[string]string{
		"MB": strconv.FormatInt(l.MaxFileBytes>>20, 10), "Rows": format.Credits(decimal.NewFromInt(int64(l.MaxRows)))})
}
