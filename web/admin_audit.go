package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/autotopup"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/budget"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/team"
	"github.com/seed75218f88/credits/internal/usagestream"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminAuditRoutes: the audit log, for admins and finance (who answer for
// the money it records).
func (s *Server) adminAuditRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/audit", "admin.audit", s.AdminAudit, auth.RoleAdmin, auth.RoleFinance)
	s.adminRoute(g, http.MethodGet, "/audit.csv", "admin.audit.csv", s.AdminAuditCSV, auth.RoleAdmin, auth.RoleFinance)
}

// auditActions are the actions the filter offers.
var auditActions = slices.Concat([]backoffice.Action{
	backoffice.ActionGrant, backoffice.ActionGrantRequested, backoffice.ActionApprovalApplied, backoffice.ActionApprovalRejected,
	backoffice.ActionFreeze, backoffice.ActionUnfreeze, backoffice.ActionReasonCodeAdded, backoffice.ActionReasonCodeChanged,
	backoffice.ActionCodeBatchCreated, backoffice.ActionCodeRedeemed, backoffice.ActionStatementImported, backoffice.ActionLineMatched,
	backoffice.ActionManualRecharge, backoffice.ActionRechargeRequested, backoffice.ActionLineRefundToPayer, backoffice.ActionLineRejected,
	backoffice.ActionChannelBillImported, backoffice.ActionDifferenceResolved, backoffice.ActionRefundRequested,
	backoffice.ActionRefundApproved, backoffice.ActionRefundRejected, backoffice.ActionRefundDone,
	backoffice.ActionAPIKeyCreated, backoffice.ActionAPIKeyRevoked, backoffice.ActionAllocationTransfer,
	backoffice.ActionSettingChanged, backoffice.ActionInvoiceIssued, backoffice.ActionInvoicingBasisSet, backoffice.ActionPlanPublished, backoffice.ActionPlanComped,
	backoffice.ActionProductDrafted, backoffice.ActionProductPublished, backoffice.ActionCostCardPublished,
}, backoffice.StaffActions, backoffice.WebhookActions, autotopup.AuditActions, budget.AuditActions, relay.AuditActions, access.AuditActions,
	team.AuditActions, backoffice.RateCardActions, usagestream.AuditActions, []backoffice.Action{payments.ActionReviewResolved})

// auditFilter reads the filter form: actor (staff id or email), account
// id, action, from and to (inclusive Asia/Shanghai dates).
func (s *Server) auditFilter(c echo.Context) (backoffice.AuditFilter, adminview.AuditFilterForm, adminview.Errors, error) {
	form := adminview.AuditFilterForm{Actor: strings.TrimSpace(c.QueryParam("actor")), Account: strings.TrimSpace(c.QueryParam("account")),
		Action: c.QueryParam("action"), From: c.QueryParam("from"), To: c.QueryParam("to")}
	var f backoffice.AuditFilter
	errs := adminview.Errors{}
	if form.Actor != "" {
		if id, err := strconv.ParseInt(form.Actor, 10, 64); err == nil {
			f.ActorID = id
		} else if u, err := s.admin.auth.UserByLogin(c.Request().Context(), form.Actor); err == nil {
			f.ActorID = u.ID
		} else {
			errs["actor"] = tr(c, "admin.audit.unknown_actor")
		}
	}
	if form.Account != "" {
		id, err := strconv.ParseInt(form.Account, 10, 64)
		if err != nil || id <= 0 {
			errs["account"] = tr(c, "error.admin.account_not_found")
		}
		f.AccountID = id
	}
	f.Action = backoffice.Action(form.Action)
	if form.From != "" {
		t, ok := shanghaiDate(form.From)
		if !ok {
			errs["from"] = tr(c, "admin.invalid_date")
		}
		f.From = t
	}
	if form.To != "" {
		t, ok := shanghaiDate(form.To)
		if !ok {
			errs["to"] = tr(c, "admin.invalid_date")
		}
		f.To = t.AddDate(0, 0, 1)
	}
	return f, form, errs, nil
}

// AdminAudit lists the audit log, newest first, 50 rows a page.
func (s *Server) AdminAudit(c echo.Context) error {
	f, form, errs, err := s.auditFilter(c)
	if err != nil {
		return err
	}
	v := adminview.AuditView{Frame: adminFrame(c, "admin.audit"), Filter: form, Errors: errs}
	for _, a := range auditActions {
		v.Actions = append(v.Actions, string(a))
	}
	q := url.Values{"actor": {form.Actor}, "account": {form.Account}, "action": {form.Action}, "from": {form.From}, "to": {form.To}}
	v.CSVURL = s.URL("admin.audit.csv") + "?" + q.Encode()
	if len(errs) > 0 {
		return Render(c, http.StatusUnprocessableEntity, adminview.Audit(v), nil)
	}
	cursor, _ := strconv.ParseInt(c.QueryParam("cursor"), 10, 64)
	rows, next, err := s.admin.bo.AuditLog(c.Request().Context(), f, cursor, 50)
	if err != nil {
		return err
	}
	for _, r := range rows {
		rv := adminview.AuditRowView{ID: r.ID, At: r.At, Actor: r.ActorEmail, IP: r.IP, Action: string(r.Action), Reason: reasonText(c.Request().Context(), r.Reason), Detail: string(r.Detail)}
		if rv.Actor == "" {
			rv.Actor = string(r.ActorKind)
		}
		if r.AccountID != nil {
			rv.AccountID = *r.AccountID
		}
		if r.BalanceBefore.Valid {
			rv.BalanceBefore = &r.BalanceBefore.Decimal
		}
		if r.BalanceAfter.Valid {
			rv.BalanceAfter = &r.BalanceAfter.Decimal
		}
		v.Rows = append(v.Rows, rv)
	}
	if next != 0 {
		q.Set("cursor", strconv.FormatInt(next, 10))
		v.NextURL = s.URL("admin.audit") + "?" + q.Encode()
	}
	return Render(c, http.StatusOK, adminview.Audit(v), adminview.AuditRows(v))
}

// AdminAuditCSV downloads every row matching the filter as CSV.
func (s *Server) AdminAuditCSV(c echo.Context) error {
	f, _, errs, err := s.auditFilter(c)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="audit-%s.csv"`, c.QueryParam("from")))
	c.Response().WriteHeader(http.StatusOK)
	return s.admin.bo.AuditCSV(c.Request().Context(), f, c.Response())
}
