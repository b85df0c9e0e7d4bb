package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzTargets are the JSON endpoints that take a body; the fuzzer picks
// one by index. The account and reservation exist, so bodies reach past
// routing into the handlers.
var fuzzTargets = []struct{ method, path string }{
	{http.MethodPut, "/v1/accounts/fuzz-acct"},
	{http.MethodPost, "/v1/accounts/fuzz-acct/grants"},
	{http.MethodPost, "/v1/accounts/fuzz-acct/transfers"},
	{http.MethodPost, "/v1/accounts/fuzz-acct/portal-sessions"},
	{http.MethodPost, "/v1/accounts/fuzz-acct/webhooks"},
	{http.MethodPost, "/v1/reservations"},
	{http.MethodPost, "/v1/reservations/{id}/commit"},
	{http.MethodPost, "/v1/reservations/{id}/release"},
	{http.MethodPost, "/v1/usage/events"},
}

// FuzzAPIBodies: no body, however malformed or out of range, makes a JSON
// endpoint answer 500 (go test runs the seeds; go test -fuzz=FuzzAPIBodies
// ./web explores further).
func FuzzAPIBodies(f *testing.F) {
	b := setupAPI(f, apiOpts{})
	c := b.live
	b.account(c, "fuzz-acct", map[string]any{"verification": verified})
	b.grant(c, "fuzz-acct", "1000", "g")
	r := b.reserve(c, "fuzz-acct", "fuzz-r", 10, 10)
	require.Equal(f, http.StatusCreated, r.Status, string(r.Body))
	id := r.JSON(f)["id"].(string)

	for i := range fuzzTargets {
		for _, body := range []string{
			``, `null`, `[]`, `{}`, `"x"`, `{"amount":"1e30"}`, `{"amount":1e400}`, `{"amount":"-0"}`,
			`{"account":"fuzz-acct","model":"deepseek-chat","max_input_tokens":9223372036854775807,"max_output_tokens":-1,"idempotency_key":"k"}`,
			`{"input_tokens":9223372036854775807,"output_tokens":9223372036854775807}`,
			`{"events":[{"idempotency_key":"e","account":"fuzz-acct","model":"deepseek-chat","input_tokens":1e19,"occurred_at":"2026-12-05T00:00:00Z"}]}`,
			`{"events":[` + "\x00" + `]}`, `{"kind":"sub","parent":"fuzz-acct","rpm":-5,"tpm":1e20}`,
			`{"to":"fuzz-acct","from":"fuzz-acct","amount":"999999999999999999.9999999"}`,
			`{"url":"http://100.100.100.200/","events":["*"]}`, `{"ttl_seconds":-1}`,
		} {
			f.Add(i, body)
		}
	}
	f.Fuzz(func(t *testing.T, target int, body string) {
		if target < 0 {
			target = -target
		}
		tg := fuzzTargets[target%len(fuzzTargets)]
		path := tg.path
		if path == "/v1/reservations/{id}/commit" || path == "/v1/reservations/{id}/release" {
			path = "/v1/reservations/" + id + path[len("/v1/reservations/{id}"):]
		}
		r := newAPIClient(t, c.base, c.key).doInvalid(tg.method, path, body)
		require.Less(t, r.Status, 500, "%s %s %q answered %d: %s", tg.method, path, body, r.Status, r.Body)
	})
}
