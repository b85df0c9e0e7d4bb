package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/team"
	"github.com/seed75218f88/credits/internal/usage"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalRoutes registers the customer portal under /portal; every route
// runs behind requireCustomer.
func (s *Server) portalRoutes(g *echo.Group) {
	named(g.GET("", s.Overview), "portal.overview")
	named(g.GET("/usage", s.Usage), "portal.usage")
	named(g.GET("/usage/rows", s.UsageRows), "portal.usage.rows")
	named(g.GET("/usage/chart.json", s.UsageChart), "portal.usage.chart")
	named(g.GET("/usage.csv", s.UsageCSV), "portal.usage.csv")
	named(g.GET("/transactions", s.Transactions), "portal.transactions")
	named(g.GET("/transactions/rows", s.TransactionRows), "portal.transactions.rows")
	named(g.GET("/transactions.csv", s.TransactionsCSV), "portal.transactions.csv")
	named(g.GET("/accounts", s.SubAccounts), "portal.accounts")
	named(g.POST("/accounts", s.CreateSubAccount), "portal.accounts.create")
	named(g.POST("/accounts/transfers", s.TransferAllocation), "portal.accounts.transfer")
	named(g.GET("/accounts/:id", s.SubAccountPage), "portal.account")
	named(g.POST("/accounts/:id", s.UpdateSubAccount), "portal.account.update")
	named(g.POST("/accounts/:id/models", s.SetSubAccountModels), "portal.account.models")
	named(g.GET("/password", s.PasswordForm), "portal.password")
	named(g.POST("/password", s.SetPassword), "portal.password.post")
	named(g.GET("/alerts", s.Alerts), "portal.alerts")
	named(g.POST("/alerts", s.SaveAlerts), "portal.alerts.save")
	named(g.GET("/plans", s.Plans), "portal.plans")
	named(g.POST("/plans/buy", s.PlanBuy), "portal.plans.buy")
	named(g.GET("/products", s.Products), "portal.products")
	named(g.POST("/products/buy", s.ProductBuy), "portal.products.buy")
	named(g.POST("/plan/preference", s.PlanPreference), "portal.plan.preference")
	named(g.POST("/plans/renew", s.PlanRenew), "portal.plans.renew")
	named(g.POST("/plans/change", s.PlanChange), "portal.plans.change")
	named(g.POST("/plans/withdraw", s.PlanWithdraw), "portal.plans.withdraw")
	named(g.POST("/plans/cancel", s.PlanCancel), "portal.plans.cancel")
	named(g.POST("/plans/resume", s.PlanResume), "portal.plans.resume")
	named(g.POST("/plans/refund", s.PlanRefundRequest), "portal.plans.refund")
	named(g.POST("/plans/refund-upgrade", s.UpgradeRefundRequest), "portal.plans.refund_upgrade")
	s.portalRedeemRoutes(g)
	s.portalKYCRoutes(g)
	s.portalBudgetRoutes(g)
	s.portalKeyRoutes(g)
	s.portalInviteRoutes(g)
	named(g.POST("/switch", s.PortalSwitch), "portal.switch")
	s.portalTeamRoutes(g)
	s.portalStatementRoutes(g)
	s.portalBillRoutes(g)
}

// customer is the signed-in customer, the ledger account they act on (their
// own, or an enterprise they are a member of, chosen with the account
// switch) and what they may do there.
type customer struct {
	User    auth.User
	Account ledger.Account
	// Access is the user's role on Account and the sub-accounts it is
	// limited to (team.Resolve); authorizePortal checks the role.
	Access team.Access
}

const customerKey = "portal.customer"

// sessionAccountKey keeps the account the user switched to (POST
// /portal/switch); absent, the portal shows the user's own account.
const sessionAccountKey = "portal.account_id"

// requireCustomer resolves the signed-in customer from the session (never
// from the URL): visitors go to the sign-in page, staff to /admin. The
// account is the one chosen in the session when the user may still act on
// it (a removed member falls back at once), else the user's own, else the
// first enterprise it is a member of.
func (s *Server) requireCustomer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		toSignIn := func() error {
			u := s.URL("auth.signin")
			if c.Request().Method == http.MethodGet && !IsHTMX(c) {
				u += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			}
			return HXRedirect(c, u)
		}
		u, ok, err := s.sessionUser(c)
		if err != nil {
			return err
		}
		if !ok {
			return toSignIn()
		}
		if u.Disabled {
			s.Sessions.Remove(ctx, sessionUserKey)
			return toSignIn()
		}
		if u.Kind == auth.KindStaff {
			return HXRedirect(c, "/admin")
		}
		access, err := s.currentAccess(c, u)
		if err != nil {
			return err
		}
		acc, err := s.portal.ledger.Account(ctx, access.AccountID)
		if err != nil {
			return err
		}
		c.Set(customerKey, customer{User: u, Account: acc, Access: access})
		return next(c)
	}
}

// currentAccess is the account u acts on in this session and its role
// there (see requireCustomer). Errors: team.ErrNotMember when u may act on
// no account at all.
func (s *Server) currentAccess(c echo.Context, u auth.User) (team.Access, error) {
	ctx := c.Request().Context()
	if want := s.Sessions.GetInt64(ctx, sessionAccountKey); want != 0 && want != u.AccountID {
		a, err := s.team.Resolve(ctx, u.ID, u.AccountID, want)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, team.ErrNotMember) {
			return team.Access{}, err
		}
		s.Sessions.Remove(ctx, sessionAccountKey)
	}
	if u.AccountID != 0 {
		a, err := s.team.Resolve(ctx, u.ID, u.AccountID, u.AccountID)
		if !errors.Is(err, team.ErrNotMember) {
			return a, err
		}
	}
	choices, err := s.team.Accounts(ctx, u.ID, u.AccountID)
	if err != nil {
		return team.Access{}, err
	}
	if len(choices) == 0 {
		return team.Access{}, team.ErrNotMember
	}
	return s.team.Resolve(ctx, u.ID, u.AccountID, choices[0].AccountID)
}

func customerOf(c echo.Context) customer { return c.Get(customerKey).(customer) }

// frame is the portal frame's view model for the signed-in customer.
func (s *Server) frame(c echo.Context, active string) pv.Frame {
	cu := customerOf(c)
	f := pv.Frame{
		Active:      active,
		AccountID:   cu.Account.ID,
		AccountName: cu.Account.Name,
		Login:       cu.User.Login(),
		Enterprise:  cu.Account.Kind == ledger.AccountEnterprise,
		Sub:         cu.Account.Kind == ledger.AccountSub,
		NoPassword:  !cu.User.HasPassword,
		Role:        string(cu.Access.Role),
		Allowed:     cu.may,
	}
	// The switcher lists the user's accounts; without it the page still
	// works, so a failed read only hides it.
	if choices, err := s.team.Accounts(c.Request().Context(), cu.User.ID, cu.User.AccountID); err == nil {
		for _, ch := range choices {
			f.Accounts = append(f.Accounts, pv.AccountChoice{ID: ch.AccountID, Name: ch.Name, Role: string(ch.Role),
				Current: ch.AccountID == cu.Account.ID})
		}
	}
	return f
}

// scope is what the customer may read: an individual or enterprise its whole
// pool, a sub-account its own rows.
func (cu customer) scope() usage.Scope {
	sc := usage.Scope{PoolID: cu.Account.PoolID}
	if cu.Account.Kind == ledger.AccountSub {
		sc.AccountID = cu.Account.ID
	}
	return sc
}

// Overview shows the balance by bucket, the expiry schedule, the low-balance
// banner and the latest ledger events.
func (s *Server) Overview(c echo.Context) error {
	cu := customerOf(c)
	d, err := s.overviewData(c, cu)
	if err != nil {
		return err
	}
	bal, evs := d.balance, d.events
	// What the account owns: with a credit line, available less the line,
	// negative while in debt (the unused line is a bucket below).
	v := pv.OverviewView{
		Frame:     s.frame(c, "portal.overview"),
		Available: bal.Own(),
		Reserved:  bal.Reserved,
		ValueRMB:  ledger.RMBForCredits(bal.Own(), s.portal.price),
		Welcome:   c.QueryParam("welcome") != "",
		Events:    eventRows(evs),
		Runway:    pv.Runway{Days: d.runway.Days, OK: d.runway.OK},
	}
	if bal.Allocation != nil {
		v.Allocation = bal.Allocation
	}
	if v.Plan, err = s.planCard(c); err != nil {
		return err
	}
	for _, k := range []ledger.LotKind{ledger.LotPaid, ledger.LotPromo, ledger.LotPlan, ledger.LotGrace} {
		b := pv.Bucket{Kind: string(k), Amount: bal.ByKind[k]}
		for _, l := range bal.Lots {
			if l.Kind == k && l.ExpiresAt != nil && (b.NextExpiry == nil || l.ExpiresAt.Before(*b.NextExpiry)) {
				t := *l.ExpiresAt
				b.NextExpiry = &t
			}
		}
		v.Buckets = append(v.Buckets, b)
	}
	if bal.Line.IsPositive() {
		v.Buckets = append(v.Buckets, pv.Bucket{Kind: string(ledger.LotCredit), Amount: bal.LineLeft})
	}
	for _, e := range bal.Expiring {
		v.Expiring = append(v.Expiring, pv.Expiry{At: e.At, Amount: e.Amount})
	}
	if cu.Access.Limited() { // the pool's latest events are other departments' too
		v.Events = nil
	}
	v.Low = lowBalance(bal)
	if v.Tier, err = s.tierCard(c, cu.Account); err != nil {
		return err
	}
	return Render(c, http.StatusOK, pv.Overview(v), nil)
}

// lowBalance is the banner level: "critical" under 5 % and "low" under 20 %
// of the credit the account's current lots started with.
func lowBalance(b ledger.Balance) string {
	var start decimal.Decimal
	for _, l := range b.Lots {
		start = start.Add(l.Amount)
	}
	if !start.IsPositive() {
		if b.Available.IsZero() {
			return "critical"
		}
		return ""
	}
	pct := b.Available.Mul(decimal.NewFromInt(100)).Div(start)
	switch {
	case pct.LessThan(decimal.NewFromInt(5)):
		return "critical"
	case pct.LessThan(decimal.NewFromInt(20)):
		return "low"
	}
	return ""
}

// LateEventShown is how much earlier than its recording a call must have
// happened for the transactions list to show both times.
const LateEventShown = time.Minute

func eventRows(evs []ledger.Event) []pv.EventRow {
	out := make([]pv.EventRow, 0, len(evs))
	for _, e := range evs {
		// Listed in the order the ledger recorded them, at that time (the
		// clock the day balance uses too); a late usage event also says when
		// the call happened.
		r := pv.EventRow{ID: e.ID, At: e.At, Type: string(e.Type), Amount: e.Amount, Balance: e.BalanceAfter,
			Unpaid: e.Unpaid, Source: e.SourceRef, Reason: e.ReasonCode, Model: e.Model, OpID: e.OpID}
		if occurred := e.OccurredAt; e.At.Sub(occurred) > LateEventShown {
			r.Occurred = &occurred
		}
		if e.LotKind != nil {
			r.LotKind = string(*e.LotKind)
		}
		out = append(out, r)
	}
	return out
}

// PasswordForm lets a customer (typically one who arrived by a portal link)
// set a password.
func (s *Server) PasswordForm(c echo.Context) error {
	return Render(c, http.StatusOK, pv.Password(pv.PasswordView{Frame: s.frame(c, "")}), nil)
}

// SetPassword sets or changes the password (the current one is needed when
// there is one).
func (s *Server) SetPassword(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	v := pv.PasswordView{Frame: s.frame(c, "")}
	password := c.FormValue("password")
	if password != c.FormValue("password_confirm") {
		v.Errors = fieldMessages(c, fielderr.One("web", "password_confirm", "password_mismatch"))
		return Render(c, http.StatusUnprocessableEntity, pv.Password(v), nil)
	}
	u, err := s.portal.auth.ChangePassword(ctx, cu.User.ID, c.FormValue("current"), password)
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v.Errors = errs
		return Render(c, status, pv.Password(v), nil)
	}
	// Every other session of the user is over (the epoch moved on); this
	// one goes on under a new token at the new epoch.
	if err := s.signIn(ctx, u); err != nil {
		return err
	}
	v.Done = true
	v.Frame.NoPassword = false
	return Render(c, http.StatusOK, pv.Password(v), nil)
}

// parseID reads a positive id; anything else is not found.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.ErrNotFound
	}
	return id, nil
}

// shanghaiDate parses a 2006-01-02 date as Asia/Shanghai midnight.
func shanghaiDate(s string) (time.Time, bool) {
	t, err := time.ParseInLocation("2006-01-02", s, format.Shanghai)
	return t, err == nil
}
