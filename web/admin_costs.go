package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/pricing"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminCostRoutes: the cost cards and the margin report (finance and
// admins).
func (s *Server) adminCostRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/costs", "admin.costs", s.AdminCostCards, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/costs", "admin.costs.publish", s.AdminPublishCostCard, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/margins", "admin.margins", s.AdminMargins, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/margins.csv", "admin.margins.csv", s.AdminMarginsCSV, auth.RoleFinance, auth.RoleAdmin)
}

// AdminCostCards shows the cost card in force, its versions and the form
// that publishes the next one (filled with the lines in force).
func (s *Server) AdminCostCards(c echo.Context) error {
	v, err := s.costCardsView(c)
	if err != nil {
		return err
	}
	if v.Current != nil {
		v.Form.Lines = joinLines(v.Current.Lines)
	}
	if c.QueryParam("done") == "published" {
		v.Flash = tr(c, "costs.published")
	}
	return Render(c, http.StatusOK, adminview.CostCards(v), nil)
}

// AdminPublishCostCard publishes the form as the next cost card version
// (audited by internal/backoffice); a refused form comes back with every
// field's message.
func (s *Server) AdminPublishCostCard(c echo.Context) error {
	form := adminview.CostCardForm{EffectiveAt: c.FormValue("effective_at"), Lines: c.FormValue("lines"), Note: c.FormValue("note")}
	_, err := s.admin.bo.PublishCostCard(c.Request().Context(), backoffice.CostCardRequest{EffectiveAt: form.EffectiveAt,
		Lines: form.Lines, Note: form.Note}, actor(c))
	if err == nil {
		return HXRedirect(c, s.URL("admin.costs")+"?done=published")
	}
	errs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	v, verr := s.costCardsView(c)
	if verr != nil {
		return verr
	}
	v.Form, v.Errors = form, errs
	return Render(c, status, adminview.CostCards(v), adminview.CostCardFormPart(v))
}

func (s *Server) costCardsView(c echo.Context) (adminview.CostCardsView, error) {
	v := adminview.CostCardsView{Frame: adminFrame(c, "admin.costs")}
	all, cur, err := s.admin.bo.CostCards(c.Request().Context())
	if err != nil {
		return v, err
	}
	for _, card := range slices.Backward(all) {
		row := adminview.CostCardRow{Version: card.Version, EffectiveAt: card.EffectiveAt, Actor: card.Actor, Note: card.Note,
			InForce: cur != nil && cur.Version == card.Version}
		for _, m := range card.Models {
			line := pricing.FormatLines([]pricing.ModelPrice{m})
			row.Lines = append(row.Lines, line[:len(line)-1])
		}
		v.Versions = append(v.Versions, row)
		if row.InForce {
			v.Current = &row
		}
	}
	return v, nil
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// marginQuery reads from and to (inclusive Asia/Shanghai dates, the current
// month by default) and the view.
func marginQuery(c echo.Context) (adminview.MarginForm, adminview.Errors, time.Time, time.Time) {
	rf, from, to, _, errs := reportQuery(c)
	_, view := costs.MarginReport{}.View(c.QueryParam("view"))
	return adminview.MarginForm{From: rf.From, To: rf.To, View: view}, errs, from, to
}

// AdminMargins shows revenue, upstream cost and margin of the charges in
// the chosen days by day, model or customer, and the negative-margin
// alerts.
func (s *Server) AdminMargins(c echo.Context) error {
	ctx := c.Request().Context()
	f, errs, from, to := marginQuery(c)
	v := adminview.MarginsView{Frame: adminFrame(c, "admin.margins"), Form: f, Errors: errs, ViewURLs: map[string]string{}}
	alerts, err := s.admin.bo.MarginAlerts(ctx, 50)
	if err != nil {
		return err
	}
	for _, a := range alerts {
		v.Alerts = append(v.Alerts, adminview.MarginAlertRow{Day: a.Day, Model: a.Model, Revenue: format.Money(costs.Fen(a.Revenue)),
			Cost: format.Money(costs.Fen(a.Cost)), Margin: format.Money(costs.Fen(a.Margin()))})
	}
	if len(errs) > 0 {
		return Render(c, http.StatusUnprocessableEntity, adminview.Margins(v), nil)
	}
	r, err := s.admin.bo.Margins(ctx, from, to, actor(c))
	if err != nil {
		return err
	}
	v.Report = true
	v.Lines, _ = r.View(f.View)
	v.Total = r.Total
	for _, view := range costs.Views {
		q := url.Values{"from": {f.From}, "to": {f.To}, "view": {view}}
		v.ViewURLs[view] = s.URL("admin.margins") + "?" + q.Encode()
	}
	v.CSVURL = s.URL("admin.margins.csv") + "?" + url.Values{"from": {f.From}, "to": {f.To}, "view": {f.View}}.Encode()
	return Render(c, http.StatusOK, adminview.Margins(v), nil)
}

// AdminMarginsCSV downloads one view of the margin report as CSV.
func (s *Server) AdminMarginsCSV(c echo.Context) error {
	f, errs, from, to := marginQuery(c)
	if len(errs) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	r, err := s.admin.bo.Margins(c.Request().Context(), from, to, actor(c))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := costs.MarginCSV(&buf, r, f.View); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="margins-%s-%s-%s.csv"`, f.View, f.From, f.To))
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}
