package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/products"
	adminview "github.com/seed75218f88/credits/views/admin"
	pv "github.com/seed75218f88/credits/views/portal"
)

// Products shows the one-time products and the customer's entitlements.
func (s *Server) Products(c echo.Context) error {
	v, err := s.productsView(c)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, pv.Products(v), nil)
}

// ProductBuy makes an order for a product and sends the customer to the
// checkout pages of top-ups (QR, phone hand-off or bank transfer), like
// PlanBuy: an unverified account goes to the verification page first; a
// purchase refused re-renders the page (422) saying why.
func (s *Server) ProductBuy(c echo.Context) error {
	ctx := c.Request().Context()
	if stop, err := s.purchaseGate(c, "portal.products"); stop {
		return err
	}
	channel, mode := s.payChoice(c)
	o, _, err := s.pay.svc.CreateProductOrder(ctx, customerOf(c).Account.ID, strings.TrimSpace(c.FormValue("product")),
		channel, mode, s.phonePayer(c))
	if err == nil {
		return s.toCheckout(c, o)
	}
	key := ""
	switch {
	case errors.Is(err, payments.ErrChannelUnavailable), errors.Is(err, payments.ErrChannel):
		key = "plans.buy.error_channel"
	case errors.Is(err, products.ErrNotFound), errors.Is(err, payments.ErrInvalidArgument):
		key = "products.error_choice"
	default:
		return err
	}
	v, verr := s.productsView(c)
	if verr != nil {
		return verr
	}
	v.Buy.Error = i18n.T(ctx, key)
	return Render(c, http.StatusUnprocessableEntity, pv.Products(v), nil)
}

// productsView is the products page of the signed-in customer.
func (s *Server) productsView(c echo.Context) (pv.ProductsView, error) {
	ctx := c.Request().Context()
	cat, err := s.products.Catalogue(ctx)
	if err != nil {
		return pv.ProductsView{}, err
	}
	lang := i18n.Lang(ctx)
	v := pv.ProductsView{Frame: s.frame(c, "portal.products"), Buy: s.planBuy(c)}
	names := map[string]string{}
	for _, p := range cat {
		names[p.Code] = p.Name(lang)
		v.Products = append(v.Products, pv.ProductCard{Code: p.Code, Name: p.Name(lang), Description: p.Description(lang),
			Kind: string(p.Kind), Price: decimal.New(p.PriceFen, -2), Credits: p.Credits, CreditDays: p.CreditDays,
			JobCount: p.JobCount, Days: p.EntitlementDays, RefundDays: p.RefundDays})
	}
	es, err := s.products.Entitlements(ctx, customerOf(c).Account.ID)
	if err != nil {
		return v, err
	}
	for _, e := range es {
		row := pv.EntitlementRow{Product: names[e.ProductCode], Kind: string(e.Kind), OrderNo: e.OrderNo, Since: e.Since,
			Until: e.Until, State: s.entitlementState(e)}
		if row.Product == "" {
			row.Product = e.ProductCode
		}
		if e.JobCount != nil {
			row.Jobs = *e.JobCount
		}
		v.Entitlements = append(v.Entitlements, row)
	}
	return v, nil
}

// entitlementState is active, revoked or ended, for the label.
func (s *Server) entitlementState(e products.Entitlement) string {
	switch {
	case e.RevokedAt != nil:
		return "revoked"
	case s.products.ActiveNow(e):
		return "active"
	default:
		return "ended"
	}
}

// productLabel names what a product order buys ("" for other orders).
func (s *Server) productLabel(c echo.Context, o payments.Order) (string, error) {
	if o.Purpose != payments.PurposeProduct {
		return "", nil
	}
	p, err := s.products.Version(c.Request().Context(), o.ProductCode, o.ProductVersion)
	if err != nil {
		return "", err
	}
	return p.Name(i18n.Lang(c.Request().Context())), nil
}

// customerEntitlements are the account's entitlements for the back
// office's customer page, in the reader's language.
func (s *Server) customerEntitlements(c echo.Context, accountID int64) ([]adminview.CustomerEntitlementRow, error) {
	ctx := c.Request().Context()
	es, err := s.products.Entitlements(ctx, accountID)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	lang := i18n.Lang(ctx)
	out := make([]adminview.CustomerEntitlementRow, len(es))
	for i, e := range es {
		name := e.ProductCode
		if p, err := s.products.Version(ctx, e.ProductCode, e.ProductVersion); err == nil {
			name = p.Name(lang)
		}
		out[i] = adminview.CustomerEntitlementRow{Product: name, Kind: string(e.Kind), OrderNo: e.OrderNo, Since: e.Since,
			Until: e.Until, State: s.entitlementState(e)}
	}
	return out, nil
}
