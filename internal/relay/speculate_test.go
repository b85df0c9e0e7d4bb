package relay_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/relay/upstreamsim"
)

// The speculative start: an account's first call reserves and then goes
// upstream; once a reserve has succeeded, its next calls go upstream while
// the hold is reserved and are billed exactly the same. A call whose hold is
// refused meanwhile is stopped upstream, answers the refusal, charges
// nothing, and the account's next call waits for its hold again.
func TestSpeculativeStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sim := upstreamsim.New(upstreamsim.Options{APIKey: "sim-secret"})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	b.upstream(t, "speculate", "moonshot-v1-8k=sim-chat", 0, simSrv.URL+"/v1")
	acct, secret := b.customer(t, "1")
	call := func(text, extra string, status int) {
		t.Helper()
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("moonshot-v1-8k", text, true, extra))
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, status, resp.StatusCode, "%s", body)
	}
	before := b.relay.Speculated()
	call("one sim:tokens=3", `,"max_tokens":5`, http.StatusOK)
	require.Equal(t, before, b.relay.Speculated(), "a first call waits for its hold")
	first := b.waitSettled(t, acct.ID)

	call("two three sim:tokens=4", `,"max_tokens":5`, http.StatusOK)
	require.Equal(t, before+1, b.relay.Speculated(), "the next call goes upstream while reserving")
	second := b.waitSettled(t, acct.ID)
	require.True(t, first.Sub(second).Equal(b.cost(t, "moonshot-v1-8k", promptTokens("two three sim:tokens=4"), 0, 4)),
		"billed exactly: %s", first.Sub(second))

	calls := sim.Calls()
	call("four sim:tokens=3", `,"max_tokens":100000000`, http.StatusTooManyRequests)
	require.Equal(t, before+2, b.relay.Speculated(), "it was sent upstream while reserving")
	// The refusal can stop it before the simulator has counted it, so it
	// arrives at most once; let one stopped on its way land before counting.
	require.LessOrEqual(t, sim.Calls(), calls+1)
	require.True(t, second.Equal(b.waitSettled(t, acct.ID)), "nothing charged, nothing held")
	time.Sleep(50 * time.Millisecond)
	calls = sim.Calls()

	call("five sim:tokens=3", `,"max_tokens":100000000`, http.StatusTooManyRequests)
	require.Equal(t, before+2, b.relay.Speculated(), "after a refusal the account's calls wait for their hold")
	require.Equal(t, calls, sim.Calls(), "and a refused one never reaches the upstream")
}
