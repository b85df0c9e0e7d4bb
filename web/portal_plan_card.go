package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	pv "github.com/seed75218f88/credits/views/portal"
)

// planCard is the overview's card of the pool's plan in force, read fresh
// (quota windows move without ledger events, so the overview's caches do
// not hold it); nil without a plan.
func (s *Server) planCard(c echo.Context) (*pv.PlanCard, error) {
	ctx := c.Request().Context()
	cu := customerOf(c)
	sub, err := s.plans.subs.Current(ctx, cu.Account.PoolID)
	if errors.Is(err, plans.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := s.plans.catalogue.Version(ctx, sub.PlanCode, sub.PlanVersion)
	if err != nil {
		return nil, err
	}
	pref, err := s.plans.quotas.Preference(ctx, cu.Account.PoolID)
	if err != nil {
		return nil, err
	}
	windows, err := s.plans.quotas.Usage(ctx, cu.Account.PoolID)
	if err != nil {
		return nil, err
	}
	card := &pv.PlanCard{Name: planName(p, i18n.Lang(ctx) == "en"), PeriodEnd: sub.Period.End, TermEnd: sub.TermEnd,
		Renews: sub.State == plans.Active, Preference: string(pref), CanChoose: cu.Account.Kind != ledger.AccountSub}
	for _, w := range windows {
		b := pv.QuotaBar{Item: w.Item.Key(), Quota: planQuota(w.Quota), Used: w.Used, ResetAt: w.ResetAt}
		if w.Quota.Limit > 0 {
			b.Percent = int(min(100, w.Used*100/w.Quota.Limit))
		}
		if f := w.Forecast; f != nil {
			b.RunsOut, b.RunsOutAt, b.Lasts = f.BeforeReset, f.At, !f.BeforeReset
		}
		card.Bars = append(card.Bars, b)
	}
	for _, o := range plans.Preferences {
		card.Preferences = append(card.Preferences, pv.Option{Value: string(o), Label: i18n.T(ctx, "plancard.pref."+string(o))})
	}
	return card, nil
}

// PlanPreference sets the pool's billing preference (who pays, not a
// department) and answers the plan card again; a value not offered is a
// field error on the card.
func (s *Server) PlanPreference(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	if cu.Account.Kind == ledger.AccountSub {
		return echo.NewHTTPError(http.StatusForbidden)
	}
	pref, perr := plans.ParsePreference(c.FormValue("preference"))
	if perr == nil {
		if err := s.plans.quotas.SetPreference(ctx, cu.Account.PoolID, pref, "customer:"+cu.User.Email); err != nil {
			return err
		}
	}
	card, err := s.planCard(c)
	if err != nil {
		return err
	}
	if card == nil {
		return HXRedirect(c, s.URL("portal.overview"))
	}
	status := http.StatusOK
	if perr != nil {
		card.Error, status = i18n.T(ctx, "error.field.invalid_preference"), http.StatusUnprocessableEntity
	} else {
		card.Saved = true
	}
	if !IsHTMX(c) {
		if perr != nil {
			return perr
		}
		return c.Redirect(http.StatusSeeOther, s.URL("portal.overview"))
	}
	return Render(c, status, pv.PlanCardSection(*card), nil)
}

// planQuota is a quota as the plan pages show it.
func planQuota(q plans.Quota) pv.PlanQuota {
	return pv.PlanQuota{Unit: string(q.Unit), Window: string(q.Window.Kind), Hours: q.Window.Hours, Limit: q.Limit}
}
