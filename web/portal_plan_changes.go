package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/views/components"
	pv "github.com/seed75218f88/credits/views/portal"
)

// PlanChange changes the customer's plan (payments.ChangePlan): an upgrade
// that costs something goes to the checkout's QR or phone pages; a change
// made at once (a downgrade scheduled, a free upgrade) returns to the plans
// page; a refusal re-renders it (422) saying why.
func (s *Server) PlanChange(c echo.Context) error {
	cu := customerOf(c)
	if stop, err := s.purchaseGate(c, "portal.plans"); stop {
		return err
	}
	channel, mode := s.payChoice(c)
	o, _, err := s.pay.svc.ChangePlan(c.Request().Context(), cu.Account.ID, strings.TrimSpace(c.FormValue("plan")),
		strings.TrimSpace(c.FormValue("cycle")), channel, mode, s.phonePayer(c))
	switch {
	case err == nil && o.OrderNo == "":
		return HXRedirect(c, s.URL("portal.plans")+"?done=change#plan-change")
	case err == nil:
		return s.toCheckout(c, o)
	}
	return s.planChangeRefused(c, err)
}

// PlanWithdraw withdraws the change scheduled for the term's end.
func (s *Server) PlanWithdraw(c echo.Context) error {
	_, err := s.plans.subs.WithdrawChange(c.Request().Context(), customerOf(c).Account.ID, portalActor(c))
	return s.planChangeDone(c, err, "withdrawn")
}

// PlanCancel turns the plan's renewal off (in force to the term's end).
func (s *Server) PlanCancel(c echo.Context) error {
	_, err := s.plans.subs.Cancel(c.Request().Context(), customerOf(c).Account.ID, portalActor(c))
	return s.planChangeDone(c, err, "canceled")
}

// PlanResume turns a canceled plan's renewal back on.
func (s *Server) PlanResume(c echo.Context) error {
	_, err := s.plans.subs.Resume(c.Request().Context(), customerOf(c).Account.ID, portalActor(c))
	return s.planChangeDone(c, err, "resumed")
}

// portalActor is who acts on the portal, as events record it.
func portalActor(c echo.Context) string { return fmt.Sprintf("user:%d", customerOf(c).User.ID) }

// planChangeDone returns to the plans page saying what was done, or
// re-renders it with why not.
func (s *Server) planChangeDone(c echo.Context, err error, done string) error {
	if customerOf(c).Account.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	if err == nil {
		return HXRedirect(c, s.URL("portal.plans")+"?done="+done+"#plan-change")
	}
	return s.planChangeRefused(c, err)
}

// planChangeRefused re-renders the plans page (422) with a refused
// change's message from the error table; errors it does not map (or maps
// to a server failure) go to the error page.
func (s *Server) planChangeRefused(c echo.Context, err error) error {
	ctx := c.Request().Context()
	key := ""
	switch m := s.LookupError(err); {
	case errors.Is(err, payments.ErrChannelUnavailable), errors.Is(err, payments.ErrChannel):
		key = "plans.buy.error_channel"
	case errors.Is(err, plans.ErrNotFound), errors.Is(err, plans.ErrInvalidTerm):
		key = "plans.buy.error_choice"
	case m.Target != nil && m.Status < http.StatusInternalServerError:
		key = m.Key
	default:
		return err
	}
	v, verr := s.plansView(c)
	if verr != nil {
		return verr
	}
	msg := i18n.T(ctx, key)
	if v.Change != nil {
		v.Change.Error, v.Change.Done = msg, ""
	} else {
		v.Buy.Error = msg
	}
	return Render(c, http.StatusUnprocessableEntity, pv.Plans(v), nil)
}

// planChangeView is the change section and the history of the customer's
// plan in force (cat: the catalogue's latest versions).
func (s *Server) planChangeView(c echo.Context, v *pv.PlansView, sub plans.Current, cat []plans.Plan, en bool) error {
	ctx := c.Request().Context()
	history, events, err := s.subscriptionHistory(ctx, sub.ID, en)
	if err != nil {
		return err
	}
	v.History = history
	if customerOf(c).Account.Kind == ledger.AccountSub {
		return nil
	}
	ch := &pv.PlanChange{Renews: sub.State == plans.Active, TermEnd: sub.TermEnd, Channels: v.Buy.Channels, Mode: v.Buy.Mode}
	v.Change = ch
	if done := c.QueryParam("done"); slices.Contains([]string{"change", "withdrawn", "canceled", "resumed"}, done) {
		ch.Done = i18n.T(ctx, "plans.change.done_"+done)
	}
	if sub.State == plans.PastDue {
		ch.Renews, ch.Error = false, i18n.T(ctx, s.LookupError(plans.ErrPastDue).Key)
		return nil
	}
	if sub.State == plans.Canceled {
		ch.CanResume = plans.Resumable(events)
		if !ch.CanResume {
			v.Change = nil // a comp: nothing to change
			return nil
		}
	}
	if sub.NextPlanCode != "" {
		p, err := s.plans.catalogue.Version(ctx, sub.NextPlanCode, sub.NextPlanVersion)
		if err != nil {
			return err
		}
		ch.Scheduled = &pv.ScheduledChange{Plan: planName(p, en), Cycle: string(sub.NextCycle), From: sub.Period.End}
	}
	if sub.State != plans.Active {
		return nil
	}
	if ch.NextPaid = sub.NextPaid; ch.NextPaid {
		return nil
	}
	from, err := s.plans.catalogue.Version(ctx, sub.PlanCode, sub.PlanVersion)
	if err != nil {
		return err
	}
	for _, p := range cat {
		for _, cy := range []plans.Cycle{plans.Monthly, plans.Yearly} {
			if cy == plans.Yearly && p.YearlyPriceFen == 0 {
				continue // a free plan has no year
			}
			if _, err := plans.Classify(from, sub.Cycle, p, cy); err != nil {
				continue
			}
			fen := p.MonthlyPriceFen
			if cy == plans.Yearly {
				fen = p.YearlyPriceFen
			}
			ch.Options = append(ch.Options, pv.ChangeOption{Value: p.Code + ":" + string(cy),
				Label: planName(p, en) + " · " + i18n.T(ctx, "plans.buy."+string(cy)) + " " + format.Money(decimal.New(fen, -2))})
		}
	}
	ch.Selected = c.QueryParam("change")
	code, cycle, ok := strings.Cut(ch.Selected, ":")
	if !ok {
		return nil
	}
	pc, err := s.plans.subs.PreviewChange(ctx, customerOf(c).Account.ID, code, plans.Cycle(cycle))
	if err != nil {
		m := s.LookupError(err)
		switch {
		case errors.Is(err, plans.ErrNotFound), errors.Is(err, plans.ErrInvalidTerm):
			ch.Error = i18n.T(ctx, "plans.buy.error_choice")
		case m.Target != nil && m.Status < http.StatusInternalServerError:
			ch.Error = i18n.T(ctx, m.Key)
		default:
			return err
		}
		return nil
	}
	ch.Preview = &pv.ChangePreview{Plan: planName(pc.To, en), Code: pc.To.Code, Cycle: string(pc.ToCycle),
		Upgrade: pc.Kind == plans.ChangeUpgrade, Price: decimal.New(pc.PriceFen, -2), Credits: pc.Credits,
		Until: pc.GrantPeriod.End, Starts: pc.EffectiveAt, Next: decimal.New(pc.NextPriceFen, -2),
		Payable: pc.Kind == plans.ChangeUpgrade && pc.PriceFen > 0}
	return nil
}

// subscriptionHistory is a subscription's events, newest first, in the
// reader's language, with the events themselves (oldest first).
func (s *Server) subscriptionHistory(ctx context.Context, subscriptionID int64, en bool) ([]components.HistoryRow, []plans.Event, error) {
	events, err := s.plans.subs.Events(ctx, subscriptionID)
	if err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	name := func(code string, version int) (string, error) {
		k := fmt.Sprintf("%s:%d", code, version)
		if n, ok := names[k]; ok {
			return n, nil
		}
		p, err := s.plans.catalogue.Version(ctx, code, version)
		if err != nil {
			return "", err
		}
		names[k] = planName(p, en)
		return names[k], nil
	}
	rows := make([]components.HistoryRow, 0, len(events))
	for _, e := range slices.Backward(events) {
		plan, err := name(e.PlanCode, e.PlanVersion)
		if err != nil {
			return nil, nil, err
		}
		args := map[string]string{"Plan": plan, "TermEnd": format.Time(e.TermEnd)}
		if o, ok := e.Other(); ok {
			other, err := name(o.Code, o.Version)
			if err != nil {
				return nil, nil, err
			}
			args["Other"], args["Cycle"] = other, i18n.T(ctx, "plans.buy."+string(o.Cycle))
		}
		rows = append(rows, components.HistoryRow{At: e.At, Kind: string(e.Kind), Label: i18n.T(ctx, "plans.event."+string(e.Kind)),
			Detail: i18n.Tf(ctx, "plans.event_detail."+string(e.Kind), args)})
	}
	return rows, events, nil
}
