package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// rawAPI sends body as is with the key and answers status and body; it
// validates nothing, so it can see a 500 the document does not list.
func rawAPI(t *testing.T, c *apiClient, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// Text PostgreSQL cannot store (a NUL character, escaped as \u0000 in
// JSON or %00 in a path) is the client's mistake: a 400 that says not to
// retry, never a 500 that invites one. A literal backslash before u0000
// is ordinary text and still works.
func TestAPIRefusesNULInText(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := b.account(c, uniq(t, "acct"), map[string]any{"verification": verified})
	b.grant(c, ext, "1000", "g")

	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/accounts/" + ext + "/grants", `{"amount":"5","kind":"promo","reason_code":"signup","idempotency_key":"x\u0000y"}`},
		{http.MethodPost, "/v1/accounts/" + ext + "/grants", `{"amount":"5","kind":"promo","reason_code":"sign\u0000up","idempotency_key":"nul-reason"}`},
		{http.MethodPut, "/v1/accounts/" + uniq(t, "named"), `{"name":"\u0000bad"}`},
		{http.MethodPost, "/v1/reservations", `{"account":"` + ext + `","model":"deepseek-chat","max_input_tokens":1,"max_output_tokens":1,"idempotency_key":"r","session_id":"s\u0000"}`},
		{http.MethodPost, "/v1/usage/events", `{"events":[{"idempotency_key":"e\u0000","account":"` + ext + `","model":"deepseek-chat","input_tokens":5,"occurred_at":"2026-12-08T00:00:00Z"}]}`},
		{http.MethodPut, "/v1/accounts/nul%00id", `{}`},
		{http.MethodPut, "/v1/accounts/%20", `{}`},
	} {
		status, body := rawAPI(t, c, tc.method, tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, status, "%s %s %s: %s", tc.method, tc.path, tc.body, body)
		require.Contains(t, body, `"code":"invalid_request"`, body)
	}
	for _, path := range []string{"/v1/accounts/nul%00id/balance", "/v1/accounts/" + ext + "/sessions/s%00"} {
		status, body := rawAPI(t, c, http.MethodGet, path, "")
		require.Less(t, status, 500, "%s: %s", path, body)
		require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, status, "%s: %s", path, body)
	}

	status, body := rawAPI(t, c, http.MethodPost, "/v1/accounts/"+ext+"/grants",
		`{"amount":"5","kind":"promo","reason_code":"signup","idempotency_key":"back\\u0000slash"}`)
	require.Equal(t, http.StatusCreated, status, body)
	require.Equal(t, "1005", b.balance(c, ext)["available"], "only the grant with ordinary text landed")
}

// An amount with more places than a credit has (6) is refused, as a
// transfer's already was, rather than rounded to another amount the caller
// did not ask for.
func TestAPIRefusesAmountsBeyondSixPlaces(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ent := b.account(c, uniq(t, "ent"), map[string]any{"kind": "enterprise", "verification": verified})
	sub := b.account(c, uniq(t, "sub"), map[string]any{"kind": "sub", "parent": ent, "allocation": "10"})
	b.grant(c, ent, "1000", "g")

	for _, amount := range []string{"1.0000005", "0.0000001", "2.1234567"} {
		r := c.doInvalid(http.MethodPost, "/v1/accounts/"+ent+"/grants", map[string]any{
			"amount": amount, "kind": "promo", "reason_code": "signup", "idempotency_key": "places-" + amount})
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", amount, r.Body)
		require.Equal(t, "invalid_request", r.Code(t), amount)

		r = c.doInvalid(http.MethodPost, "/v1/accounts/"+sub+"/transfers", map[string]any{
			"to": ent, "amount": amount, "idempotency_key": "places-" + amount})
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", amount, r.Body)
		require.Equal(t, "invalid_request", r.Code(t), amount)

		r = c.doInvalid(http.MethodPut, "/v1/accounts/"+sub, map[string]any{"kind": "sub", "parent": ent, "allocation": amount})
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", amount, r.Body)
		require.Equal(t, "invalid_request", r.Code(t), amount)
	}
	require.Equal(t, "1000", b.balance(c, ent)["available"], "nothing granted")
	r := c.do(http.MethodPost, "/v1/accounts/"+ent+"/grants", map[string]any{
		"amount": "1.000001", "kind": "promo", "reason_code": "signup", "idempotency_key": "six"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	require.Equal(t, "1001.000001", b.balance(c, ent)["available"])
}
