package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/webhook"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminWebhookRoutes: platforms' webhook endpoints, their deliveries and
// health; replay one event, disable or re-enable an endpoint (support and
// admins, audited).
func (s *Server) adminWebhookRoutes(g *echo.Group) {
	roles := backoffice.WebhookRoles
	s.adminRoute(g, http.MethodGet, "/webhooks", "admin.webhooks", s.AdminWebhooks, roles...)
	s.adminRoute(g, http.MethodGet, "/webhooks/:id", "admin.webhook", s.AdminWebhook, roles...)
	s.adminRoute(g, http.MethodPost, "/webhooks/:id/disable", "admin.webhook.disable", s.AdminWebhookDisable, roles...)
	s.adminRoute(g, http.MethodPost, "/webhooks/:id/enable", "admin.webhook.enable", s.AdminWebhookEnable, roles...)
	s.adminRoute(g, http.MethodPost, "/webhooks/deliveries/:id/replay", "admin.webhook.replay", s.AdminWebhookReplay, roles...)
}

// AdminWebhooks lists the endpoints with their health, newest first; the
// form filters by account id.
func (s *Server) AdminWebhooks(c echo.Context) error {
	v := adminview.WebhooksView{Frame: adminFrame(c, "admin.webhooks"), Account: strings.TrimSpace(c.QueryParam("account")), Errors: adminview.Errors{}}
	var f webhook.EndpointFilter
	if v.Account != "" {
		id, err := strconv.ParseInt(v.Account, 10, 64)
		if err != nil || id <= 0 {
			v.Errors["account"] = tr(c, "error.admin.account_not_found")
			return Render(c, http.StatusUnprocessableEntity, adminview.Webhooks(v), nil)
		}
		f.AccountID = id
	}
	f.Before, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	f.Limit = 50
	eps, err := s.admin.bo.WebhookEndpoints(c.Request().Context(), actor(c), f)
	if err != nil {
		return err
	}
	for _, e := range eps {
		v.Endpoints = append(v.Endpoints, webhookRow(e))
	}
	q := url.Values{}
	if v.Account != "" {
		q.Set("account", v.Account)
	}
	if f.Before != 0 {
		v.FirstURL = s.URL("admin.webhooks") + "?" + q.Encode()
	}
	if len(eps) == f.Limit {
		q.Set("before", strconv.FormatInt(eps[len(eps)-1].ID, 10))
		v.NextURL = s.URL("admin.webhooks") + "?" + q.Encode()
	}
	return Render(c, http.StatusOK, adminview.Webhooks(v), nil)
}

// webhookRow is an endpoint with its health as the pages show it.
func webhookRow(e webhook.EndpointHealth) adminview.WebhookEndpointRow {
	r := adminview.WebhookEndpointRow{ID: e.ID, AccountID: e.AccountID, URL: e.URL, State: "active", CreatedAt: e.CreatedAt, StateAt: e.DisabledAt,
		Health: adminview.WebhookHealth{Attempts: e.Attempts, Delivered: e.Delivered, LastSuccess: e.LastSuccess, LastFailure: e.LastFailure,
			ConsecutiveFailures: e.ConsecutiveFailures, Queued: e.Queued}}
	if !e.Active {
		r.State = "disabled"
		if e.DisabledBy != nil && *e.DisabledBy == webhook.DisabledByAPI {
			r.State = "deleted"
		}
	}
	r.Health.SuccessPercent, r.Health.HasRate = e.SuccessPercent()
	return r
}

// AdminWebhook shows one endpoint: health, switch, and its events with
// every attempt (?before= pages back; ?done= says what was just done).
func (s *Server) AdminWebhook(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	h, events, next, err := s.admin.bo.WebhookEndpoint(c.Request().Context(), actor(c), id, before)
	if err != nil {
		return err
	}
	v := adminview.WebhookView{Frame: adminFrame(c, "admin.webhooks"), Endpoint: webhookRow(h)}
	switch c.QueryParam("done") {
	case "disabled", "enabled":
		v.Flash = tr(c, "admin.webhooks.done_"+c.QueryParam("done"))
	case "replayed":
		if n, err := strconv.Atoi(c.QueryParam("n")); err == nil && n > 0 {
			v.Flash = i18n.Tf(c.Request().Context(), "admin.webhooks.done_replayed", map[string]string{"N": strconv.Itoa(n)})
		}
	}
	for _, e := range events {
		ev := adminview.WebhookEvent{EventID: e.EventID, EventType: e.EventType, Replays: e.Replays, ReplayFrom: e.Attempts[0].ID}
		for _, a := range e.Attempts {
			ev.Attempts = append(ev.Attempts, webhookAttempt(a))
		}
		v.Events = append(v.Events, ev)
	}
	if before != 0 {
		v.FirstURL = s.URL("admin.webhook", id)
	}
	if next != 0 {
		v.NextURL = s.URL("admin.webhook", id) + "?before=" + strconv.FormatInt(next, 10)
	}
	return Render(c, http.StatusOK, adminview.Webhook(v), nil)
}

// webhookAttempt is one attempt as the endpoint page shows it: headers in
// name order, the body indented.
func webhookAttempt(a webhook.Attempt) adminview.WebhookAttempt {
	out := adminview.WebhookAttempt{ID: a.ID, Replay: a.Replay, Attempt: a.Attempt, At: a.CreatedAt, Delivered: a.DeliveredAt != nil,
		DurationMS: a.DurationMS, NextAt: a.NextAttemptAt, Response: a.ResponseBody}
	if a.StatusCode != nil {
		out.Status = *a.StatusCode
	}
	if a.Error != nil {
		out.Error = *a.Error
	}
	if a.RequestHeaders != nil {
		out.Headers = []adminview.WebhookHeader{}
		for name, value := range a.RequestHeaders {
			out.Headers = append(out.Headers, adminview.WebhookHeader{Name: name, Value: value})
		}
		slices.SortFunc(out.Headers, func(x, y adminview.WebhookHeader) int { return strings.Compare(x.Name, y.Name) })
	}
	var buf bytes.Buffer
	if json.Indent(&buf, a.Payload, "", "  ") == nil {
		out.Body = buf.String()
	} else {
		out.Body = string(a.Payload)
	}
	return out
}

// AdminWebhookDisable disables an endpoint: it gets nothing until re-enabled.
func (s *Server) AdminWebhookDisable(c echo.Context) error { return s.setWebhookActive(c, false) }

// AdminWebhookEnable re-enables an endpoint staff disabled.
func (s *Server) AdminWebhookEnable(c echo.Context) error { return s.setWebhookActive(c, true) }

func (s *Server) setWebhookActive(c echo.Context, active bool) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if _, err := s.admin.bo.SetWebhookEndpointActive(c.Request().Context(), actor(c), id, active); err != nil {
		return err
	}
	done := "disabled"
	if active {
		done = "enabled"
	}
	return HXRedirect(c, s.URL("admin.webhook", id)+"?done="+done)
}

// AdminWebhookReplay sends one delivery's event again to its endpoint.
func (s *Server) AdminWebhookReplay(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	r, err := s.admin.bo.ReplayWebhook(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.webhook", r.EndpointID)+"?done=replayed&n="+strconv.Itoa(r.Number))
}
