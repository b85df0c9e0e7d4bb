package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminCustomerRoutes: the support lookup, a customer's page, grants and
// freezes. Every staff role looks customers up (finance resolves statement
// lines to them); support and finance grant; all three may freeze.
func (s *Server) adminCustomerRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/customers", "admin.customers", s.AdminCustomers, auth.AllRoles...)
	s.adminRoute(g, http.MethodGet, "/customers/:id", "admin.customer", s.AdminCustomer, auth.AllRoles...)
	s.adminRoute(g, http.MethodPost, "/customers/:id/grant", "admin.customer.grant", s.AdminGrant, auth.RoleSupport, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/customers/:id/freeze", "admin.customer.freeze", s.AdminFreeze, auth.AllRoles...)
	s.adminRoute(g, http.MethodPost, "/customers/:id/unfreeze", "admin.customer.unfreeze", s.AdminUnfreeze, auth.AllRoles...)
	s.adminRoute(g, http.MethodPost, "/customers/:id/plan", "admin.customer.plan_comp", s.AdminCompPlan, auth.RoleAdmin)
	s.adminAccessRoutes(g)
	s.adminPriceRoutes(g)
	s.adminCreditLineRoutes(g)
}

// AdminCustomers is the customer list: a search (login, email, name,
// account id, external id, order number), filters by kind, verification,
// status and balance, newest or largest balance first, 50 a page.
func (s *Server) AdminCustomers(c echo.Context) error {
	f := adminview.CustomerListFilter{Query: strings.TrimSpace(c.QueryParam("q")), Kind: c.QueryParam("kind"),
		Verification: c.QueryParam("verification"), Status: c.QueryParam("status"), Mode: c.QueryParam("mode"),
		Sort: c.QueryParam("sort"), HasBalance: c.QueryParam("has_balance") != ""}
	if f.Mode == "" {
		f.Mode = "live"
	}
	if f.Sort == "" {
		f.Sort = backoffice.SortNewest
	}
	after := c.QueryParam("after")
	page, err := s.admin.bo.ListCustomers(c.Request().Context(), actor(c), backoffice.CustomerFilter{Query: f.Query, Kind: f.Kind,
		Verification: f.Verification, Status: f.Status, HasBalance: f.HasBalance, Mode: f.Mode, Sort: f.Sort, After: after})
	if err != nil {
		return err
	}
	v := adminview.CustomerListView{Frame: adminFrame(c, "admin.customers"), Filter: f}
	for _, r := range page.Rows {
		name := r.Name
		if name == "" {
			name = r.DisplayName
		}
		v.Rows = append(v.Rows, adminview.CustomerRow{AccountID: r.AccountID, Name: name, Login: r.Login(), Kind: r.Kind,
			Verification: r.Verification, Status: r.Status, Available: r.Available, CreatedAt: r.CreatedAt})
	}
	base := s.URL("admin.customers")
	if page.Next != "" {
		v.NextURL = base + "?" + customerQuery(f, page.Next)
	}
	if after != "" {
		v.FirstURL = base + "?" + customerQuery(f, "")
	}
	return Render(c, http.StatusOK, adminview.CustomerSearch(v), adminview.CustomerResults(v))
}

// customerQuery is the list's query string for filter f from page after.
func customerQuery(f adminview.CustomerListFilter, after string) string {
	q := url.Values{}
	for k, v := range map[string]string{"q": f.Query, "kind": f.Kind, "verification": f.Verification, "status": f.Status,
		"mode": f.Mode, "sort": f.Sort, "after": after} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.HasBalance {
		q.Set("has_balance", "1")
	}
	return q.Encode()
}

// AdminCustomer is one customer's page.
func (s *Server) AdminCustomer(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	switch c.QueryParam("done") {
	case "grant":
		v.Flash = tr(c, "admin.customer.granted")
	case "pending":
		v.Flash = tr(c, "admin.customer.grant_pending")
	case "split":
		v.Flash = tr(c, "admin.customer.grant_split")
	case "freeze":
		v.Flash = tr(c, "admin.customer.frozen_done")
	case "unfreeze":
		v.Flash = tr(c, "admin.customer.unfrozen_done")
	case "plan":
		v.Flash = tr(c, "admin.plan_comp.done")
	case "models":
		v.Flash = tr(c, "access.saved")
	case "enforcement":
		v.Flash = tr(c, "enforcement.saved")
	case "credit_line", "credit_line_pending", "bill_paid":
		v.Flash = tr(c, "admin.credit.done."+c.QueryParam("done"))
	case "prices", "prices_pending":
		v.Flash = tr(c, "prices.done."+c.QueryParam("done"))
	case "plan_extended", "plan_granted", "plan_grant_pending":
		v.Flash = tr(c, "admin.subs.done."+c.QueryParam("done"))
	}
	return Render(c, http.StatusOK, adminview.Customer(v), nil)
}

// customerView reads the account named in the URL with its balance, lots
// and latest events, and prepares fresh forms.
func (s *Server) customerView(c echo.Context) (adminview.CustomerView, error) {
	ctx := c.Request().Context()
	var v adminview.CustomerView
	id, err := parseID(c.Param("id"))
	if err != nil {
		return v, err
	}
	acc, err := s.admin.ledger.Account(ctx, id)
	if err != nil {
		return v, err
	}
	bal, err := s.admin.ledger.Balance(ctx, id)
	if err != nil {
		return v, err
	}
	evs, _, err := s.admin.ledger.Events(ctx, id, ledger.EventFilter{}, 0, 20)
	if err != nil {
		return v, err
	}
	reasons, err := s.admin.bo.ReasonCodes(ctx, false)
	if err != nil {
		return v, err
	}
	staff := staffFrom(c)
	v = adminview.CustomerView{Frame: adminFrame(c, "admin.customers"), AccountID: acc.ID, Name: acc.Name,
		Status: string(acc.Status), Frozen: acc.Status == ledger.StatusFrozen, Available: bal.Own(),
		CanGrant:  auth.HasAnyRole(staff, auth.RoleSupport, auth.RoleFinance),
		CanFreeze: auth.HasAnyRole(staff, auth.AllRoles...),
		Grant:     adminview.GrantForm{Key: uuid.NewString()},
	}
	if v.CanGrant {
		al, err := s.admin.bo.GrantAllowance(ctx, actor(c), id)
		if err != nil {
			return v, err
		}
		v.Grant.Allowance = adminview.GrantAllowance{PerAction: al.PerAction, Remaining: al.Remaining, StaffUsed: al.StaffUsed,
			StaffLimit: al.StaffLimit, AccountUsed: al.AccountUsed, AccountLimit: al.AccountLimit}
	}
	pending, err := s.admin.bo.Approvals(ctx, backoffice.ApprovalFilter{AccountID: id, State: backoffice.ApprovalPending})
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
	if found, err := s.admin.bo.FindCustomers(ctx, strconv.FormatInt(id, 10), actor(c)); err == nil {
		for _, f := range found {
			if f.Account.ID == id {
				v.Login = f.User.Login()
			}
		}
	}
	if err := s.customerOverview(c, acc, &v); err != nil {
		return v, err
	}
	if err := s.planCompForm(c, acc.PoolID, &v); err != nil {
		return v, err
	}
	if err := s.subscriptionPanel(c, acc, &v); err != nil {
		return v, err
	}
	if v.Entitlements, err = s.customerEntitlements(c, id); err != nil {
		return v, err
	}
	if err := s.customerAccess(c, acc, &v); err != nil {
		return v, err
	}
	if err := s.customerPrices(c, acc, &v); err != nil {
		return v, err
	}
	if err := s.customerCredit(c, acc, &v); err != nil {
		return v, err
	}
	if acc.ID == acc.PoolID { // invoices are a pool's
		info, err := s.kyc.invoicing.AccountBasis(ctx, acc.ID)
		if err != nil {
			return v, err
		}
		v.Basis = string(info.Current)
		if info.Next != nil {
			v.NextBasis, v.NextBasisFrom = string(info.Next.Basis), &info.Next.EffectiveFrom
		}
		if auth.HasAnyRole(staff, invoiceRoles...) {
			v.BasisURL = s.URL("admin.invoices") + "?basis_account=" + strconv.FormatInt(acc.ID, 10)
		}
	}
	if acc.Kind == ledger.AccountEnterprise {
		members, err := s.team.Members(ctx, acc.ID)
		if err != nil {
			return v, err
		}
		for _, m := range members {
			login := m.Email
			if login == "" {
				login = m.Phone
			}
			v.Team = append(v.Team, adminview.CustomerMemberRow{Login: login, Role: string(m.Role), Limit: m.Limit, Since: m.CreatedAt})
		}
	}
	for _, k := range []ledger.LotKind{ledger.LotPaid, ledger.LotPromo, ledger.LotPlan, ledger.LotGrace} {
		v.Buckets = append(v.Buckets, adminview.Bucket{Kind: string(k), Amount: bal.ByKind[k]})
	}
	if bal.Line.IsPositive() { // the unused credit line; Available above is net of the line
		v.Buckets = append(v.Buckets, adminview.Bucket{Kind: string(ledger.LotCredit), Amount: bal.LineLeft})
	}
	lang := i18n.Lang(ctx)
	allReasons, err := s.admin.bo.ReasonCodes(ctx, true)
	if err != nil {
		return v, err
	}
	reasonLabels := map[string]string{}
	for _, r := range allReasons {
		reasonLabels[r.Code] = r.Label(lang)
	}
	for _, l := range bal.Lots {
		v.Lots = append(v.Lots, adminview.LotRow{ID: l.ID, Kind: string(l.Kind), Amount: l.Amount, Remaining: l.Remaining,
			ExpiresAt: l.ExpiresAt, Source: l.SourceRef, Reason: l.ReasonCode, ReasonLabel: reasonLabels[l.ReasonCode]})
	}
	for _, e := range evs {
		v.Events = append(v.Events, adminview.EventRow{At: e.RecordedAt, Type: string(e.Type), Amount: e.Amount, Balance: e.BalanceAfter, Source: e.SourceRef})
	}
	for _, r := range reasons {
		v.Grant.Reasons = append(v.Grant.Reasons, adminview.Option{Value: r.Code, Label: r.Label(lang)})
	}
	return v, nil
}

// customerOverview adds the account's facts, recent orders and invoices,
// verification state and sub-accounts to v; links go only where the
// staff user's roles reach.
func (s *Server) customerOverview(c echo.Context, acc ledger.Account, v *adminview.CustomerView) error {
	o, err := s.admin.bo.CustomerOverview(c.Request().Context(), actor(c), acc.ID)
	if err != nil {
		return err
	}
	staff := staffFrom(c)
	v.Facts = adminview.CustomerFacts{Kind: string(acc.Kind), Mode: string(acc.Mode), CreatedAt: acc.CreatedAt}
	if acc.ExternalID != nil {
		v.Facts.ExternalID = *acc.ExternalID
	}
	if acc.ParentID != nil {
		v.Facts.ParentID = *acc.ParentID
	}
	if auth.HasAnyRole(staff, auth.RoleAdmin, auth.RoleFinance) {
		v.Facts.AuditURL = s.URL("admin.audit") + "?account=" + strconv.FormatInt(acc.ID, 10)
	}
	for _, r := range o.Orders {
		v.Orders = append(v.Orders, adminview.CustomerOrderRow{OrderNo: r.OrderNo, Amount: r.AmountRMB, Channel: r.Channel, State: r.State,
			CreatedAt: r.CreatedAt, Bill: s.orderBillLink(acc.ID, r.Bill)})
	}
	for _, r := range o.Invoices {
		row := adminview.CustomerInvoiceRow{ID: r.ID, Number: r.Number, Kind: r.Kind, State: r.State, Amount: r.AmountRMB, RequestedAt: r.RequestedAt}
		if s.kyc.invoicing != nil && auth.HasAnyRole(staff, invoiceRoles...) {
			row.URL = s.URL("admin.invoice.detail") + "?id=" + strconv.FormatInt(r.ID, 10)
		}
		v.Invoices = append(v.Invoices, row)
	}
	v.Verification = adminview.CustomerVerification{State: o.Verification.State, Subject: o.Verification.Subject,
		Submissions: o.Verification.Submissions, DecidedAt: o.Verification.DecidedAt}
	if o.Verification.Submissions > 0 && s.kyc.verification != nil && auth.HasAnyRole(staff, kycRoles...) {
		v.Verification.URL = s.URL("admin.kyc.detail") + "?account=" + strconv.FormatInt(acc.PoolID, 10)
	}
	for _, r := range o.Subs {
		row := adminview.CustomerSubRow{AccountID: r.AccountID, Name: r.Name, Status: r.Status, Available: r.Available}
		if r.Allocation.Valid {
			a := r.Allocation.Decimal
			row.Allocation = &a
		}
		v.Subs = append(v.Subs, row)
	}
	return nil
}

// AdminGrant grants promo credit: applied at once within the per-grant
// limit and today's allowance, the rest (or all of it) queued for a
// finance approval.
func (s *Server) AdminGrant(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	f := adminview.GrantForm{Amount: strings.TrimSpace(c.FormValue("amount")), ExpiresAt: strings.TrimSpace(c.FormValue("expires_at")),
		ReasonCode: c.FormValue("reason_code"), Note: strings.TrimSpace(c.FormValue("note")), Key: c.FormValue("idempotency_key"),
		Reasons: v.Grant.Reasons, Allowance: v.Grant.Allowance, Errors: adminview.Errors{}}
	// An amount or a date that cannot be read is passed as zero, which the
	// back office refuses with every other failed field at once.
	amount, _ := format.ParseDecimal(f.Amount)
	expires, _ := endOfDay(f.ExpiresAt)
	res, err := s.admin.bo.Grant(c.Request().Context(), backoffice.GrantRequest{AccountID: v.AccountID, Amount: amount, ExpiresAt: expires,
		ReasonCode: f.ReasonCode, Note: f.Note, Actor: actor(c), IdempotencyKey: f.Key})
	if err == nil {
		done := "grant"
		switch {
		case res.Applied && res.Waiting():
			done = "split"
		case res.Waiting():
			done = "pending"
		}
		return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done="+done)
	}
	errs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	f.Errors = errs
	v.Grant = f
	return Render(c, status, adminview.Customer(v), adminview.GrantFormPart(v))
}

// AdminFreeze freezes the account with a required reason.
func (s *Server) AdminFreeze(c echo.Context) error { return s.freeze(c, true) }

// AdminUnfreeze makes a frozen account active again, with a reason.
func (s *Server) AdminUnfreeze(c echo.Context) error { return s.freeze(c, false) }

func (s *Server) freeze(c echo.Context, freeze bool) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	op, done := s.admin.bo.Unfreeze, "unfreeze"
	if freeze {
		op, done = s.admin.bo.Freeze, "freeze"
	}
	err = op(c.Request().Context(), v.AccountID, reason, actor(c))
	if err == nil {
		return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done="+done)
	}
	errs, _, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	v.Freeze = adminview.FreezeForm{Reason: reason, Errors: errs}
	return Render(c, http.StatusUnprocessableEntity, adminview.Customer(v), adminview.FreezeFormPart(v))
}

// endOfDay reads a 2006-01-02 date as the last second of that day in
// Asia/Shanghai (an expiry "on" a date lasts through it).
func endOfDay(s string) (time.Time, bool) {
	t, ok := shanghaiDate(s)
	if !ok {
		return time.Time{}, false
	}
	return t.AddDate(0, 0, 1).Add(-time.Second), true
}
