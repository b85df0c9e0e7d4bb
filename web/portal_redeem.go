package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalRedeemRoutes: the customer's redemption code (兑换码) form.
func (s *Server) portalRedeemRoutes(g *echo.Group) {
	named(g.GET("/redeem", s.RedeemForm), "portal.redeem")
	named(g.POST("/redeem", s.Redeem), "portal.redeem.post")
}

// RedeemForm shows the form.
func (s *Server) RedeemForm(c echo.Context) error {
	return Render(c, http.StatusOK, pv.Redeem(pv.RedeemView{Frame: s.frame(c, "portal.redeem")}), nil)
}

// Redeem redeems a code for the signed-in customer's account: a promo lot.
// Wrong, used or expired codes are shown next to the field (422), too many
// failures 429.
func (s *Server) Redeem(c echo.Context) error {
	cu := customerOf(c)
	v := pv.RedeemView{Frame: s.frame(c, "portal.redeem"), Code: c.FormValue("code")}
	r, err := s.admin.bo.Redeem(c.Request().Context(), cu.Account.ID, v.Code, ClientIP(c))
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v.Error = errs["code"]
		if msg, ok := errs[""]; ok && v.Error == "" { // the account's state, not the code (a plan in force)
			v.Error = msg
		}
		return Render(c, status, pv.Redeem(v), nil)
	}
	v.Code = ""
	v.Done = true
	v.Amount = r.Lot.Amount
	if sub := r.Subscription; sub != nil {
		p, err := s.plans.catalogue.Version(c.Request().Context(), sub.PlanCode, sub.PlanVersion)
		if err != nil {
			return err
		}
		v.Plan, v.PlanUntil = planName(p, i18n.Lang(c.Request().Context()) == "en"), format.Time(sub.TermEnd)
		return Render(c, http.StatusOK, pv.Redeem(v), nil)
	}
	if r.Lot.ExpiresAt != nil {
		v.Expires = format.Time(*r.Lot.ExpiresAt)
	}
	return Render(c, http.StatusOK, pv.Redeem(v), nil)
}
