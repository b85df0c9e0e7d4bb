package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	pv "github.com/seed75218f88/credits/views/portal"
)

// PlanRefundRequest files the customer's request to refund their yearly
// plan under the yearly refund rule (POST /portal/plans/refund), for
// finance to approve in the refund queue; a missing reason or nothing to
// refund re-renders the plans page (422) with the messages. A department
// does not pay, so it cannot ask.
func (s *Server) PlanRefundRequest(c echo.Context) error {
	ctx := c.Request().Context()
	acc := customerOf(c).Account
	if acc.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	_, _, err := s.admin.bo.RequestPlanRefund(ctx, acc.PoolID, reason, ClientIP(c))
	if err == nil {
		return HXRedirect(c, s.URL("portal.orders")+"?refund=requested#refunds")
	}
	msgs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	if errors.Is(err, backoffice.ErrRefundPending) {
		status = http.StatusConflict
	}
	v, verr := s.plansView(c)
	if verr != nil {
		return verr
	}
	msgs = onForm(msgs)
	if v.Current != nil && v.Current.Refund != nil {
		v.Current.Refund.Reason, v.Current.Refund.Errors = reason, msgs
	} else {
		v.Buy.Error = msgs["form"]
	}
	return Render(c, status, pv.Plans(v), nil)
}

// planRefundOffer is the yearly refund rule applied to the customer's plan
// now, or nil when it is not a paid yearly plan (or for a department).
func (s *Server) planRefundOffer(c echo.Context, accountID int64) (*pv.PlanRefundOffer, error) {
	ctx := c.Request().Context()
	if customerOf(c).Account.Kind == ledger.AccountSub {
		return nil, nil
	}
	q, err := s.plans.subs.YearRefundQuote(ctx, accountID)
	if errors.Is(err, plans.ErrNotFound) || errors.Is(err, plans.ErrNoYearRefund) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o := &pv.PlanRefundOffer{OrderNo: q.OrderNo, YearStart: q.Year.Start, YearEnd: q.Year.End,
		Paid: decimal.New(q.PaidFen, -2), UnusedMonths: q.UnusedMonths, Unused: decimal.New(q.UnusedFen, -2),
		Entitled: q.Entitled, Consumed: q.Consumed, Excess: q.Excess, CreditPrice: "¥" + q.CreditPriceRMB.String(),
		Deduction: decimal.New(q.DeductionFen, -2), Refund: decimal.New(q.RefundFen, -2), Errors: map[string]string{}}
	reqs, err := s.admin.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: accountID})
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if r.OrderNo == q.OrderNo && (r.State == backoffice.RefundRequested || r.State == backoffice.RefundApproved) {
			o.Open = string(r.State)
		}
	}
	return o, nil
}

// UpgradeRefundRequest files the customer's request to refund their last
// paid upgrade under the upgrade refund rule (POST
// /portal/plans/refund-upgrade), for finance to approve in the refund
// queue; a missing reason or nothing to refund re-renders the plans page
// (422) with the messages. A department does not pay, so it cannot ask.
func (s *Server) UpgradeRefundRequest(c echo.Context) error {
	ctx := c.Request().Context()
	acc := customerOf(c).Account
	if acc.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	_, _, err := s.admin.bo.RequestUpgradeRefund(ctx, acc.PoolID, reason, ClientIP(c))
	if err == nil {
		return HXRedirect(c, s.URL("portal.orders")+"?refund=requested#refunds")
	}
	msgs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	if errors.Is(err, backoffice.ErrRefundPending) {
		status = http.StatusConflict
	}
	v, verr := s.plansView(c)
	if verr != nil {
		return verr
	}
	msgs = onForm(msgs)
	if v.Current != nil && v.Current.UpgradeRefund != nil {
		v.Current.UpgradeRefund.Reason, v.Current.UpgradeRefund.Errors = reason, msgs
	} else {
		v.Buy.Error = msgs["form"]
	}
	return Render(c, status, pv.Plans(v), nil)
}

// upgradeRefundOffer is the upgrade refund rule applied to the customer's
// last paid upgrade now, or nil when none can be refunded (or for a
// department).
func (s *Server) upgradeRefundOffer(c echo.Context, accountID int64, en bool) (*pv.UpgradeRefundOffer, error) {
	ctx := c.Request().Context()
	if customerOf(c).Account.Kind == ledger.AccountSub {
		return nil, nil
	}
	q, err := s.plans.subs.UpgradeRefundQuote(ctx, accountID)
	if errors.Is(err, plans.ErrNotFound) || errors.Is(err, plans.ErrNoUpgradeRefund) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o := &pv.UpgradeRefundOffer{OrderNo: q.Upgrade.OrderNo, From: planName(q.From, en), To: planName(q.To, en),
		Paid: decimal.New(q.Upgrade.PriceFen, -2), Unused: decimal.New(q.UnusedFen, -2), Credits: q.Upgrade.Credits,
		Consumed: q.Consumed, Entitled: q.Entitled, Excess: q.Excess, CreditPrice: "¥" + q.CreditPriceRMB.String(),
		Deduction: decimal.New(q.DeductionFen, -2), Refund: decimal.New(q.RefundFen, -2), Errors: map[string]string{}}
	reqs, err := s.admin.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: accountID})
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if r.OrderNo == q.Upgrade.OrderNo && (r.State == backoffice.RefundRequested || r.State == backoffice.RefundApproved) {
			o.Open = true
		}
	}
	return o, nil
}
