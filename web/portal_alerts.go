package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	pv "github.com/seed75218f88/credits/views/portal"
)

// Alerts shows the account's low-balance alert settings.
func (s *Server) Alerts(c echo.Context) error {
	v, err := s.alertsView(c)
	if err != nil {
		return err
	}
	v.Saved = c.QueryParam("saved") == "1"
	return Render(c, http.StatusOK, pv.Alerts(v), nil)
}

// SaveAlerts stores the settings; every field in error is shown at once,
// with what was typed kept.
func (s *Server) SaveAlerts(c echo.Context) error {
	cu := customerOf(c)
	if cu.Account.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	form := pv.AlertsForm{Percents: c.FormValue("percents"), Credits: c.FormValue("credits"),
		Recipients: c.FormValue("recipients"), MailOwner: c.FormValue("mail_owner") == "yes"}
	set, err := gateway.ParseAlertSettings(format.NormalizeDigits(form.Percents), format.NormalizeDigits(form.Credits), form.Recipients, form.MailOwner)
	if fe, ok := fielderr.As(err); ok {
		v, verr := s.alertsView(c)
		if verr != nil {
			return verr
		}
		form.Errors = fieldMessages(c, fe)
		v.Form = form
		return Render(c, http.StatusUnprocessableEntity, pv.Alerts(v), nil)
	}
	if err != nil {
		return err
	}
	if err := s.Gateway.SetAlertSettings(c.Request().Context(), cu.Account.ID, cu.User.ID, set); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.URL("portal.alerts")+"?saved=1")
}

// alertsView is the page with the stored settings in the form.
func (s *Server) alertsView(c echo.Context) (pv.AlertsView, error) {
	cu := customerOf(c)
	v := pv.AlertsView{Frame: s.frame(c, "portal.alerts"), Sub: cu.Account.Kind == ledger.AccountSub, Owner: cu.User.Login()}
	if v.Sub {
		return v, nil
	}
	set, err := s.Gateway.AlertSettings(c.Request().Context(), cu.Account.ID)
	if err != nil {
		return v, err
	}
	percents := make([]string, len(set.Percents))
	for i, p := range set.Percents {
		percents[i] = strconv.Itoa(p)
	}
	v.Form = pv.AlertsForm{Percents: strings.Join(percents, ", "), Recipients: strings.Join(set.Recipients, ", "), MailOwner: set.MailOwner}
	if set.Credits != nil {
		v.Form.Credits = set.Credits.String()
	}
	return v, nil
}
