package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An agent's chain of calls in one session_id is summed across reservations,
// usage events and free models, per model and in all.
func TestAPISessionSumsAnAgentsCalls(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ent := b.account(c, uniq(t, "ent"), map[string]any{"kind": "enterprise", "verification": verified})
	b.grant(c, ent, "1000", "g")
	sub := b.account(c, uniq(t, "sub"), map[string]any{"kind": "sub", "parent": ent, "verification": verified})
	before := dec(t, b.balance(c, ent)["available"])
	now := time.Now().Add(time.Second).UTC()

	// A streamed call: deepseek-chat, 2 per 1k input, 8 per 1k output, 0.5 per 1k cache hits.
	r := c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": sub, "model": "deepseek-chat",
		"max_input_tokens": 2000, "max_output_tokens": 2000, "idempotency_key": "r1", "session_id": "agent-1"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	r = c.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/commit",
		map[string]any{"input_tokens": 1000, "output_tokens": 500, "cache_hit_tokens": 200})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "6.1", dec(t, r.JSON(t)["charged"]).String()) // 2 + 4 + 0.1

	// A non-streamed call and a free model's call, by usage event.
	ev := func(key, account, model string, in, out int) map[string]any {
		return map[string]any{"idempotency_key": key, "account": account, "model": model, "input_tokens": in,
			"output_tokens": out, "occurred_at": now.Format(time.RFC3339Nano), "session_id": "agent-1"}
	}
	batch := []map[string]any{ev("u1", sub, "deepseek-chat", 500, 0), ev("u2", ent, "glm-4-flash", 300, 50)}
	r = c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": batch})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.EqualValues(t, 2, r.JSON(t)["accepted"], string(r.Body))
	r = c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": batch[1:]})
	require.EqualValues(t, 1, r.JSON(t)["duplicates"], "a free call is recorded once: %s", r.Body)

	// A streamed free call: nothing held, the tokens still recorded.
	r = c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": sub, "model": "glm-4-flash",
		"max_input_tokens": 4000, "max_output_tokens": 4000, "idempotency_key": "r2", "session_id": "agent-1"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	require.True(t, dec(t, r.JSON(t)["reserved"]).IsZero())
	free := r.JSON(t)["id"].(string)
	commit := map[string]any{"input_tokens": 40, "output_tokens": 60}
	for range 2 {
		r = c.do(http.MethodPost, "/v1/reservations/"+free+"/commit", commit)
		require.Equal(t, http.StatusOK, r.Status, "a retried commit is the same answer: %s", r.Body)
		require.True(t, dec(t, r.JSON(t)["charged"]).IsZero())
	}
	r = c.do(http.MethodPost, "/v1/reservations/"+free+"/commit", map[string]any{"input_tokens": 41})
	require.Equal(t, http.StatusConflict, r.Status)
	require.Equal(t, "idempotency_conflict", r.Code(t))
	r = c.do(http.MethodPost, "/v1/reservations/"+free+"/release", nil)
	require.Equal(t, http.StatusConflict, r.Status)
	require.Equal(t, "reservation_closed", r.Code(t))

	spent := before.Sub(dec(t, b.balance(c, ent)["available"]))
	require.Equal(t, "7.1", spent.String()) // 6.1 + 1 (500 input tokens)

	// A call in another session is not part of it.
	r = c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{
		{"idempotency_key": "other", "account": sub, "model": "deepseek-chat", "input_tokens": 1000,
			"occurred_at": now.Format(time.RFC3339Nano), "session_id": "agent-2"}}})
	require.EqualValues(t, 1, r.JSON(t)["accepted"])

	t.Run("SubAccountSeesItsOwnCalls", func(t *testing.T) {
		r := c.do(http.MethodGet, "/v1/accounts/"+sub+"/sessions/agent-1", nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		s := r.JSON(t)
		require.EqualValues(t, 3, s["calls"], "%v", s)
		require.EqualValues(t, 1540, s["input_tokens"])
		require.EqualValues(t, 560, s["output_tokens"])
		require.EqualValues(t, 200, s["cache_hit_tokens"])
		require.Equal(t, spent.String(), dec(t, s["charged"]).String())
		models := s["models"].([]any)
		require.Len(t, models, 2)
		ds, glm := models[0].(map[string]any), models[1].(map[string]any)
		require.Equal(t, "deepseek-chat", ds["model"])
		require.EqualValues(t, 2, ds["calls"])
		require.Equal(t, "7.1", dec(t, ds["charged"]).String())
		require.Equal(t, "glm-4-flash", glm["model"])
		require.EqualValues(t, 1, glm["calls"])
		require.True(t, dec(t, glm["charged"]).IsZero())
		first, err := time.Parse(time.RFC3339, s["first_at"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, now, first, time.Minute)
	})
	t.Run("EnterpriseSeesItsWholePool", func(t *testing.T) {
		s := c.do(http.MethodGet, "/v1/accounts/"+ent+"/sessions/agent-1", nil).JSON(t)
		require.EqualValues(t, 4, s["calls"], "%v", s)
		require.EqualValues(t, 1840, s["input_tokens"])
		require.Equal(t, "7.1", dec(t, s["charged"]).String())
	})
	t.Run("UnknownSessionOrOtherModeIsNotFound", func(t *testing.T) {
		r := c.do(http.MethodGet, "/v1/accounts/"+sub+"/sessions/agent-9", nil)
		require.Equal(t, http.StatusNotFound, r.Status)
		require.Equal(t, "not_found", r.Code(t))
		r = b.sandbox.do(http.MethodGet, "/v1/accounts/"+sub+"/sessions/agent-1", nil)
		require.Equal(t, http.StatusNotFound, r.Status, "a sandbox key never sees a live account's sessions")
	})
}

// A platform registers, lists and deletes its accounts' webhook endpoints;
// the secret is shown once and is the one deliveries are signed with.
func TestAPIWebhookEndpoints(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := b.account(c, uniq(t, "a"), nil)
	other := b.account(c, uniq(t, "b"), nil)
	path := "/v1/accounts/" + ext + "/webhooks"

	r := c.do(http.MethodPost, path, map[string]any{"url": "https://hooks.example.com/credits"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	hook := r.JSON(t)
	id := int64(hook["id"].(float64))
	var stored string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT secret FROM webhook_endpoints WHERE id = $1`, id).Scan(&stored))
	require.Equal(t, stored, hook["secret"], "the secret shown is the signing key")

	r = c.do(http.MethodGet, path, nil)
	require.Equal(t, http.StatusOK, r.Status)
	list := r.JSON(t)["webhooks"].([]any)
	require.Len(t, list, 1)
	require.Equal(t, "https://hooks.example.com/credits", list[0].(map[string]any)["url"])
	require.NotContains(t, string(r.Body), stored, "never shown again")

	t.Run("InvalidURL", func(t *testing.T) {
		r := c.do(http.MethodPost, path, map[string]any{"url": "ftp://hooks.example.com"})
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.Equal(t, "invalid_request", r.Code(t))
	})
	t.Run("OtherAccountsAndModesDoNotReachIt", func(t *testing.T) {
		r := c.do(http.MethodDelete, fmt.Sprintf("/v1/accounts/%s/webhooks/%d", other, id), nil)
		require.Equal(t, http.StatusNotFound, r.Status)
		r = b.sandbox.do(http.MethodGet, path, nil)
		require.Equal(t, http.StatusNotFound, r.Status)
		r = b.sandbox.do(http.MethodDelete, fmt.Sprintf("%s/%d", path, id), nil)
		require.Equal(t, http.StatusNotFound, r.Status)
	})

	for range 2 {
		r = c.do(http.MethodDelete, fmt.Sprintf("%s/%d", path, id), nil)
		require.Equal(t, http.StatusNoContent, r.Status, "deleting twice is fine: %s", r.Body)
	}
	require.Empty(t, c.do(http.MethodGet, path, nil).JSON(t)["webhooks"])
	var active bool
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT active FROM webhook_endpoints WHERE id = $1`, id).Scan(&active))
	require.False(t, active, "a deleted endpoint gets no more events")
}
