package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// accessRoles may change a customer's model allow-list.
var accessRoles = []auth.Role{auth.RoleSupport, auth.RoleAdmin}

func (s *Server) adminAccessRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodPost, "/customers/:id/models", "admin.customer.models", s.AdminSetModels, accessRoles...)
	s.adminRoute(g, http.MethodPost, "/customers/:id/enforcement", "admin.customer.enforcement", s.AdminSetEnforcement, auth.RoleAdmin)
}

// customerAccess adds the access panel (the account's allow-list, its
// enterprise's, the form) to v.
func (s *Server) customerAccess(c echo.Context, acc ledger.Account, v *adminview.CustomerView) error {
	ctx := c.Request().Context()
	a := &adminview.CustomerAccess{CanEdit: auth.HasAnyRole(staffFrom(c), accessRoles...)}
	var err error
	if a.Models, err = s.access.Models(ctx, acc.ID); err != nil {
		return err
	}
	if acc.ParentID != nil {
		if a.Parent, err = s.access.Models(ctx, *acc.ParentID); err != nil {
			return err
		}
	}
	if a.Choices, err = s.access.Catalogue(ctx); err != nil {
		return err
	}
	a.Checked = a.Models
	a.CanSetMode = auth.HasAnyRole(staffFrom(c), auth.RoleAdmin)
	if acc.Enforcement != nil {
		a.Mode = string(*acc.Enforcement)
	}
	a.Effective = string(s.effectiveMode(c, acc))
	n, rows, err := s.admin.ledger.ShadowRefusals(ctx, acc.ID, 10)
	if err != nil {
		return err
	}
	a.Shadow = n
	for _, r := range rows {
		a.ShadowRows = append(a.ShadowRows, adminview.ShadowRow{At: r.At, Op: r.Op, Code: r.Code, Amount: r.Amount, Model: r.Model})
	}
	v.Access = a
	return nil
}

// effectiveMode is the enforcement mode in force for acc: its own, else
// its enterprise's, else the global setting.
func (s *Server) effectiveMode(c echo.Context, acc ledger.Account) ledger.Enforcement {
	if acc.Enforcement != nil {
		return *acc.Enforcement
	}
	if acc.ParentID != nil {
		if p, err := s.admin.ledger.Account(c.Request().Context(), *acc.ParentID); err == nil && p.Enforcement != nil {
			return *p.Enforcement
		}
	}
	return s.admin.settings.Current().EnforcementMode()
}

// AdminSetEnforcement sets a customer's own enforcement mode (empty: it
// follows its enterprise or the global setting); audited by
// internal/access.
func (s *Server) AdminSetEnforcement(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	var mode *ledger.Enforcement
	if m := ledger.Enforcement(c.FormValue("enforcement")); m != "" {
		if !m.Valid() {
			return echo.ErrBadRequest
		}
		mode = &m
	}
	staff := staffFrom(c)
	if err := s.access.SetEnforcement(c.Request().Context(), access.Actor{Kind: backoffice.ActorStaff, UserID: staff.ID,
		Email: staff.Email, IP: ClientIP(c)}, v.AccountID, mode); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done=enforcement")
}

// AdminSetModels replaces a customer's model allow-list (none ticked:
// every model); audited by internal/access.
func (s *Server) AdminSetModels(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return err
	}
	models := access.ParseModels(c.Request().PostForm["models"]...)
	staff := staffFrom(c)
	err = s.access.SetModels(c.Request().Context(), access.Actor{Kind: backoffice.ActorStaff, UserID: staff.ID,
		Email: staff.Email, IP: ClientIP(c)}, 0, v.AccountID, models)
	if err == nil {
		return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done=models")
	}
	errs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	v.Access.Checked, v.Access.Error = models, errs["models"]
	return Render(c, status, adminview.Customer(v), adminview.CustomerAccessPart(v))
}
