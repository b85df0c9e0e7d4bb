package relay_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// openAINodeDir is the Node project whose tests drive the gateway with the
// official openai npm client; `make test` installs its node_modules from the
// committed lockfile (make openai-node).
const openAINodeDir = "testdata/openai-node"

// requireNodeProject fails (never skips) when Node or the project's
// node_modules are missing, saying how to install them.
func requireNodeProject(t *testing.T, dir string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the real-client tests: apt-get install -y nodejs npm (Node 20 or later), then make node-deps")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("%s/node_modules is missing: run make node-deps (npm ci from the committed lockfile)", dir)
	}
	return node
}

// The official openai npm client against the gateway: a streamed chat
// completion is billed exactly the usage the upstream reported (and the
// client saw), a stream aborted with an AbortController is billed what the
// upstream produced, no credit raises the SDK's RateLimitError with code
// insufficient_quota (not retried), and 64 concurrent streams on a balance
// for a few never take it below zero.
func TestOpenAINode(t *testing.T) {
	t.Parallel()
	node := requireNodeProject(t, openAINodeDir)
	b := setup(t)
	b.upstream(t, "openai-node", "qwen-turbo=sim-chat\nernie-4.0-8k=sim-chat", 0)
	ctx := context.Background()

	type streamCase struct {
		Key        string `json:"key"`
		Model      string `json:"model"`
		Text       string `json:"text"`
		Tokens     int64  `json:"tokens"`
		Cached     int64  `json:"cached"`
		AbortAfter int    `json:"abortAfter,omitempty"`
		Streams    int    `json:"streams,omitempty"`
	}
	streamAcct, streamKey := b.customer(t, "1000")
	abortAcct, abortKey := b.customer(t, "1000")
	quotaAcct, quotaKey := b.customer(t, "0")
	// Enough for five and a half streams of the concurrent case.
	concText := "race sim:tokens=50 sim:delay=2ms"
	oneConc := b.cost(t, "ernie-4.0-8k", promptTokens(concText), 0, 50)
	concBalance := oneConc.Mul(decimal.RequireFromString("5.5")).RoundDown(6)
	concAcct, concKey := b.customer(t, concBalance.String())
	cases := map[string]any{
		"baseURL":    b.url,
		"stream":     streamCase{Key: streamKey, Model: "qwen-turbo", Text: "hello there sim:tokens=20 sim:cached=4", Tokens: 20, Cached: 4},
		"abort":      streamCase{Key: abortKey, Model: "qwen-turbo", Text: "go on sim:tokens=100 sim:delay=10ms", Tokens: 100, AbortAfter: 5},
		"quota":      streamCase{Key: quotaKey, Model: "qwen-turbo", Text: "no credit"},
		"concurrent": streamCase{Key: concKey, Model: "ernie-4.0-8k", Text: concText, Tokens: 50, Streams: 64},
	}
	before := map[int64]decimal.Decimal{}
	for _, id := range []int64{streamAcct.ID, abortAcct.ID, quotaAcct.ID} {
		before[id], _ = b.balance(t, id)
	}
	finished := b.sim.Finished()

	raw, err := json.Marshal(cases)
	require.NoError(t, err)
	out := t.TempDir()
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, node, "--test", "--test-reporter=spec", "gateway.test.mjs")
	cmd.Dir = openAINodeDir
	cmd.Env = append(os.Environ(), "CREDITS_CASES="+string(raw), "CREDITS_OUT="+out, "NO_COLOR=1")
	output, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", output)
	require.NoError(t, err, "the openai client's tests")

	read := func(name string, v any) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(out, name+".json"))
		require.NoError(t, err, "the node test %s wrote its result", name)
		require.NoError(t, json.Unmarshal(data, v))
	}

	t.Run("StreamBilledExactlyTheUpstreamsUsage", func(t *testing.T) {
		var usage struct {
			PromptTokens        int64 `json:"prompt_tokens"`
			CompletionTokens    int64 `json:"completion_tokens"`
			PromptTokensDetails struct {
				CachedTokens int64 `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		}
		read("stream", &usage)
		require.Equal(t, promptTokens("hello there sim:tokens=20 sim:cached=4"), usage.PromptTokens, "the upstream's own count")
		after := b.waitCommitted(t, streamAcct.ID, 1)
		want := b.cost(t, "qwen-turbo", usage.PromptTokens, usage.PromptTokensDetails.CachedTokens, usage.CompletionTokens)
		require.True(t, want.IsPositive())
		require.True(t, before[streamAcct.ID].Sub(after).Equal(want), "charged %s, the usage the client saw costs %s", before[streamAcct.ID].Sub(after), want)
	})

	t.Run("AbortedStreamBilledWhatWasProduced", func(t *testing.T) {
		var res struct{ Seen int }
		read("abort", &res)
		require.Less(t, res.Seen, 100, "the client left before the end")
		after := b.waitCommitted(t, abortAcct.ID, 1)
		require.Greater(t, b.sim.Finished(), finished, "the gateway read the upstream to its end")
		want := b.cost(t, "qwen-turbo", promptTokens("go on sim:tokens=100 sim:delay=10ms"), 0, 100)
		require.True(t, before[abortAcct.ID].Sub(after).Equal(want),
			"charged %s: the 100 tokens the upstream produced (%s), though the client read %d", before[abortAcct.ID].Sub(after), want, res.Seen)
	})

	t.Run("InsufficientCreditChargesNothing", func(t *testing.T) {
		var res struct{ Calls int }
		read("quota", &res)
		require.Equal(t, 1, res.Calls)
		avail, reserved := b.balance(t, quotaAcct.ID)
		require.True(t, avail.Equal(before[quotaAcct.ID]) && reserved.IsZero(), "no charge, no hold: %s / %s", avail, reserved)
	})

	t.Run("ConcurrentStreamsNeverOverspend", func(t *testing.T) {
		var res struct{ Served, Refused int64 }
		read("concurrent", &res)
		require.EqualValues(t, 64, res.Served+res.Refused)
		after := b.waitCommitted(t, concAcct.ID, res.Served)
		require.False(t, after.IsNegative())
		spent := concBalance.Sub(after)
		require.True(t, spent.Equal(oneConc.Mul(decimal.NewFromInt(res.Served))),
			"each of the %d streams served is charged its usage exactly: spent %s of %s", res.Served, spent, concBalance)
		var lowest decimal.Decimal
		var unpaid decimal.Decimal
		require.NoError(t, b.pool.QueryRow(ctx,
			`SELECT coalesce(min(balance_after), 0), coalesce(sum(unpaid), 0) FROM ledger_events WHERE account_id = $1`, concAcct.ID).Scan(&lowest, &unpaid))
		require.False(t, lowest.IsNegative(), "no event took the balance below zero (lowest %s)", lowest)
		require.True(t, unpaid.IsZero(), "nothing went unpaid")
		t.Logf("served %d, refused %d, left %s", res.Served, res.Refused, after)
	})
}

// waitCommitted waits until n of the account's calls are committed and none
// is held, and returns what the account has left. (It does not trust one
// Balance read alone: its lots and its holds are read in two statements, so
// a commit between them shows the hold gone and its credit not yet back.)
func (b *testBundle) waitCommitted(t *testing.T, id int64, n int64) decimal.Decimal {
	t.Helper()
	require.Eventually(t, func() bool {
		var open, committed int64
		err := b.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'open'), count(*) FILTER (WHERE status = 'committed')
			FROM ledger_reservations WHERE account_id = $1`, id).Scan(&open, &committed)
		require.NoError(t, err)
		return open == 0 && committed >= n
	}, 15*time.Second, 10*time.Millisecond, "%d calls committed", n)
	return b.waitSettled(t, id)
}
