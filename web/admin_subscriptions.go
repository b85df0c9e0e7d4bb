package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminSubscriptionRoutes: the subscriber list (every staff role), and on a
// customer's page extending the plan in force and granting an enterprise a
// contract term (admin and support; a long term waits for another admin).
func (s *Server) adminSubscriptionRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/subscriptions", "admin.subscriptions", s.AdminSubscriptions, auth.AllRoles...)
	s.adminRoute(g, http.MethodPost, "/customers/:id/plan/extend", "admin.customer.plan_extend", s.AdminExtendPlan, auth.RoleAdmin, auth.RoleSupport)
	s.adminRoute(g, http.MethodPost, "/customers/:id/plan/grant", "admin.customer.plan_grant", s.AdminGrantPlan, auth.RoleAdmin, auth.RoleSupport)
}

// AdminSubscriptions lists subscriptions, newest first, 50 a page,
// filtered by plan, state, cycle, renewal due within N days and account
// (id, external id or name).
func (s *Server) AdminSubscriptions(c echo.Context) error {
	ctx := c.Request().Context()
	f := adminview.SubscriptionFilter{Plan: c.QueryParam("plan"), State: c.QueryParam("state"), Cycle: c.QueryParam("cycle"),
		Due: strings.TrimSpace(c.QueryParam("due")), Query: strings.TrimSpace(c.QueryParam("q"))}
	v := adminview.SubscriptionsView{Frame: adminFrame(c, "admin.subscriptions"), Filter: f, Errors: adminview.Errors{}}
	cat, err := s.plans.catalogue.Catalogue(ctx)
	if err != nil {
		return err
	}
	en := i18n.Lang(ctx) == "en"
	names := map[string]string{}
	for _, p := range cat {
		v.Plans = append(v.Plans, adminview.Option{Value: p.Code, Label: planName(p, en)})
		names[p.Code] = planName(p, en)
	}
	filter := plans.SubscriberFilter{PlanCode: f.Plan, State: plans.State(f.State), Cycle: plans.Cycle(f.Cycle), Query: f.Query}
	if f.Due != "" {
		n, err := strconv.Atoi(f.Due)
		if err != nil || n < 1 || n > 366 {
			v.Errors["due"] = i18n.Tf(ctx, "error.field.days_range", map[string]string{"min": "1", "max": "366"})
			return Render(c, http.StatusUnprocessableEntity, adminview.Subscriptions(v), nil)
		}
		filter.RenewsWithinDays = n
	}
	after := c.QueryParam("after")
	if after != "" {
		if filter.After, err = strconv.ParseInt(after, 10, 64); err != nil {
			return backoffice.ErrInvalidFilter
		}
	}
	page, err := s.plans.subs.Subscribers(ctx, filter)
	if err != nil {
		return err
	}
	for _, r := range page.Rows {
		name := r.AccountName
		if name == "" {
			name = r.ExternalID
		}
		if name == "" {
			name = fmt.Sprintf("#%d", r.AccountID)
		}
		plan := names[r.PlanCode]
		if plan == "" {
			plan = r.PlanCode
		}
		v.Rows = append(v.Rows, adminview.SubscriptionRow{ID: r.ID, AccountID: r.AccountID, Account: name, Plan: plan,
			Cycle: string(r.Cycle), State: string(r.State), TermEnd: r.TermEnd, Renews: r.State == plans.Active})
	}
	base := s.URL("admin.subscriptions")
	if page.Next != 0 {
		v.NextURL = base + "?" + subscriptionQuery(f, strconv.FormatInt(page.Next, 10))
	}
	if after != "" {
		v.FirstURL = base + "?" + subscriptionQuery(f, "")
	}
	return Render(c, http.StatusOK, adminview.Subscriptions(v), nil)
}

// subscriptionQuery is the list's query string for filter f from page after.
func subscriptionQuery(f adminview.SubscriptionFilter, after string) string {
	q := url.Values{}
	for k, v := range map[string]string{"plan": f.Plan, "state": f.State, "cycle": f.Cycle, "due": f.Due, "q": f.Query, "after": after} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// subscriptionPanel adds the customer's subscription, its history and the
// extend and grant forms (for admin and support) to the customer page.
func (s *Server) subscriptionPanel(c echo.Context, acc ledger.Account, v *adminview.CustomerView) error {
	ctx := c.Request().Context()
	en := i18n.Lang(ctx) == "en"
	cat, err := s.plans.catalogue.Catalogue(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	var options []adminview.Option
	for _, p := range cat {
		names[p.Code] = planName(p, en)
		options = append(options, adminview.Option{Value: p.Code, Label: planName(p, en)})
	}
	name := func(code string) string {
		if n := names[code]; n != "" {
			return n
		}
		return code
	}
	panel := &adminview.SubscriptionPanel{}
	cur, err := s.plans.subs.Current(ctx, acc.PoolID)
	switch {
	case errors.Is(err, plans.ErrNotFound):
	case err != nil:
		return err
	default:
		panel.Current = &adminview.SubscriptionRow{ID: cur.ID, AccountID: acc.PoolID, Plan: name(cur.PlanCode),
			Cycle: string(cur.Cycle), State: string(cur.State), TermEnd: cur.TermEnd, Renews: cur.State == plans.Active}
		panel.Period = [2]time.Time{cur.Period.Start, cur.Period.End}
	}
	es, err := s.plans.subs.AccountHistory(ctx, acc.PoolID)
	if err != nil {
		return err
	}
	for _, e := range es {
		panel.History = append(panel.History, adminview.SubscriptionEvent{At: e.At, Kind: string(e.Kind), Plan: name(e.PlanCode),
			TermEnd: e.TermEnd, Actor: e.Actor, Note: e.Note})
	}
	if auth.HasAnyRole(staffFrom(c), auth.RoleAdmin, auth.RoleSupport) {
		if panel.Current != nil {
			panel.Extend = &adminview.ExtendForm{Errors: adminview.Errors{}}
		}
		if acc.Kind == ledger.AccountEnterprise && acc.ID == acc.PoolID {
			panel.Grant = &adminview.PlanGrantForm{Plans: options, Months: "12", LimitMonths: s.admin.bo.PlanGrantLimitMonths(),
				Errors: adminview.Errors{}}
		}
	}
	v.Subscription = panel
	return nil
}

// AdminExtendPlan extends the customer's plan in force by a number of days
// (backoffice.ExtendPlan, audited); the form's errors come back all at once.
func (s *Server) AdminExtendPlan(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	if v.Subscription == nil {
		return echo.ErrForbidden
	}
	if v.Subscription.Extend == nil { // no plan in force: the domain says so on the form
		v.Subscription.Extend = &adminview.ExtendForm{}
	}
	f := v.Subscription.Extend
	f.Days, f.Reason = strings.TrimSpace(c.FormValue("days")), strings.TrimSpace(c.FormValue("reason"))
	days, _ := strconv.Atoi(f.Days) // unreadable: 0, refused with the other fields
	_, err = s.admin.bo.ExtendPlan(c.Request().Context(), backoffice.ExtendPlanRequest{AccountID: v.AccountID, Days: days, Reason: f.Reason}, actor(c))
	if err == nil {
		return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done=plan_extended#subscription")
	}
	errs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	f.Errors = onForm(errs)
	return Render(c, status, adminview.Customer(v), nil)
}

// AdminGrantPlan grants the enterprise a plan for a contract term
// (backoffice.GrantPlan, audited): at once within the limit, else as an
// approval for another admin.
func (s *Server) AdminGrantPlan(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	if v.Subscription == nil || v.Subscription.Grant == nil {
		if !auth.HasAnyRole(staffFrom(c), auth.RoleAdmin, auth.RoleSupport) {
			return echo.ErrForbidden
		}
		if v.Subscription == nil {
			v.Subscription = &adminview.SubscriptionPanel{}
		}
		v.Subscription.Grant = &adminview.PlanGrantForm{LimitMonths: s.admin.bo.PlanGrantLimitMonths()}
	}
	f := v.Subscription.Grant
	f.Plan, f.Months, f.Reason = c.FormValue("plan"), strings.TrimSpace(c.FormValue("months")), strings.TrimSpace(c.FormValue("reason"))
	months, _ := strconv.Atoi(f.Months)
	res, err := s.admin.bo.GrantPlan(c.Request().Context(), backoffice.GrantPlanRequest{AccountID: v.AccountID, PlanCode: f.Plan,
		Months: months, Reason: f.Reason}, actor(c))
	if err == nil {
		done := "plan_granted"
		if res.Pending {
			done = "plan_grant_pending"
		}
		return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done="+done+"#subscription")
	}
	errs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	f.Errors = onForm(errs)
	return Render(c, status, adminview.Customer(v), nil)
}
