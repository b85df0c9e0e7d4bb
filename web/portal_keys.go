package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/relay"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalKeyRoutes: the API keys (API 密钥) of the OpenAI-compatible
// gateway. Revoking is confirmed on the page itself (?revoke=ID), so it
// works without JavaScript.
func (s *Server) portalKeyRoutes(g *echo.Group) {
	named(g.GET("/keys", s.APIKeys), "portal.keys")
	named(g.POST("/keys", s.CreateAPIKey), "portal.keys.create")
	named(g.POST("/keys/:id/revoke", s.RevokeAPIKey), "portal.key.revoke")
}

// APIKeys lists the customer's API keys (an enterprise's include its
// sub-accounts') with the create form; ?revoke=ID asks to confirm revoking
// that key, ?revoked=1 says one was.
func (s *Server) APIKeys(c echo.Context) error {
	v, err := s.apiKeysView(c, pv.KeyForm{})
	if err != nil {
		return err
	}
	if id, err := strconv.ParseInt(c.QueryParam("revoke"), 10, 64); err == nil {
		for _, k := range v.Keys {
			if k.ID == id && k.State != "revoked" {
				v.Confirm = &k
			}
		}
	}
	v.Revoked = c.QueryParam("revoked") == "1"
	return Render(c, http.StatusOK, pv.Keys(v), nil)
}

// CreateAPIKey creates a key (and, when asked, its monthly budget) through
// relay.Keys.Create and shows its secret this once: it is in this response
// only (never stored, logged, redirected to or kept in the session), which
// no cache may keep. Every field in error shows at once in the customer's
// language (422), with what was typed kept; htmx gets the keys area only.
func (s *Server) CreateAPIKey(c echo.Context) error {
	cu := customerOf(c)
	form := pv.KeyForm{Account: c.FormValue("account"), Name: c.FormValue("name"), Project: c.FormValue("project"),
		ExpiresOn: strings.TrimSpace(c.FormValue("expires_on")), BudgetAmount: c.FormValue("budget"),
		BudgetUnit: c.FormValue("budget_unit")}
	if f, err := c.FormParams(); err == nil {
		form.Models = f["models"]
	}
	in := relay.KeyForm{Name: form.Name, Project: form.Project, Models: strings.Join(form.Models, ","), ExpiresOn: form.ExpiresOn,
		AccountID: cu.Account.ID, BudgetUnit: form.BudgetUnit}
	if cu.Account.Kind == ledger.AccountEnterprise && form.Account != "" {
		id, err := strconv.ParseInt(form.Account, 10, 64)
		if err != nil {
			id = 0
		}
		in.AccountID = id
	}
	if !cu.sees(in.AccountID) {
		return echo.ErrNotFound
	}
	if cu.Account.Kind != ledger.AccountSub { // a department's user sets no budgets (as on the budgets page)
		in.BudgetAmount = format.NormalizeDigits(form.BudgetAmount)
	}
	if in.BudgetUnit == "" {
		in.BudgetUnit = string(ledger.BudgetCredits)
	}
	k, secret, err := s.relayKeys.Create(c.Request().Context(), cu.Account, relay.Customer{UserID: cu.User.ID,
		Email: cu.User.Login(), IP: ClientIP(c)}, in)
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		form.Errors = errs
		v, verr := s.apiKeysView(c, form)
		if verr != nil {
			return verr
		}
		return Render(c, status, pv.Keys(v), pv.KeysArea(v))
	}
	v, err := s.apiKeysView(c, pv.KeyForm{})
	if err != nil {
		return err
	}
	created := pv.CreatedKey{KeyRow: apiKeyRow(k, "", nil, time.Now()), Secret: secret}
	v.Created = &created
	c.Response().Header().Set("Cache-Control", "no-store")
	return Render(c, http.StatusOK, pv.Keys(v), pv.KeysArea(v))
}

// RevokeAPIKey revokes one of the customer's keys: this process refuses it
// at once, every gateway process within RELAY_KEY_CACHE_TTL (at most 2 s).
// Another customer's key is not found.
func (s *Server) RevokeAPIKey(c echo.Context) error {
	cu := customerOf(c)
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if cu.Access.Limited() { // only a key of its sub-accounts
		keys, err := s.relayKeys.List(c.Request().Context(), cu.Account)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(keys, func(k relay.Key) bool { return k.ID == id && cu.sees(k.AccountID) }) {
			return echo.ErrNotFound
		}
	}
	if _, err := s.relayKeys.Revoke(c.Request().Context(), cu.Account, relay.Customer{UserID: cu.User.ID,
		Email: cu.User.Login(), IP: ClientIP(c)}, id); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.keys")+"?revoked=1")
}

// apiKeysView is the page for the signed-in customer with form as typed
// (its defaults when empty).
func (s *Server) apiKeysView(c echo.Context, form pv.KeyForm) (pv.KeysView, error) {
	cu := customerOf(c)
	ctx := c.Request().Context()
	v := pv.KeysView{Frame: s.frame(c, "portal.keys"), Scopes: cu.Account.Kind == ledger.AccountEnterprise,
		CanBudget: cu.Account.Kind != ledger.AccountSub, Form: form, Gateway: s.Config.Relay.PublicURL}
	if v.Form.BudgetUnit == "" {
		v.Form.BudgetUnit = string(ledger.BudgetCredits)
	}
	names := map[int64]string{cu.Account.ID: accountLabel(cu.Account.Name, cu.Account.ID)}
	if v.Scopes {
		if cu.sees(cu.Account.ID) {
			v.Accounts = append(v.Accounts, pv.Option{Value: strconv.FormatInt(cu.Account.ID, 10), Label: names[cu.Account.ID]})
		}
		subs, err := s.portal.usage.SubAccounts(ctx, cu.Account.ID, monthStart())
		if err != nil {
			return v, err
		}
		for _, a := range subs {
			if !cu.sees(a.ID) {
				continue
			}
			names[a.ID] = accountLabel(a.Name, a.ID)
			v.Accounts = append(v.Accounts, pv.Option{Value: strconv.FormatInt(a.ID, 10), Label: names[a.ID]})
		}
		if v.Form.Account == "" && len(v.Accounts) > 0 {
			v.Form.Account = v.Accounts[0].Value
		}
	}
	models, err := s.relayKeys.Models(ctx)
	if err != nil && !errors.Is(err, pricing.ErrNoRateCard) { // no card: no models to choose
		return v, err
	}
	v.Models = models
	keys, err := s.relayKeys.List(ctx, cu.Account)
	if err != nil {
		return v, err
	}
	budgets, err := s.budgets.List(ctx, cu.Account)
	if err != nil {
		return v, err
	}
	now := time.Now()
	for _, k := range keys {
		if !cu.sees(k.AccountID) {
			continue
		}
		var kb *pv.KeyBudget
		for _, b := range budgets {
			if b.AccountID == k.AccountID && b.Project == k.Project && b.Key == k.Name {
				kb = &pv.KeyBudget{Cap: b.Cap, Used: b.Used, Period: string(b.Period)}
			}
		}
		name := names[k.AccountID]
		if name == "" {
			name = accountLabel(k.AccountName, k.AccountID)
		}
		v.Keys = append(v.Keys, apiKeyRow(k, name, kb, now))
	}
	return v, nil
}

// apiKeyRow is the list's row of k at now.
func apiKeyRow(k relay.Key, account string, b *pv.KeyBudget, now time.Time) pv.KeyRow {
	state := "active"
	switch {
	case k.RevokedAt != nil:
		state = "revoked"
	case k.Expired(now):
		state = "expired"
	}
	var through string
	if k.ExpiresAt != nil {
		through = format.Date(k.ExpiresAt.Add(-time.Second)) // expires_at is the next day's start
	}
	return pv.KeyRow{ID: k.ID, Account: account, Prefix: k.Prefix, Name: k.Name, Project: k.Project, Models: k.Models,
		ExpiresOn: through, LastUsedAt: k.LastUsedAt, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, State: state, Budget: b}
}
