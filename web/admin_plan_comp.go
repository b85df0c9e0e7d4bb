package web

import (
	"errors"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// planCompForm adds the comp-a-plan form to the customer page of an admin:
// the catalogue's plans and the customer's plan in force.
func (s *Server) planCompForm(c echo.Context, poolID int64, v *adminview.CustomerView) error {
	if !auth.HasAnyRole(staffFrom(c), auth.RoleAdmin) {
		return nil
	}
	ctx := c.Request().Context()
	cat, err := s.plans.catalogue.Catalogue(ctx)
	if err != nil {
		return err
	}
	en := i18n.Lang(ctx) == "en"
	f := &adminview.PlanCompForm{Months: "1", Errors: adminview.Errors{}}
	for _, p := range cat {
		f.Plans = append(f.Plans, adminview.Option{Value: p.Code, Label: planName(p, en)})
	}
	cur, err := s.plans.subs.Current(ctx, poolID)
	switch {
	case errors.Is(err, plans.ErrNotFound):
	case err != nil:
		return err
	default:
		p, err := s.plans.catalogue.Version(ctx, cur.PlanCode, cur.PlanVersion)
		if err != nil {
			return err
		}
		f.CurrentPlan, f.CurrentEnd = planName(p, en), cur.TermEnd
	}
	v.PlanComp = f
	return nil
}

// AdminCompPlan gives the customer a plan for a number of months, with the
// first month's plan credits at once (backoffice.CompPlan, audited).
func (s *Server) AdminCompPlan(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	if v.PlanComp == nil {
		return echo.ErrForbidden
	}
	f := v.PlanComp
	f.Plan, f.Months, f.Reason = c.FormValue("plan"), strings.TrimSpace(c.FormValue("months")), strings.TrimSpace(c.FormValue("reason"))
	// Months that cannot be read are passed as zero, which is refused
	// with the other fields.
	months, _ := strconv.Atoi(f.Months)
	_, err = s.admin.bo.CompPlan(c.Request().Context(), backoffice.CompPlanRequest{AccountID: v.AccountID, PlanCode: f.Plan,
		Months: months, Reason: f.Reason}, actor(c))
	if err == nil {
		return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done=plan")
	}
	errs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	f.Errors = errs
	return Render(c, status, adminview.Customer(v), adminview.PlanCompPart(v))
}
