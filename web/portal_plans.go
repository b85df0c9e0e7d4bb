package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	pv "github.com/seed75218f88/credits/views/portal"
)

// plansArea is what the plan pages need: the catalogue, the subscriptions
// and the ledger (a plan lot's remaining credits).
type plansArea struct {
	catalogue *plans.Service
	subs      *plans.Subscriptions
	ledger    *ledger.Ledger
}

// Plans shows the plan comparison and the customer's current plan (its
// pool's: an enterprise's plan covers its departments).
func (s *Server) Plans(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	cat, err := s.plans.catalogue.Catalogue(ctx)
	if err != nil {
		return err
	}
	en := i18n.Lang(ctx) == "en"
	v := pv.PlansView{Frame: s.frame(c, "portal.plans")}
	sub, err := s.plans.subs.Current(ctx, cu.Account.PoolID)
	switch {
	case errors.Is(err, plans.ErrNotFound):
	case err != nil:
		return err
	default:
		cur, err := s.currentPlan(c, sub, en)
		if err != nil {
			return err
		}
		v.Current = &cur
	}
	for _, p := range cat {
		v.Tiers = append(v.Tiers, planTier(p, en, v.Current != nil && p.Code == sub.PlanCode))
	}
	return Render(c, http.StatusOK, pv.Plans(v), nil)
}

// currentPlan is the subscription's view: its period, term and what is left
// of this month's plan lot.
func (s *Server) currentPlan(c echo.Context, sub plans.Current, en bool) (pv.CurrentPlan, error) {
	p, err := s.plans.catalogue.Version(c.Request().Context(), sub.PlanCode, sub.PlanVersion)
	if err != nil {
		return pv.CurrentPlan{}, err
	}
	g := sub.Grant
	cur := pv.CurrentPlan{Name: planName(p, en), PeriodStart: sub.Period.Start, PeriodEnd: sub.Period.End, TermEnd: sub.TermEnd,
		Renews: sub.State == plans.Active, Granted: g.Credits, Remaining: decimal.Zero}
	if g.LotID == 0 {
		return cur, nil
	}
	lots, err := s.plans.ledger.Lots(c.Request().Context(), sub.AccountID)
	if err != nil {
		return cur, err
	}
	for _, l := range lots {
		if l.ID == g.LotID {
			cur.Remaining = l.Remaining
		}
	}
	return cur, nil
}

// planTier is a catalogue plan in the user's language.
func planTier(p plans.Plan, en, current bool) pv.PlanTier {
	t := pv.PlanTier{Code: p.Code, Name: planName(p, en), Monthly: decimal.New(p.MonthlyPriceFen, -2),
		Yearly: decimal.New(p.YearlyPriceFen, -2), Credits: p.MonthlyCredits, RPM: p.RPM, TPM: p.TPM, Current: current}
	for _, f := range p.Features {
		if en {
			t.Features = append(t.Features, f.EN)
		} else {
			t.Features = append(t.Features, f.ZH)
		}
	}
	for _, it := range p.Items {
		item := pv.PlanItem{Name: it.Group}
		if item.Name == "" {
			item.Name = strings.Join(it.Models, ", ")
		}
		for _, q := range it.Quotas {
			item.Quotas = append(item.Quotas, pv.PlanQuota{Unit: string(q.Unit), Window: string(q.Window.Kind), Hours: q.Window.Hours, Limit: q.Limit})
		}
		t.Items = append(t.Items, item)
	}
	return t
}

func planName(p plans.Plan, en bool) string {
	if en {
		return p.NameEN
	}
	return p.NameZH
}
