package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/plans"
)

// TestAPISubscription: GET /v1/accounts/{id}/subscription answers null
// without a plan, then the plan with its period, renewal, quota windows
// (used moves as a call holds quota) and billing preference; a sub-account
// sees its enterprise's plan; an unknown account is 404; the sandbox key
// does not see live accounts.
func TestAPISubscription(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{ownDB: true})
	ext := b.account(b.live, uniq(t, "e"), map[string]any{"kind": "enterprise", "name": "Acme"})
	b.grant(b.live, ext, "100", uniq(t, "g"))

	r := b.live.do(http.MethodGet, "/v1/accounts/"+ext+"/subscription", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Nil(t, r.JSON(t)["subscription"], "no plan is an answer: null")
	require.Equal(t, "plan_first", r.JSON(t)["billing_preference"])

	p, pool := b.quotaPlan(ext, 2, plans.PlanFirst)
	res := b.reserve(b.live, ext, uniq(t, "r1"), 100, 100)
	require.Equal(t, http.StatusCreated, res.Status, string(res.Body))

	r = b.live.do(http.MethodGet, "/v1/accounts/"+ext+"/subscription", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	body := r.JSON(t)
	require.Equal(t, "plan_first", body["billing_preference"])
	sub := body["subscription"].(map[string]any)
	require.Equal(t, p.Code, sub["plan"])
	require.EqualValues(t, p.Version, sub["plan_version"])
	require.Equal(t, p.NameZH, sub["plan_name_zh"])
	require.Equal(t, p.NameEN, sub["plan_name_en"])
	require.Equal(t, "monthly", sub["cycle"])
	require.Equal(t, "canceled", sub["state"], "a comp ends with its term")
	require.Nil(t, sub["renews_at"], "a comp does not renew")
	require.Nil(t, sub["next_plan"])
	start, err := time.Parse(time.RFC3339, sub["current_period_start"].(string))
	require.NoError(t, err)
	end, err := time.Parse(time.RFC3339, sub["current_period_end"].(string))
	require.NoError(t, err)
	require.True(t, end.After(start))
	require.Equal(t, sub["term_end"], sub["current_period_end"], "a one-month comp: its term is its period")

	qs := sub["quotas"].([]any)
	require.Len(t, qs, 2)
	req := qs[0].(map[string]any)
	require.Equal(t, "deepseek-chat", req["item"])
	require.Equal(t, "requests", req["unit"])
	require.Equal(t, "rolling", req["window"])
	require.EqualValues(t, 5, req["hours"])
	require.EqualValues(t, 1, req["used"], "the held call counts")
	require.EqualValues(t, 2, req["limit"])
	require.NotNil(t, req["reset_at"], "a rolling window with a use frees up")
	day := qs[1].(map[string]any)
	require.Equal(t, "day", day["window"])
	require.EqualValues(t, 2000, day["limit"])
	require.NotNil(t, day["reset_at"], "a calendar day resets at Shanghai midnight")

	t.Run("BillingPreference", func(t *testing.T) {
		require.NoError(t, b.app.Services.Quotas.SetPreference(context.Background(), pool, plans.WalletOnly, "test"))
		r := b.live.do(http.MethodGet, "/v1/accounts/"+ext+"/subscription", nil)
		require.Equal(t, "wallet_only", r.JSON(t)["billing_preference"])
	})
	t.Run("SubAccountSeesItsEnterprisesPlan", func(t *testing.T) {
		sub := b.account(b.live, uniq(t, "s"), map[string]any{"kind": "sub", "parent": ext})
		r := b.live.do(http.MethodGet, "/v1/accounts/"+sub+"/subscription", nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		got := r.JSON(t)["subscription"].(map[string]any)
		require.Equal(t, p.Code, got["plan"])
		require.Equal(t, sub, got["account"])
	})
	t.Run("UnknownAccountIsNotFound", func(t *testing.T) {
		r := b.live.do(http.MethodGet, "/v1/accounts/nobody-"+uniq(t, "x")+"/subscription", nil)
		require.Equal(t, http.StatusNotFound, r.Status)
		require.Equal(t, "not_found", r.Code(t))
		r = b.sandbox.do(http.MethodGet, "/v1/accounts/"+ext+"/subscription", nil)
		require.Equal(t, http.StatusNotFound, r.Status, "a test key does not see live accounts")
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		r := b.anon.do(http.MethodGet, "/v1/accounts/"+ext+"/subscription", nil)
		require.Equal(t, http.StatusUnauthorized, r.Status)
	})
}
