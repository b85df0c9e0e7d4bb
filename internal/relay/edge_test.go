package relay_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Requests OpenAI itself refuses (no messages, n below 1, an empty or null
// embeddings input) are refused here with OpenAI's 400 and
// x-should-retry: false, not forwarded to an upstream; nothing is held.
func TestEmptyOrNonsenseRequestsAreRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.upstream(t, "edge", "deepseek-chat=sim-chat", 0)
	acct, secret := b.customer(t, "1000")
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"deepseek-chat","messages":[]}`},
		{"/v1/chat/completions", `{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"n":0}`},
		{"/v1/chat/completions", `{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"n":-5}`},
		{"/v1/embeddings", `{"model":"deepseek-chat","input":null}`},
		{"/v1/embeddings", `{"model":"deepseek-chat","input":""}`},
		{"/v1/embeddings", `{"model":"deepseek-chat","input":[]}`},
	} {
		resp := b.post(t, secret, tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.body)
		require.Equal(t, "false", resp.Header.Get("x-should-retry"), tc.body)
		require.Equal(t, "invalid_request", errorCode(t, resp), tc.body)
	}
	avail, reserved := b.balance(t, acct.ID)
	require.Equal(t, "1000", avail.String(), "nothing charged")
	require.True(t, reserved.IsZero(), "nothing held")
	resp := b.post(t, secret, "/v1/embeddings", `{"model":"deepseek-chat","input":"hello"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
