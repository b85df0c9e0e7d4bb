package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// AdminRoute is one back-office route and the roles that may use it. Every
// /admin route is registered through adminRoute, so this table is complete
// and the role test walks it.
type AdminRoute struct {
	Method, Path, Name string
	Roles              []auth.Role
}

const staffKey = "admin.staff"

// adminRoutes registers the back office under /admin. Areas add their own
// function (s.adminGrantRoutes(g), …) with one line here.
func (s *Server) adminRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "", "admin.home", s.AdminHome, auth.AllRoles...)
	s.adminCustomerRoutes(g)
	s.adminApprovalRoutes(g)
	s.adminStatementRoutes(g)
	s.adminAuditRoutes(g)
	s.adminCodeRoutes(g)
	s.adminFinanceRoutes(g)
	s.adminReviewRoutes(g)
	s.adminJournalRoutes(g)
	s.adminCostRoutes(g)
	s.adminAnalyticsRoutes(g)
	s.adminStaffRoutes(g)
	s.adminTOTPRoutes(g)
	s.adminKeyRoutes(g)
	s.adminWebhookRoutes(g)
	s.adminUsageDLQRoutes(g)
	s.adminReasonRoutes(g)
	s.adminChannelRoutes(g)
	s.adminKYCRoutes(g)
	s.adminBusinessSettingsRoutes(g)
	s.adminPlanRoutes(g)
	s.adminProductRoutes(g)
	s.adminSubscriptionRoutes(g)
	s.adminUpstreamRoutes(g)
}

// adminRoute registers one back-office route that only the named roles reach.
func (s *Server) adminRoute(g *echo.Group, method, path, name string, h echo.HandlerFunc, roles ...auth.Role) {
	named(g.Add(method, path, h, requireRole(roles...)), name)
	s.adminTable = append(s.adminTable, AdminRoute{Method: method, Path: "/admin" + path, Name: name, Roles: roles})
}

// AdminRoutes lists every back-office route with its roles.
func (s *Server) AdminRoutes() []AdminRoute { return append([]AdminRoute(nil), s.adminTable...) }

// requireStaff admits signed-in, enabled staff. Visitors go to the sign-in
// page; customers get 404, as if the back office did not exist.
func (s *Server) requireStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, ok, err := s.sessionUser(c)
		if err != nil {
			return err
		}
		if !ok {
			u := s.URL("auth.signin")
			if c.Request().Method == http.MethodGet && !IsHTMX(c) {
				u += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			}
			return HXRedirect(c, u)
		}
		if u.Disabled || !u.IsStaff() {
			return echo.ErrNotFound
		}
		if u.TOTPEnrolled && !s.Sessions.GetBool(c.Request().Context(), sessionTOTPKey) {
			// Signed in without the code (a password reset link): ask for it.
			return s.startTOTP(c, u)
		}
		c.Set(staffKey, u)
		if !u.TOTPEnrolled && s.portal.auth.TwoFactorRequired(u) && !strings.HasPrefix(c.Path(), "/admin/totp") {
			// Admin and finance enrol an authenticator before anything else.
			return HXRedirect(c, s.URL("admin.totp"))
		}
		return next(c)
	}
}

// requireRole answers 403 to staff holding none of roles.
func requireRole(roles ...auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !auth.HasAnyRole(staffFrom(c), roles...) {
				return echo.ErrForbidden
			}
			return next(c)
		}
	}
}

// staffFrom is the signed-in staff user (set by requireStaff).
func staffFrom(c echo.Context) auth.User {
	u, _ := c.Get(staffKey).(auth.User)
	return u
}

// adminFrame is the view model every back-office page starts from.
func adminFrame(c echo.Context, active string) adminview.Frame {
	u := staffFrom(c)
	roles := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		roles[i] = string(r)
	}
	return adminview.Frame{Active: active, Login: u.Login(), Roles: roles}
}

// AdminHome is the back office's start page: the work waiting in each queue
// this user's roles reach, each linking to it, and today's money in and out.
func (s *Server) AdminHome(c echo.Context) error {
	w, err := s.admin.bo.WorkCounts(c.Request().Context())
	if err != nil {
		return err
	}
	reviews, err := s.pay.svc.ReviewCount(c.Request().Context())
	if err != nil {
		return err
	}
	queue := func(route, key string, n int) adminview.HomeQueue {
		return adminview.HomeQueue{Section: adminview.SectionFor(route), Key: key, Count: n}
	}
	v := adminview.HomeView{
		Queues: []adminview.HomeQueue{
			queue("admin.statements", "admin.home.queue.unmatched", w.UnmatchedLines),
			queue("admin.approvals", "admin.home.queue.approvals", w.PendingApprovals),
			queue("admin.invoices", "admin.home.queue.invoices", w.InvoicesToIssue),
			queue("admin.refunds", "admin.home.queue.refunds", w.RefundRequests),
			queue("admin.reviews", "admin.home.queue.reviews", reviews),
			queue("admin.kyc", "admin.home.queue.kyc", w.VerificationsReview),
		},
		Day:     w.Day.Format("2006-01-02"),
		MoneyIn: w.MoneyIn, MoneyOut: w.MoneyOut,
		BankMissing: !s.pay.svc.BankAccount().Configured(),
		Settings:    adminview.SectionFor("admin.settings"),
	}
	if s.UsageStream != nil { // usage through JetStream: the events it could not charge
		if n, err := s.UsageStream.DeadLetterCount(c.Request().Context()); err == nil {
			v.Queues = append(v.Queues, queue("admin.usage_dlq", "admin.home.queue.usage_dlq", int(n)))
		}
	}
	return Render(c, http.StatusOK, adminview.Home(adminFrame(c, "admin.home"), v), nil)
}
