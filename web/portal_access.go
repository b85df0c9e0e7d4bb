package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/usage"
	pv "github.com/seed75218f88/credits/views/portal"
)

// subModels fills a department's allow-list form: the enterprise's
// allowed models to choose from, the department's list ticked.
func (s *Server) subModels(c echo.Context, sub usage.SubAccount, f *pv.SubModelsForm) error {
	ctx := c.Request().Context()
	own, err := s.access.Models(ctx, sub.ID)
	if err != nil {
		return err
	}
	cu := customerOf(c)
	parent, err := s.access.Models(ctx, cu.Account.ID)
	if err != nil {
		return err
	}
	if f.Choices = parent; parent == nil {
		if f.Choices, err = s.access.Catalogue(ctx); err != nil {
			return err
		}
	}
	if f.Checked == nil && f.Error == "" {
		f.Checked = own
	}
	return nil
}

// SetSubAccountModels replaces a department's model allow-list (POST
// /portal/accounts/:id/models; none ticked: every model the enterprise
// may call); audited by internal/access as the owner's action.
func (s *Server) SetSubAccountModels(c echo.Context) error {
	cu, sub, err := s.subAccountOf(c)
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return err
	}
	models := access.ParseModels(c.Request().PostForm["models"]...)
	err = s.access.SetModels(c.Request().Context(), access.Actor{Kind: backoffice.ActorCustomer, UserID: cu.User.ID,
		Email: cu.User.Login(), IP: ClientIP(c)}, cu.Account.ID, sub.ID, models)
	var m pv.SubModelsForm
	status := http.StatusOK
	if err == nil {
		m.Saved = true
	} else {
		errs, st, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		status, m.Checked, m.Error = st, models, errs["models"]
		if m.Checked == nil {
			m.Checked = []string{}
		}
	}
	v, err := s.subAccountView(c, sub, pv.SubAccountForm{}, false, m)
	if err != nil {
		return err
	}
	return Render(c, status, pv.SubAccount(v), pv.SubModelsPart(v))
}
