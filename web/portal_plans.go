package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
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
	quotas    *plans.Quotas
}

// Plans shows the plan comparison and the customer's current plan (its
// pool's: an enterprise's plan covers its departments).
func (s *Server) Plans(c echo.Context) error {
	v, err := s.plansView(c)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, pv.Plans(v), nil)
}

// PlanBuy makes an order for a plan and sends the customer to the checkout
// pages of top-ups (QR, phone hand-off or bank transfer): an unverified
// account goes to the verification page first; a purchase refused (a plan
// in force, a channel down) re-renders the plans page (422) saying why.
func (s *Server) PlanBuy(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	if stop, err := s.purchaseGate(c, "portal.plans"); stop {
		return err
	}
	channel, mode := s.payChoice(c)
	o, _, err := s.pay.svc.CreatePlanOrder(ctx, cu.Account.ID, strings.TrimSpace(c.FormValue("plan")),
		strings.TrimSpace(c.FormValue("cycle")), channel, mode, s.phonePayer(c))
	if err == nil {
		return s.toCheckout(c, o)
	}
	key := ""
	switch {
	case errors.Is(err, payments.ErrPlanInForce):
		key = "plans.buy.error_in_force"
	case errors.Is(err, payments.ErrChannelUnavailable), errors.Is(err, payments.ErrChannel):
		key = "plans.buy.error_channel"
	case errors.Is(err, plans.ErrNotFound), errors.Is(err, plans.ErrInvalidTerm), errors.Is(err, payments.ErrInvalidArgument):
		key = "plans.buy.error_choice"
	default:
		return err
	}
	v, verr := s.plansView(c)
	if verr != nil {
		return verr
	}
	v.Buy.Error = i18n.T(ctx, key)
	return Render(c, http.StatusUnprocessableEntity, pv.Plans(v), nil)
}

// PlanRenew makes an order paying the due renewal of the customer's plan
// and sends the customer to the checkout pages, like PlanBuy; a renewal
// refused (none due, a channel down) re-renders the plans page (422).
func (s *Server) PlanRenew(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	if stop, err := s.purchaseGate(c, "portal.plans"); stop {
		return err
	}
	channel, mode := s.payChoice(c)
	o, _, err := s.pay.svc.CreateRenewalOrder(ctx, cu.Account.ID, channel, mode, s.phonePayer(c))
	if err == nil {
		return s.toCheckout(c, o)
	}
	key := ""
	switch {
	case errors.Is(err, payments.ErrNoRenewalDue):
		key = "plans.renewal.error_none"
	case errors.Is(err, payments.ErrChannelUnavailable), errors.Is(err, payments.ErrChannel):
		key = "plans.buy.error_channel"
	default:
		return err
	}
	v, verr := s.plansView(c)
	if verr != nil {
		return verr
	}
	if v.Current != nil && v.Current.Renewal != nil {
		v.Current.Renewal.Error = i18n.T(ctx, key)
	} else {
		v.Buy.Error = i18n.T(ctx, key)
	}
	return Render(c, http.StatusUnprocessableEntity, pv.Plans(v), nil)
}

// plansView is the plans page of the signed-in customer.
func (s *Server) plansView(c echo.Context) (pv.PlansView, error) {
	ctx := c.Request().Context()
	cu := customerOf(c)
	cat, err := s.plans.catalogue.Catalogue(ctx)
	if err != nil {
		return pv.PlansView{}, err
	}
	en := i18n.Lang(ctx) == "en"
	v := pv.PlansView{Frame: s.frame(c, "portal.plans")}
	sub, err := s.plans.subs.Current(ctx, cu.Account.PoolID)
	switch {
	case errors.Is(err, plans.ErrNotFound):
	case err != nil:
		return v, err
	default:
		cur, err := s.currentPlan(c, sub, en)
		if err != nil {
			return v, err
		}
		if cur.Refund, err = s.planRefundOffer(c, cu.Account.PoolID); err != nil {
			return v, err
		}
		if cur.UpgradeRefund, err = s.upgradeRefundOffer(c, cu.Account.PoolID, en); err != nil {
			return v, err
		}
		v.Current = &cur
	}
	for _, p := range cat {
		v.Tiers = append(v.Tiers, planTier(p, en, v.Current != nil && p.Code == sub.PlanCode))
	}
	v.Buy = s.planBuy(c)
	if v.Current != nil && v.Current.Renewal != nil {
		v.Current.Renewal.Channels, v.Current.Renewal.Mode = v.Buy.Channels, v.Buy.Mode
	}
	if v.Current != nil {
		if err := s.planChangeView(c, &v, sub, cat, en); err != nil {
			return v, err
		}
	}
	return v, nil
}

// planBuy is the buy form's channels: those available now (bank transfer
// only with a receiving account); none for a department, which does not pay.
func (s *Server) planBuy(c echo.Context) pv.PlanBuy {
	b := pv.PlanBuy{Mode: defaultMode(c)}
	if s.pay == nil || s.pay.svc == nil || customerOf(c).Account.Kind == ledger.AccountSub {
		return b
	}
	for _, ch := range payChannels {
		if s.pay.svc.Available(ch) {
			b.Channels = append(b.Channels, pv.PayChannel{Value: string(ch), Available: true})
		}
	}
	b.Open = len(b.Channels) > 0
	return b
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
		Renews: sub.State == plans.Active, Granted: g.Credits, Remaining: decimal.Zero, PastDue: sub.State == plans.PastDue}
	if sub.GraceUntil != nil {
		cur.GraceUntil = *sub.GraceUntil
	}
	if r := sub.Renewal; r != nil && r.PriceFen > 0 && sub.State != plans.Canceled {
		rp, err := s.plans.catalogue.Version(c.Request().Context(), r.PlanCode, r.PlanVersion)
		if err != nil {
			return cur, err
		}
		cur.Renewal = &pv.PlanRenewal{Name: planName(rp, en), Cycle: string(r.Cycle), Price: decimal.New(r.PriceFen, -2),
			PeriodStart: r.PeriodStart, PeriodEnd: r.PeriodEnd}
	}
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
			item.Quotas = append(item.Quotas, planQuota(q))
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

// planLabel names what a plan order buys, e.g. "基础版（按年）" or
// "Basic (Yearly)"; "" for a top-up.
func (s *Server) planLabel(c echo.Context, o payments.Order) (string, error) {
	if !o.IsPlan() {
		return "", nil
	}
	ctx := c.Request().Context()
	p, err := s.plans.catalogue.Version(ctx, o.PlanCode, o.PlanVersion)
	if err != nil {
		return "", err
	}
	key := "plans.order.label"
	if o.Purpose == payments.PurposePlanUpgrade {
		key = "plans.order.upgrade_label"
	}
	return i18n.Tf(ctx, key, map[string]string{"Plan": planName(p, i18n.Lang(ctx) == "en"),
		"Cycle": i18n.T(ctx, "plans.buy."+o.PlanCycle)}), nil
}
