package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/pricing"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminPriceRoutes: a customer's own rate card (admins; beyond the
// discount limit it waits for a second admin in /admin/approvals).
func (s *Server) adminPriceRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodPost, "/customers/:id/prices", "admin.customer.prices", s.AdminSetPrices, auth.RoleAdmin)
}

// customerPrices adds the prices panel (the card in force, the account's
// versions, the form) to v.
func (s *Server) customerPrices(c echo.Context, acc ledger.Account, v *adminview.CustomerView) error {
	ap, err := s.admin.bo.AccountPrices(c.Request().Context(), acc.ID)
	if errors.Is(err, pricing.ErrNoRateCard) {
		return nil // no card published yet: nothing to price by
	}
	if err != nil {
		return err
	}
	p := &adminview.CustomerPrices{Inherited: ap.Inherited, Public: ap.Public, Published: ap.Published,
		Limit: s.admin.bo.RateCardDiscountLimit(), CanEdit: auth.HasAnyRole(staffFrom(c), auth.RoleAdmin),
		Form: adminview.PriceForm{Kind: string(pricing.KindDiscount), Pinned: strconv.Itoa(ap.Public)}}
	if ap.Current != nil {
		row := priceCardRow(*ap.Current)
		p.Current = &row
		if !ap.Inherited {
			p.Form = priceForm(*ap.Current)
		}
	}
	for _, card := range slices.Backward(ap.Versions) {
		p.Versions = append(p.Versions, priceCardRow(card))
	}
	v.Prices = p
	return nil
}

func priceCardRow(c pricing.AccountCard) adminview.PriceCardRow {
	r := adminview.PriceCardRow{ID: c.ID, Version: c.Version, Kind: string(c.Kind), Pinned: c.PinnedVersion,
		Discount: c.DiscountPct, EffectiveAt: c.EffectiveAt, Actor: c.Actor, Note: c.Note, ApprovalID: c.ApprovalID}
	for _, m := range c.Models {
		line := pricing.FormatLines([]pricing.ModelPrice{m})
		r.Lines = append(r.Lines, adminview.PriceLine{Model: m.Model, Text: line[:len(line)-1]})
	}
	return r
}

// priceForm is the form filled with the card in force.
func priceForm(c pricing.AccountCard) adminview.PriceForm {
	f := adminview.PriceForm{Kind: string(c.Kind), Pinned: strconv.Itoa(c.PinnedVersion), Prices: pricing.FormatLines(c.Models)}
	if c.Kind == pricing.KindDiscount {
		f.Discount = c.DiscountPct.String()
	}
	return f
}

// AdminSetPrices sets a customer's own rate card (a new version), or
// files it for approval when it is beyond the discount limit; audited by
// internal/backoffice. A refused form comes back with every field's
// message.
func (s *Server) AdminSetPrices(c echo.Context) error {
	v, err := s.customerView(c)
	if err != nil {
		return err
	}
	form := adminview.PriceForm{Kind: c.FormValue("kind"), Pinned: c.FormValue("pinned_version"),
		Discount: c.FormValue("discount"), Prices: c.FormValue("prices"), Reason: c.FormValue("reason")}
	res, err := s.admin.bo.SetRateCard(c.Request().Context(), backoffice.SetRateCardRequest{AccountID: v.AccountID,
		Kind: form.Kind, Pinned: form.Pinned, Discount: form.Discount, Prices: form.Prices, Reason: form.Reason}, actor(c))
	if err == nil {
		done := "prices"
		if res.Pending {
			done = "prices_pending"
		}
		return HXRedirect(c, s.URL("admin.customer", v.AccountID)+"?done="+done)
	}
	errs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	v.Prices.Form, v.Prices.Errors = form, errs
	return Render(c, status, adminview.Customer(v), adminview.CustomerPricesPart(v))
}
