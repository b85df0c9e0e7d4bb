package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/pricing"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminApprovalRoutes: the maker-checker queue. Finance decides; support
// sees its own requests waiting there.
func (s *Server) adminApprovalRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/approvals", "admin.approvals", s.AdminApprovals, auth.RoleSupport, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/approvals/:id/approve", "admin.approval.approve", s.AdminApprove, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/approvals/:id/reject", "admin.approval.reject", s.AdminReject, auth.RoleFinance, auth.RoleAdmin)
}

// AdminApprovals lists pending requests (with Approve and Reject only for
// those this user may decide) and the latest decided ones.
func (s *Server) AdminApprovals(c echo.Context) error {
	v, err := s.approvalsView(c)
	if err != nil {
		return err
	}
	switch c.QueryParam("done") {
	case "approved":
		v.Flash = tr(c, "admin.approvals.approved")
	case "rejected":
		v.Flash = tr(c, "admin.approvals.rejected")
	}
	return Render(c, http.StatusOK, adminview.Approvals(v), nil)
}

func (s *Server) approvalsView(c echo.Context) (adminview.ApprovalsView, error) {
	ctx := c.Request().Context()
	v := adminview.ApprovalsView{Frame: adminFrame(c, "admin.approvals")}
	pending, err := s.admin.bo.Approvals(ctx, backoffice.ApprovalFilter{State: backoffice.ApprovalPending})
	if err != nil {
		return v, err
	}
	recent, err := s.admin.bo.Approvals(ctx, backoffice.ApprovalFilter{Limit: 50})
	if err != nil {
		return v, err
	}
	rows, err := s.approvalRows(c)
	if err != nil {
		return v, err
	}
	for _, p := range pending {
		v.Pending = append(v.Pending, rows(p))
	}
	for _, r := range recent {
		if r.State != backoffice.ApprovalPending {
			v.Recent = append(v.Recent, rows(r))
		}
	}
	return v, nil
}

// approvalRows returns the function that turns a request into its card or
// row for this user: reason codes by their names in the user's language,
// and a manual recharge with its bank line's serial and payer, so the
// approver checks the money against the statement.
func (s *Server) approvalRows(c echo.Context) (func(backoffice.Approval) adminview.ApprovalRow, error) {
	ctx := c.Request().Context()
	codes, err := s.admin.bo.ReasonCodes(ctx, true)
	if err != nil {
		return nil, err
	}
	labels := make(map[string]string, len(codes))
	for _, rc := range codes {
		labels[rc.Code] = rc.Label(i18n.Lang(ctx))
	}
	line := func(id int64) (serial, payer string) {
		l, err := s.admin.bo.Line(ctx, id)
		if err != nil {
			return "", ""
		}
		return l.Serial, l.PayerName
	}
	a := actor(c)
	return func(p backoffice.Approval) adminview.ApprovalRow { return approvalRow(c, a, p, labels, line) }, nil
}

func approvalRow(c echo.Context, a backoffice.Actor, p backoffice.Approval, labels map[string]string, line func(int64) (string, string)) adminview.ApprovalRow {
	r := adminview.ApprovalRow{ID: p.ID, Action: string(p.Action), AccountID: p.AccountID, Amount: p.Amount, Unit: "credits",
		Reason: reasonText(c.Request().Context(), p.Reason), RequestedBy: p.RequestedByEmail, RequestedAt: p.RequestedAt, DecidedAt: p.DecidedAt, State: string(p.State),
		DecidedBy: p.DecidedByEmail, DecisionReason: p.DecisionReason}
	// A grant's reason is its reason code, or "<code>: <note>".
	if l := labels[p.Reason]; l != "" {
		r.Reason = l
	} else if code, note, ok := strings.Cut(p.Reason, ": "); ok && labels[code] != "" {
		r.Reason = labels[code] + ": " + note
	}
	switch p.Action {
	case backoffice.ApproveSupportGrant:
		if g, err := p.Grant(); err == nil {
			label := labels[g.ReasonCode]
			if label == "" {
				label = g.ReasonCode
			}
			r.Detail = label + " · " + tr(c, "admin.col.expires") + " " + format.Time(g.ExpiresAt)
			if g.Note != "" {
				r.Detail += " · " + g.Note
			}
			// The request's reason is the code and note shown above.
			if p.Reason == g.ReasonCode || p.Reason == g.ReasonCode+": "+g.Note {
				r.Reason = ""
			}
			r.Over = string(g.Over)
			if g.AppliedLotID != 0 {
				r.SplitOf, r.SplitApplied = g.RequestedAmount, g.RequestedAmount.Sub(g.Amount)
			}
		}
	case backoffice.ApprovePlanGrant:
		r.Unit = "months"
		if g, err := p.PlanGrant(); err == nil {
			r.Detail = i18n.Tf(c.Request().Context(), "admin.subs.grant_detail", map[string]string{"Plan": g.PlanCode, "Months": strconv.Itoa(g.Months)})
		}
	case backoffice.ApproveRateCard:
		r.Unit = "percent"
		if rc, err := p.RateCard(); err == nil {
			r.Detail = rateCardText(c, rc)
		}
	case backoffice.ApproveManualRecharge:
		r.Unit = "yuan"
		if rc, err := p.Recharge(); err == nil {
			r.Detail = format.Credits(rc.Credits) + " " + tr(c, "admin.unit.credits")
			if rc.Note != "" && rc.Note != p.Reason {
				r.Detail += " · " + rc.Note
			}
			r.Over = string(rc.Over)
			if rc.LineID != 0 {
				r.LineSerial, r.LinePayer = line(rc.LineID)
			}
		}
	}
	err := backoffice.CanDecide(a, p)
	r.CanDecide = err == nil
	if err != nil {
		r.Why = tr(c, "error.admin."+backoffice.Code(err))
	}
	return r
}

// AdminApprove approves a request and applies it.
func (s *Server) AdminApprove(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if _, err := s.admin.bo.Approve(c.Request().Context(), id, actor(c)); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.approvals")+"?done=approved")
}

// AdminReject rejects a request with a required reason.
func (s *Server) AdminReject(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	_, err = s.admin.bo.Reject(c.Request().Context(), id, actor(c), reason)
	if err == nil {
		return HXRedirect(c, s.URL("admin.approvals")+"?done=rejected")
	}
	if !errors.Is(err, backoffice.ErrReasonRequired) {
		return err
	}
	v, verr := s.approvalsView(c)
	if verr != nil {
		return verr
	}
	v.Errors = adminview.Errors{"reason": tr(c, "error.admin.reason_required")}
	return Render(c, http.StatusUnprocessableEntity, adminview.Approvals(v), nil)
}

// rateCardText describes the card a rate card approval holds.
func rateCardText(c echo.Context, p backoffice.RateCardPayload) string {
	ctx := c.Request().Context()
	switch p.Kind {
	case pricing.KindPinned:
		return i18n.Tf(ctx, "prices.desc.pinned", map[string]any{"Version": p.PinnedVersion})
	case pricing.KindDiscount:
		return i18n.Tf(ctx, "prices.desc.discount", map[string]any{"Pct": p.DiscountPct.String()})
	case pricing.KindCustom:
		return i18n.T(ctx, "prices.desc.custom") + " " + strings.ReplaceAll(strings.TrimSpace(pricing.FormatLines(p.Models)), "\n", "; ")
	}
	return i18n.T(ctx, "prices.desc.none")
}
