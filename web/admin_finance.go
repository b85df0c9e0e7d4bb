package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/format"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminFinanceRoutes: refund requests (finance) and the revenue reports
// (finance and admins).
func (s *Server) adminFinanceRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/refunds", "admin.refunds", s.AdminRefunds, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/refunds/:id/approve", "admin.refund.approve", s.AdminApproveRefund, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/refunds/:id/reject", "admin.refund.reject", s.AdminRejectRefund, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/refunds/:id/paid", "admin.refund.paid", s.AdminRefundPaidBack, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/refunds/channel/:no/retry", "admin.refund.retry", s.AdminRetryRefund, auth.RoleFinance)
	s.adminRoute(g, http.MethodGet, "/reports", "admin.reports", s.AdminReports, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/reports.csv", "admin.reports.csv", s.AdminReportCSV, auth.RoleFinance, auth.RoleAdmin)
}

// AdminRefunds is the queue of customers' refund requests, and the approved
// bank refunds that finance still has to pay back.
func (s *Server) AdminRefunds(c echo.Context) error {
	return s.refundsPage(c, http.StatusOK, nil)
}

func (s *Server) refundsPage(c echo.Context, status int, errs adminview.Errors) error {
	ctx := c.Request().Context()
	reqs, err := s.admin.bo.RefundRequests(ctx, backoffice.RefundFilter{State: backoffice.RefundRequested})
	if err != nil {
		return err
	}
	v := adminview.RefundQueueView{RefundsView: adminview.RefundsView{Frame: adminFrame(c, "admin.refunds"), Errors: errs}}
	for _, r := range reqs {
		v.Requests = append(v.Requests, adminview.RefundRow{ID: r.ID, AccountID: r.AccountID, OrderNo: r.OrderNo, Amount: r.Amount,
			Reason: r.Reason, RequestedAt: r.RequestedAt, Bill: s.orderBillLink(r.AccountID, r.Bill)})
	}
	if v.PayBacks, err = s.bankPayBacks(ctx); err != nil {
		return err
	}
	unsettled, err := s.pay.svc.UnsettledRefunds(ctx, 200)
	if err != nil {
		return err
	}
	for _, u := range unsettled {
		v.AtChannel = append(v.AtChannel, adminview.ChannelRefundRow{RefundNo: u.RefundNo, OrderNo: u.OrderNo, AccountID: u.AccountID,
			Amount: decimal.New(u.AmountFen, -2), CreatedAt: u.CreatedAt, Attempts: u.Attempts, LastError: u.LastError,
			Failed: u.State == payments.RefundFailed})
	}
	switch c.QueryParam("done") {
	case "approved", "approved_pending", "rejected", "paid", "retried", "retry_failed":
		v.Flash = tr(c, "admin.refunds.done_"+c.QueryParam("done"))
	}
	return Render(c, status, adminview.Refunds(v), nil)
}

// bankPayBacks lists the approved refund requests of bank transfer top-ups:
// the approval recorded a bank refund (and took the credit back), and the
// money goes back when finance transfers it and marks it paid back. A
// refund through WeChat Pay or Alipay goes back through its channel (the
// "at the channel" list while it has not been accepted), so it never waits here.
func (s *Server) bankPayBacks(ctx context.Context) ([]adminview.PayBackRow, error) {
	reqs, err := s.admin.bo.RefundRequests(ctx, backoffice.RefundFilter{State: backoffice.RefundApproved})
	if err != nil {
		return nil, err
	}
	var out []adminview.PayBackRow
	for _, r := range reqs {
		if r.OrderNo == "" {
			continue
		}
		o, err := s.pay.svc.OrderByNo(ctx, r.OrderNo)
		if err != nil {
			return nil, err
		}
		if o.Channel != payments.ChannelBankTransfer {
			continue
		}
		row := adminview.PayBackRow{RefundRow: adminview.RefundRow{ID: r.ID, AccountID: r.AccountID, OrderNo: r.OrderNo,
			Amount: r.Amount, Reason: r.Reason, RequestedAt: r.RequestedAt}, RefundNo: r.RefundRef}
		if r.DecidedAt != nil {
			row.ApprovedAt = *r.DecidedAt
		}
		out = append(out, row)
	}
	return out, nil
}

// AdminRetryRefund gives a refund the channel kept refusing a new round of
// attempts and sends it at once.
func (s *Server) AdminRetryRefund(c echo.Context) error {
	st, err := s.pay.svc.RetryRefund(c.Request().Context(), c.Param("no"), "staff:"+strconv.FormatInt(actor(c).User.ID, 10))
	if errors.Is(err, payments.ErrInvalidTransition) {
		return HXRedirect(c, s.URL("admin.refunds"))
	}
	if err != nil && !errors.Is(err, payments.ErrChannel) {
		return err
	}
	if st == payments.RefundDone {
		return HXRedirect(c, s.URL("admin.refunds")+"?done=retried")
	}
	return HXRedirect(c, s.URL("admin.refunds")+"?done=retry_failed")
}

// AdminRefundPaidBack records that finance transferred an approved bank
// refund back to the payer, with the bank's reference (required); the
// domain audits it and the customer's orders page shows it refunded.
func (s *Server) AdminRefundPaidBack(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	ref := strings.TrimSpace(c.FormValue("bank_ref"))
	if ref == "" {
		return s.refundsPage(c, http.StatusUnprocessableEntity, fieldError(c, adminview.PayBackField(id), "bank_ref_required"))
	}
	if err := s.admin.bo.MarkRefundDone(c.Request().Context(), id, ref, actor(c)); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.refunds")+"?done=paid")
}

// AdminApproveRefund approves a refund (the ledger refund commits with it)
// and then sends it to the payment channel (sendChannelRefund).
func (s *Server) AdminApproveRefund(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	r, err := s.admin.bo.ApproveRefund(c.Request().Context(), id, actor(c))
	if err != nil {
		return err
	}
	if s.sendChannelRefund(c.Request().Context(), r) {
		return HXRedirect(c, s.URL("admin.refunds")+"?done=approved_pending")
	}
	return HXRedirect(c, s.URL("admin.refunds")+"?done=approved")
}

// AdminRejectRefund rejects a refund with a required reason.
func (s *Server) AdminRejectRefund(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	_, err = s.admin.bo.RejectRefund(c.Request().Context(), id, strings.TrimSpace(c.FormValue("reason")), actor(c))
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.refundsPage(c, status, errs)
	}
	return HXRedirect(c, s.URL("admin.refunds")+"?done=rejected")
}

// reportQuery reads from and to (inclusive Asia/Shanghai dates; the current
// month by default) and the granularity.
func reportQuery(c echo.Context) (adminview.ReportForm, time.Time, time.Time, backoffice.Granularity, adminview.Errors) {
	now := time.Now().In(format.Shanghai)
	f := adminview.ReportForm{From: c.QueryParam("from"), To: c.QueryParam("to"), Granularity: c.QueryParam("granularity")}
	if f.From == "" {
		f.From = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, format.Shanghai).Format("2006-01-02")
	}
	if f.To == "" {
		f.To = now.Format("2006-01-02")
	}
	errs := adminview.Errors{}
	from, ok := shanghaiDate(f.From)
	if !ok {
		errs["from"] = tr(c, "admin.invalid_date")
	}
	to, ok := shanghaiDate(f.To)
	if !ok || to.Before(from) {
		errs["to"] = tr(c, "admin.invalid_date")
	}
	g := backoffice.Daily
	if f.Granularity == string(backoffice.Monthly) {
		g = backoffice.Monthly
	}
	f.Granularity = string(g)
	return f, from, to.AddDate(0, 0, 1), g, errs
}

// AdminReports shows deferred and recognised revenue, breakage and
// promotional credit per day or month.
func (s *Server) AdminReports(c echo.Context) error {
	f, from, to, g, errs := reportQuery(c)
	v := adminview.ReportsView{Frame: adminFrame(c, "admin.reports"), Form: f, Errors: errs}
	if len(errs) > 0 {
		return Render(c, http.StatusUnprocessableEntity, adminview.Reports(v), nil)
	}
	r, err := s.admin.bo.Revenue(c.Request().Context(), from, to, g, actor(c))
	if err != nil {
		// A start inside the archived months: said on the from field.
		msgs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v.Errors = msgs
		return Render(c, status, adminview.Reports(v), nil)
	}
	v.Report = &r
	v.CSVURL = s.URL("admin.reports.csv") + "?" + c.QueryString()
	grants, err := s.referrals.Grants(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	v.ReferralTotal = decimal.Zero
	for _, g := range grants {
		v.Referrals = append(v.Referrals, adminview.ReferralGrantRow{At: g.GrantedAt, InviterID: g.InviterID, InviteeID: g.InviteeID,
			OrderNo: g.OrderNo, TopUp: g.TopUpCredits, Percent: g.Percent, Amount: g.Amount})
		v.ReferralTotal = v.ReferralTotal.Add(g.Amount)
	}
	return Render(c, http.StatusOK, adminview.Reports(v), nil)
}

// AdminReportCSV downloads the report as CSV (UTF-8 with BOM).
func (s *Server) AdminReportCSV(c echo.Context) error {
	f, from, to, g, errs := reportQuery(c)
	if len(errs) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	r, err := s.admin.bo.Revenue(c.Request().Context(), from, to, g, actor(c))
	if err != nil {
		return s.archivedCSV(c, err)
	}
	var buf bytes.Buffer
	if err := backoffice.ReportCSV(&buf, r); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="revenue-%s-%s.csv"`, f.From, f.To))
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}
